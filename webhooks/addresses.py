"""Where webhooks may go: HTTPS in production, never link-local or metadata addresses.

Checked when an endpoint is saved (scheme, literal addresses, "localhost") and again
before every POST, on the addresses the host name resolves to then (a name can be
re-pointed after it was saved). Loopback is allowed only in the demo (DEBUG=1, the
DEMO setting) and tests.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services outside the link-local block (AWS's IPv6 one).
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254")}


class RefusedAddress(Exception):
    """The endpoint's host is (or resolves to) an address webhooks may not reach."""


def refusal(address: IPAddress) -> str | None:
    """Why `address` may not receive webhooks, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES or address.is_link_local:
        return f"{address} is a link-local or cloud metadata address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return f"{address} is not a unicast address"
    if address.is_loopback and not settings.DEMO:
        return f"{address} is a loopback address (allowed only in the demo, DEBUG=1)"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def validate_url(url: str) -> str:
    """The URL, stripped, or ValidationError({"url": [...]}) saying what is wrong."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValidationError({"url": ["Enter a valid URL."]}) from None
    allowed = ("https", "http") if settings.DEMO else ("https",)
    if parts.scheme not in allowed:
        raise ValidationError({"url": ["Use an https:// URL."]})
    if not host:
        raise ValidationError({"url": ["Enter a URL with a host name."]})
    address = _literal(host)
    if address is None and (host == "localhost" or host.endswith(".localhost")):
        address = ipaddress.ip_address("127.0.0.1")
    if address is not None:
        reason = refusal(address)
        if reason:
            raise ValidationError({"url": [f"Refused: {reason}."]})
    return url


def check_destination(url: str) -> None:
    """Raise RefusedAddress unless every address the URL's host resolves to is allowed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = _literal(host)
    if address is not None:
        addresses = {address}
    else:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise RefusedAddress(f"cannot resolve {host}: {exc}") from None
        addresses = {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}
    for address in addresses:
        reason = refusal(address)
        if reason:
            raise RefusedAddress(f"refused: {reason}")
