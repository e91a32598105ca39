"""What the admin tests share: the two-tenant world plus API keys, URLs and key material."""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.db import models
from django.test import override_settings
from django.urls import reverse

from mailboxes.models import ApiKey, AuditEvent, Membership
from mailboxes.services import api_key_issue
from retraction.models import RetractionAttempt, RetractionJob
from tests.base import TwoTenantsTestCase
from tests.webhooks.factories import add_webhook_rows
from webhooks.models import WebhookDelivery, WebhookEndpoint

# Strings that only alpha's rows and people produce: none may reach charlie (beta only).
ALPHA_MARKERS = (
    "Alpha Corp",
    "alpha-corp",
    "alpha.example",
    "A-secret-subject",
    "a-msg@evil.example",
    "a-sender@evil.example",
    "alice-laptop",
    r"\balice\b",
    r"\bbob\b",
    r"\bvera\b",
)


def alpha_markers_in(html: str) -> list[str]:
    return [marker for marker in ALPHA_MARKERS if re.search(marker, html)]


def admin_url(model: type[models.Model] | models.Model, view: str = "changelist", *args: Any):
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def change_url(obj: models.Model) -> str:
    return admin_url(obj, "change", obj.pk)


@lru_cache(maxsize=1)
def key_material() -> dict[str, str]:
    """An RSA private key, its self-signed certificate and that certificate's thumbprint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clawback-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "other_key": other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
    }


# The five people's passwords are hashed once per class; PBKDF2 would cost seconds each time.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class AdminTestCase(TwoTenantsTestCase):
    """TwoTenantsTestCase plus an API key per person, and shortcuts for admin requests."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.alice_key, _ = api_key_issue(user=cls.alice, name="alice-laptop", actor=cls.alice)
        cls.vera_key, _ = api_key_issue(user=cls.vera, name="vera-ci", actor=cls.vera)
        cls.charlie_key, _ = api_key_issue(user=cls.charlie, name="charlie-ci", actor=cls.charlie)
        for tenant, objects in ((cls.alpha, cls.alpha_objects), (cls.beta, cls.beta_objects)):
            job = RetractionJob.objects.create(
                tenant=tenant, action="trash", message_ids=[objects["message"].pk], discovered=1
            )
            RetractionAttempt.objects.filter(pk=objects["attempt"].pk).update(job=job)
            add_webhook_rows(objects, tenant)

    def rows_of(self, which: str) -> dict[type[models.Model], models.Model]:
        """One row of tenant `which` ("alpha" or "beta") per access-controlled admin model."""
        from mailboxes.models import Delivery, Mailbox, Message
        from retraction.models import RetractionAttempt, RetractionJob, RetractionPolicy

        tenant, objects = getattr(self, which), getattr(self, f"{which}_objects")
        admin_user = self.alice if which == "alpha" else self.charlie
        return {
            type(tenant): tenant,
            Membership: Membership.objects.get(user=admin_user, tenant=tenant),
            ApiKey: self.alice_key if which == "alpha" else self.charlie_key,
            Mailbox: objects["mailbox"],
            Message: objects["message"],
            Delivery: objects["delivery"],
            RetractionPolicy: objects["policy"],
            RetractionAttempt: objects["attempt"],
            RetractionJob: RetractionJob.objects.get(tenant=tenant),
            AuditEvent: AuditEvent.objects.filter(tenant=tenant).earliest("id"),
            WebhookEndpoint: objects["webhook"],
            WebhookDelivery: objects["webhook_delivery"],
        }

    def alpha_rows(self) -> dict[type[models.Model], models.Model]:
        """One alpha row per access-controlled admin model: the outsider must never reach it."""
        return self.rows_of("alpha")

    def get_as(self, user: Any, url: str, **params: Any):
        self.client.force_login(user)
        return self.client.get(url, params)

    def post_as(self, user: Any, url: str, data: dict[str, Any] | None = None, **kwargs: Any):
        self.client.force_login(user)
        return self.client.post(url, data or {}, **kwargs)
