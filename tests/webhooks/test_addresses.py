"""Where webhooks may go: https in production, never link-local/metadata, loopback only in DEBUG."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from webhooks.addresses import RefusedAddress, check_destination, validate_url

PRODUCTION_REFUSED = [
    "http://siem.example/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[fd00:ec2::254]/latest",
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://localhost/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "ftp://siem.example/",
    "https:///nohost",
    "https://siem.example:99999/",
]


@pytest.mark.parametrize("url", PRODUCTION_REFUSED)
def test_it_refuses_in_production(url, settings):
    settings.DEMO = False
    with pytest.raises(ValidationError) as info:
        validate_url(url)
    assert "url" in info.value.message_dict


@pytest.mark.parametrize(
    "url", ["https://siem.example/hook", "https://10.1.2.3:8088/services/collector"]
)
def test_it_allows_public_and_private_https(url, settings):
    settings.DEMO = False
    assert validate_url(f"  {url} ") == url


def test_it_allows_loopback_and_http_only_in_debug(settings):
    settings.DEMO = True
    assert validate_url("http://127.0.0.1:9000/hook") == "http://127.0.0.1:9000/hook"
    with pytest.raises(ValidationError):
        validate_url("http://169.254.169.254/")


def test_it_checks_the_resolved_address_before_sending(settings):
    settings.DEMO = False
    with pytest.raises(RefusedAddress, match="loopback"):
        check_destination("https://localhost/hook")  # a name that resolves to loopback
    with pytest.raises(RefusedAddress, match="link-local"):
        check_destination("https://169.254.169.254/")
    settings.DEMO = True
    check_destination("http://127.0.0.1:9/hook")
