"""Daily rollups of retraction attempts (filled by the nightly schedule)."""
