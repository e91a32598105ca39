"""Security headers Django lacks (Content-Security-Policy) and the error-report filter.

The CSP is strict: scripts, styles, fonts and fetches only from this origin, no
inline script, no plugins, no framing. The only inline code allowed is the literal
`<style>` blocks of the templates we ship (Django's changelist, a few admin pages,
the Swagger UI page), each by its sha256 hash, computed from the template sources
when the middleware loads, so editing such a block needs no change here. Anything
injected into a page, script or style, is refused by the browser.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from mailboxes import crypto

Policy = dict[str, tuple[str, ...]]

CSP: Policy = {
    "default-src": ("'none'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "manifest-src": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
    "base-uri": ("'none'",),
    "object-src": ("'none'",),
}

_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)


def literal_style_blocks(template_dirs: Iterable[Path]) -> set[str]:
    """The text of every `<style>` block without template syntax in these directories."""
    blocks = set()
    for directory in template_dirs:
        for path in Path(directory).rglob("*.html"):
            for match in _STYLE_BLOCK.finditer(path.read_text(errors="replace")):
                text = match.group(1)
                if "{{" not in text and "{%" not in text:
                    blocks.add(text)
    return blocks


def csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def template_dirs() -> list[Path]:
    dirs: dict[Path, None] = {}
    for engine in engines.all():
        for loader in getattr(getattr(engine, "engine", None), "template_loaders", []):
            dirs.update((Path(d), None) for d in loader.get_dirs())
    return list(dirs)


def build_policy(policy: Policy, *, inline_styles: Iterable[str] = ()) -> str:
    hashes = tuple(sorted(csp_hash(text) for text in inline_styles))
    policy = {**policy, "style-src": policy["style-src"] + hashes}
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


@cache
def site_policy() -> str:
    """The policy every response gets: CSP plus the hashes of our templates' styles."""
    return build_policy(CSP, inline_styles=literal_style_blocks(template_dirs()))


class ContentSecurityPolicyMiddleware:
    """Add the Content-Security-Policy header to every response that has none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = site_policy()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


# --- Error reports ------------------------------------------------------------------
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.I)


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, made to keep Clawback's secrets out of every error report.

    On top of the stock behaviour (settings named like KEY/SECRET/PASS/TOKEN):
    - always on, also with DEBUG (the demo's technical 500 page);
    - settings and request data named like CREDENTIAL, and passwords inside URLs
      (DATABASE_URL, REDIS_URL);
    - POST fields and frame variables named like a secret (the tenant form's
      ms_client_secret, a `credentials` dict), even without @sensitive_* decorators;
    - any value whose text contains a credential this process encrypted or decrypted.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CREDENTIAL|PRIVATE", flags=re.I
    )

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            text = str(cleansed)  # lazy strings (reverse_lazy, DRF's) are no str to `re`
            if crypto.contains_secret(text):
                return self.cleansed_substitute
            masked = _URL_PASSWORD.sub(rf"\g<head>{self.cleansed_substitute}@", text)
            if masked != text:
                return masked
        return cleansed

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        parameters = super().get_post_parameters(request)
        if request is None:
            return parameters
        return self._cleansed(parameters)

    def get_cleansed_multivaluedict(self, request: HttpRequest, multivaluedict: Any) -> Any:
        return self._cleansed(super().get_cleansed_multivaluedict(request, multivaluedict))

    def _cleansed(self, data: Any) -> Any:
        sensitive = [
            key
            for key in data
            if self.hidden_settings.search(key)
            or any(
                self._leaks(v)
                for v in (data.getlist(key) if hasattr(data, "getlist") else [data[key]])
            )
        ]
        if not sensitive:
            return data
        data = data.copy()
        for key in sensitive:
            data[key] = self.cleansed_substitute
        return data

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        return [
            (
                name,
                self.cleansed_substitute
                if self.hidden_settings.search(name) or self._leaks(value)
                else value,
            )
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    @staticmethod
    def _leaks(value: Any) -> bool:
        """Whether the text of `value` holds a credential known to this process."""
        if not crypto.knows_secrets() or isinstance(value, (int, float, bool)) or value is None:
            return False
        try:
            text = value if isinstance(value, str) else repr(value)
        except Exception:  # a repr that fails is no leak; the report shows its error
            return False
        return crypto.contains_secret(text)


class SecretsExceptionReporter(ExceptionReporter):
    """Django's error report, with known credentials blanked out of the finished text.

    The filter above cleanses settings, request data and variables; this catches what
    it cannot see, such as an exception message that quotes a credential.
    """

    def get_traceback_html(self) -> str:
        return crypto.redact(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return crypto.redact(super().get_traceback_text())
