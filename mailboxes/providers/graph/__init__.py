"""Microsoft 365 through Microsoft Graph: msal app-only tokens, pooled requests, JSON $batch.

Modules: `auth` (msal app cache, token errors), `transport` (session, retries,
$batch, per-mailbox limits, error mapping), `ops` (mail requests and answers),
`bulk` (perform_many), `client` (GraphProvider and its factory).
"""

from mailboxes.providers.graph.auth import GRAPH_SCOPE, clear_app_cache
from mailboxes.providers.graph.client import GraphProvider, graph_provider_from_config
from mailboxes.providers.graph.transport import clear_mailbox_cache


def clear_caches() -> None:
    """Forget msal app objects and per-mailbox state (tests want a fresh start)."""
    clear_app_cache()
    clear_mailbox_cache()


__all__ = [
    "GRAPH_SCOPE",
    "GraphProvider",
    "clear_app_cache",
    "clear_caches",
    "clear_mailbox_cache",
    "graph_provider_from_config",
]
