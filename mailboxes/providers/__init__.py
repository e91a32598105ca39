"""The provider layer: `provider_for(tenant)` gives the MailProvider for a tenant.

Clients are kept per process (keyed by tenant, credentials version and endpoint),
so msal's token cache, Google's credentials and the pooled HTTP sessions live
across tasks.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from mailboxes.crypto import CredentialsUnreadable
from mailboxes.models import Provider, Tenant
from mailboxes.providers.base import MailProvider, ProviderError
from mailboxes.vocabulary import FailureReason

_cache: dict[tuple[Any, ...], MailProvider] = {}
_lock = threading.Lock()


def provider_for(tenant: Tenant) -> MailProvider:
    """The client for this tenant's provider, built from its stored credentials.

    Raises ProviderError(NOT_AUTHORIZED) when the tenant has no usable credentials,
    and ProviderError(PROVIDER_ERROR) when an emulator endpoint is set on a
    production configuration.
    """
    key = (tenant.pk, tenant.provider, tenant.credentials_updated_at, tenant.provider_endpoint)
    with _lock:
        client = _cache.get(key)
    if client is not None:
        return client
    client = _build(tenant)
    with _lock:
        # Drop clients built from older credentials of the same tenant.
        for old in [k for k in _cache if k[0] == tenant.pk]:
            del _cache[old]
        _cache[key] = client
    return client


def clear_provider_cache() -> None:
    with _lock:
        _cache.clear()


def _build(tenant: Tenant) -> MailProvider:
    endpoint = tenant.provider_endpoint.rstrip("/")
    if endpoint and not settings.ALLOW_PROVIDER_EMULATOR:
        raise ProviderError(
            FailureReason.PROVIDER_ERROR,
            "this tenant points at a provider emulator, which production settings refuse",
        )
    try:
        credentials = tenant.get_credentials()
    except CredentialsUnreadable as exc:
        raise ProviderError(FailureReason.NOT_AUTHORIZED, str(exc)) from None
    if not credentials:
        raise ProviderError(FailureReason.NOT_AUTHORIZED, "no credentials are configured")
    timeout = settings.PROVIDER_HTTP_TIMEOUT
    if tenant.provider == Provider.MICROSOFT:
        from mailboxes.providers.graph import graph_provider_from_config

        config: dict[str, Any] = {
            "tenant_id": tenant.ms_directory_tenant_id,
            "client_id": tenant.ms_client_id,
            "timeout": (5.0, float(timeout)),
            **credentials,
        }
        if endpoint:
            config.update(endpoint=endpoint, ca_bundle=settings.PROVIDER_EMULATOR_CA)
        return graph_provider_from_config(config)
    if tenant.provider == Provider.GOOGLE:
        from mailboxes.providers.gmail import GmailProvider

        config = {
            "service_account_info": credentials["service_account_info"],
            "admin_subject": tenant.google_admin_subject,
            "timeout": float(timeout),
        }
        if endpoint:
            config.update(api_endpoint=f"{endpoint}/", token_uri=f"{endpoint}/token")
        return GmailProvider.from_config(config)
    raise ProviderError(FailureReason.UNSUPPORTED, f"unknown provider {tenant.provider!r}")
