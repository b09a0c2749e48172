"""A passwordless PKCS#12 (PFX) bundle of a key and its certificate, the same bytes on every run.

The Application Gateway reads its listener certificate from a Key Vault secret holding a base64,
passwordless PFX. ``cryptography`` writes such a file with an integrity MAC under a random salt, so the
bytes would differ on every ``pulumi up`` and the secret would get a new version each time, although
nothing changed. With no password that MAC protects nothing; we replace its random salt with one derived
from the content and recompute the MAC (RFC 7292, appendix B), so the bundle depends only on its inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import NoEncryption, load_pem_private_key, pkcs12

_MAC_ITERATIONS = 2048
_SALT_LENGTH = 8
_SHA256_OID = bytes.fromhex("0609608648016503040201")
# MacData ::= SEQUENCE { DigestInfo { AlgorithmIdentifier(sha256, NULL), OCTET STRING(32) },
#                        OCTET STRING(8) salt, INTEGER 2048 }: what cryptography writes with NoEncryption.
_MAC_HEAD = bytes.fromhex("30413031300d") + _SHA256_OID + bytes.fromhex("05000420")
_MAC_TAIL_LENGTH = 2 + _SALT_LENGTH + 4  # 04 08 <salt> 02 02 08 00


def pfx_base64(private_key_pem: str, certificate_pem: str) -> str:
    """Base64 of the passwordless PFX (the Key Vault secret's value, content type application/x-pkcs12)."""
    key = load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"a TLS server key is RSA or ECDSA, not {type(key).__name__}")
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    bundle = pkcs12.serialize_key_and_certificates(None, key, certificate, None, NoEncryption())
    return base64.b64encode(with_content_salt(bundle)).decode()


def with_content_salt(bundle: bytes) -> bytes:
    """``bundle`` with its MAC salt derived from the content and the MAC recomputed."""
    auth_safe, mac_start = _auth_safe_and_mac_start(bundle)
    mac_data = bundle[mac_start:]
    if not mac_data.startswith(_MAC_HEAD) or len(mac_data) != len(_MAC_HEAD) + 32 + _MAC_TAIL_LENGTH:
        raise ValueError("unexpected PKCS#12 MAC layout (not SHA-256 with an 8-byte salt)")
    salt = hashlib.sha256(auth_safe).digest()[:_SALT_LENGTH]
    key = _mac_key(salt)
    digest = hmac.new(key, auth_safe, hashlib.sha256).digest()
    tail = bytes([0x04, _SALT_LENGTH]) + salt + bytes.fromhex("02020800")
    return bundle[:mac_start] + _MAC_HEAD + digest + tail


def _mac_key(salt: bytes) -> bytes:
    """RFC 7292 B.2 key derivation (ID 3: MAC key) for the empty password, which PKCS#12 encodes as a
    BMPString terminator (two zero bytes). One SHA-256 block is the whole 32-byte key."""
    block = 64

    def fill(data: bytes) -> bytes:
        length = block * -(-len(data) // block)
        return (data * (length // len(data) + 1))[:length]

    digest = hashlib.sha256(bytes([3]) * block + fill(salt) + fill(b"\0\0")).digest()
    for _ in range(_MAC_ITERATIONS - 1):
        digest = hashlib.sha256(digest).digest()
    return digest


def _auth_safe_and_mac_start(bundle: bytes) -> tuple[bytes, int]:
    """PFX ::= SEQUENCE { version, ContentInfo { OID data, [0] { OCTET STRING authSafe } }, MacData }."""
    _, pfx_start = _header(bundle, 0, 0x30)
    version_length, version_start = _header(bundle, pfx_start, 0x02)
    info_length, info_start = _header(bundle, version_start + version_length, 0x30)
    oid_length, oid_start = _header(bundle, info_start, 0x06)
    _, explicit_start = _header(bundle, oid_start + oid_length, 0xA0)
    auth_length, auth_start = _header(bundle, explicit_start, 0x04)
    return bundle[auth_start : auth_start + auth_length], info_start + info_length


def _header(bundle: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(content length, content start) of the DER element at ``pos``, which must have ``tag``."""
    if bundle[pos] != tag:
        raise ValueError(f"unexpected DER tag {bundle[pos]:#x} at {pos}, wanted {tag:#x}")
    length = bundle[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(bundle[start : start + count], "big")
        start += count
    return length, start
