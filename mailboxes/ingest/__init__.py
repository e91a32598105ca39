"""Ingestion: API verdicts, raw MIME uploads and the SMTP journal/BCC receiver.

Every door calls the one service in `mailboxes.ingest.service`:

- `ingest_verdicts(actor=, payload=, tenants_queryset=None)` -> IngestReport (REST `messages/`)
- `ingest_raw(tenant=, raw=, envelope_recipients=None, actor=, source=)` -> IngestResult
  (REST `messages/raw/`, the admin .eml upload, `manage.py ingest_eml`)
- `ingest_smtp(raw=, rcpt_tos=)` -> SmtpOutcome (the `journal_smtpd` receiver)
- `ingest_messages(tenant=, items=, actor=, source=)` -> list[IngestResult] (the core)
"""
