"""Sealed session ids: the ``Mcp-Session-Id`` a client holds carries its own route (issue #22).

A replica issues its session id; the client gets, instead, that id sealed with AES-256-GCM together with the
replica it lives on (its URL: a replica restarted elsewhere is another one) and an expiry, bound to the caller
and the route. Any gateway replica opens it with the shared keys and routes the request with no store read:

    token     = base64url(version ‖ len(key id) ‖ key id ‖ nonce ‖ ciphertext+tag)
    plaintext = expiry (8 bytes, Unix seconds) ‖ len(replica URL) (2 bytes) ‖ replica URL ‖ the replica's session id
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
_FIXED = ">QH"
NONCE_BYTES = 12
MAX_SEALED_ID_LENGTH = 1024
"""Longest ``Mcp-Session-Id`` a client may present in sealed mode (a sealed id of a 64-character replica session id
on a 30-character replica URL is about 180 characters)."""
MAX_DENIED = 100_000


@dataclass(frozen=True)
class Opened:
    """What a sealed id says, once it opened for this user and route."""

    upstream_id: str
    """The session id the replica issued (what the replica is sent)."""
    endpoint_url: str
    """The replica (``Endpoint.url``) that holds the session."""
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
        replica = endpoint_url.encode()
        plaintext = struct.pack(_FIXED, int(expires), len(replica)) + replica + upstream_id.encode()
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
    expires, replica_length = struct.unpack_from(_FIXED, plaintext)
    if expires <= now:
        return None
    start = struct.calcsize(_FIXED)
    replica = plaintext[start : start + replica_length].decode()
    return Opened(plaintext[start + replica_length :].decode(), replica, float(expires))


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
    would have expired anyway; bounded, the soonest to expire going first when full."""

    def __init__(self, clock: Callable[[], float] = time.time, limit: int = MAX_DENIED) -> None:
        self._until: OrderedDict[bytes, float] = OrderedDict()
        self._clock = clock
        self._limit = limit

    def deny(self, token: str, until: float) -> None:
        self._until[_digest(token)] = until
        if len(self._until) > self._limit:
            self._purge()
            while len(self._until) > self._limit:
                self._until.popitem(last=False)

    def denied(self, token: str) -> bool:
        until = self._until.get(_digest(token))
        return until is not None and until > self._clock()

    def _purge(self) -> None:
        now = self._clock()
        for digest in [d for d, until in self._until.items() if until <= now]:
            del self._until[digest]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()[:16]
