"""Sealed session ids: the ``Mcp-Session-Id`` a client holds carries its own route (issue #22).

A replica issues its session id; the client gets, instead, that id sealed with AES-256-GCM together with the
replica it lives on (its URL: a replica restarted elsewhere is another one) and an expiry, bound to the caller
and the route. Any gateway replica opens it with the shared keys and routes the request with no store read:

    token     = base64url(version ‖ len(key id) ‖ key id ‖ nonce ‖ ciphertext+tag)
    plaintext = expiry (8 bytes, Unix seconds) ‖ SHA-256 of the replica's URL (16 bytes) ‖ the replica's session id
    aad       = version ‖ len(key id) ‖ key id ‖ user id ‖ NUL ‖ target scope

The user and the scope (``adapters/x``, ``servers/y``, ``router``) are authenticated data, not plaintext: an
id replayed by another user or on another route fails to open, exactly like a forged or tampered one, and all
of them are the same ``404 Session not found``. Keys have ids, so a keyring can hold the previous key while the
active one seals: ids sealed before a rotation route until that key is removed.

A ``DELETE`` that the replica accepted puts the id on :class:`DeniedSessions` until it would have expired. The
replica has ended the session too, and answers ``404`` for it (MCP requires that of servers), so the deny-list
only saves the trip; it is per gateway replica (docs/stores.md, "Sealed session ids").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
_FIXED = ">Q"
URL_DIGEST_BYTES = 16
NONCE_BYTES = 12
MAX_SEALED_ID_LENGTH = 1024
"""Longest ``Mcp-Session-Id`` a client may present in sealed mode (a sealed id of a 128-character replica
session id is about 245 characters, whatever the replica's URL)."""
MAX_DENIED = 100_000


@dataclass(frozen=True)
class Opened:
    """What a sealed id says, once it opened for this user and route."""

    upstream_id: str
    """The session id the replica issued (what the replica is sent)."""
    endpoint_digest: bytes
    """Of the replica (``Endpoint.url``) that holds the session: :func:`url_digest` (a fixed size, however long
    a ``url`` adapter's URL)."""
    expires: float


class SessionSealer:
    """Seals and opens session ids with a keyring: ``keys`` is ``[(key id, 32-byte key), ...]``, the first one
    sealing, every one opening."""

    def __init__(
        self,
        keys: Sequence[tuple[str, bytes]],
        lifetime_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._active_id, active = keys[0]
        self._active = AESGCM(active)
        self._keys = {kid: AESGCM(key) for kid, key in keys}
        self._lifetime = lifetime_seconds
        self._clock = clock

    def seal(self, user: str, scope: str, upstream_id: str, endpoint_url: str) -> tuple[str, float]:
        """The client's id for the replica's ``upstream_id``, and when it expires."""
        expires = self._clock() + self._lifetime
        header = _header(self._active_id)
        plaintext = struct.pack(_FIXED, int(expires)) + url_digest(endpoint_url) + upstream_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._active.encrypt(nonce, plaintext, header + _bound_to(user, scope))
        return _b64(header + nonce + sealed), float(int(expires))

    def open(self, user: str, scope: str, token: str) -> Opened | None:
        """What ``token`` says, or None: not one of ours, tampered with, sealed with a key no longer in the
        keyring, for another user or route, or expired. The reasons are not told apart (all are a 404)."""
        if len(token) > MAX_SEALED_ID_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if _b64(raw) != token:
            # One spelling per id: base64's spare bits would give the same bytes other spellings, and the
            # deny-list knows ids by their spelling.
            return None
        if len(raw) < 2 or raw[0] != VERSION:
            return None
        kid_length = raw[1]
        header, rest = raw[: 2 + kid_length], raw[2 + kid_length :]
        key = self._keys.get(header[2:].decode("latin-1"))
        if key is None or len(rest) <= NONCE_BYTES:
            return None
        try:
            plaintext = key.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], header + _bound_to(user, scope))
        except InvalidTag:
            return None
        return _opened(plaintext, self._clock())


def _opened(plaintext: bytes, now: float) -> Opened | None:
    (expires,) = struct.unpack_from(_FIXED, plaintext)
    if expires <= now:
        return None
    start = struct.calcsize(_FIXED)
    digest = plaintext[start : start + URL_DIGEST_BYTES]
    return Opened(plaintext[start + URL_DIGEST_BYTES :].decode(), digest, float(expires))


def url_digest(url: str) -> bytes:
    """What a sealed id says of its replica's URL."""
    return hashlib.sha256(url.encode()).digest()[:URL_DIGEST_BYTES]


def _header(key_id: str) -> bytes:
    kid = key_id.encode("latin-1")
    return bytes([VERSION, len(kid)]) + kid


def _bound_to(user: str, scope: str) -> bytes:
    return user.encode() + b"\0" + scope.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


LOCAL_KEY_ID = "local"


def sealer_for(keys: Sequence[tuple[str, bytes]] | None, lifetime_seconds: float) -> SessionSealer:
    """The sealer of ``MCPGW_SESSIONS__SEAL_KEYS``, or, when none are set, one with a key made now: fine for
    one gateway replica, whose ids do not outlive it (nor, locally, do its replicas' sessions)."""
    return SessionSealer(keys or [(LOCAL_KEY_ID, AESGCM.generate_key(bit_length=256))], lifetime_seconds)


class DeniedSessions:
    """Sealed ids whose session ended (a ``DELETE`` the replica accepted, or the replica gone), until they
    would have expired anyway; bounded, the oldest entry going first when full. Every id lives as long as the
    others (``MAX_LIFETIME_SECONDS``), so the oldest entries are also the first to expire: expired ones are
    dropped from the front, never by a scan of the whole list."""

    def __init__(self, clock: Callable[[], float] = time.time, limit: int = MAX_DENIED) -> None:
        self._until: OrderedDict[bytes, float] = OrderedDict()
        self._clock = clock
        self._limit = limit

    def deny(self, token: str, until: float) -> None:
        digest = _digest(token)
        self._until.pop(digest, None)
        self._until[digest] = until
        now = self._clock()
        while self._until and next(iter(self._until.values())) <= now:
            self._until.popitem(last=False)
        while len(self._until) > self._limit:
            self._until.popitem(last=False)

    def denied(self, token: str) -> bool:
        until = self._until.get(_digest(token))
        return until is not None and until > self._clock()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()[:16]
