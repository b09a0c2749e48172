"""The listener certificate's PFX: loadable without a password, integrity-checked, the same bytes each run."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from infra.components.pfx import pfx_base64


@pytest.fixture(scope="module")
def pems() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcp.example.com")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return key_pem.decode(), cert.public_bytes(serialization.Encoding.PEM).decode()


def test_the_bundle_holds_the_key_and_the_certificate_without_a_password(pems: tuple[str, str]) -> None:
    key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(pfx_base64(*pems)), None)
    assert cert is not None and cert.serial_number == 7 and extra == []
    assert key is not None and key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_the_same_inputs_give_the_same_bytes_so_pulumi_up_converges(pems: tuple[str, str]) -> None:
    assert pfx_base64(*pems) == pfx_base64(*pems)


def test_the_recomputed_mac_is_checked_by_readers(pems: tuple[str, str]) -> None:
    bundle = bytearray(base64.b64decode(pfx_base64(*pems)))
    bundle[-20] ^= 0x01  # a bit of the MAC digest
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(bytes(bundle), None)
