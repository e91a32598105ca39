"""Throwaway credentials that the real clients can use against the emulator.

The emulator never verifies signatures, but msal and google-auth sign their
assertions before sending them, so they need real keys.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@functools.cache
def _rsa_key() -> rsa.RSAPrivateKey:
    # One key per process: generating RSA keys is the slow part.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem() -> str:
    return (
        _rsa_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def service_account_info(
    client_email: str, token_uri: str, project_id: str = "clawback-emulator"
) -> dict[str, Any]:
    """A service-account key file's content (`from_service_account_info` accepts it)."""
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "emulator",
        "private_key": _private_pem(),
        "client_email": client_email,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }


@functools.cache
def certificate_credential(common_name: str = "clawback-emulator") -> dict[str, str]:
    """A self-signed certificate for msal's certificate credential.

    Returns `private_key` and `public_certificate` (PEM), and the certificate's
    `thumbprint` (SHA-1 hex, as the Azure portal shows it) and `thumbprint_sha256`;
    register either thumbprint on the app in the seed.
    """
    key = _rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return {
        "private_key": _private_pem(),
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 (a thumbprint)
        "thumbprint_sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }
