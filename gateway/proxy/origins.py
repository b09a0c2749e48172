"""DNS-rebinding protection: a browser ``Origin`` must be loopback, the gateway's own, or allow-listed."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.errors import Forbidden
from gateway.loopback import LOOPBACK_HOSTS


class OriginPolicy:
    def __init__(self, allowed: list[str], public_url: str | None) -> None:
        self._any = "*" in allowed
        self._allowed = {o.rstrip("/").lower() for o in allowed if o != "*"}
        if public_url:
            parts = urlsplit(public_url)
            self._allowed.add(f"{parts.scheme}://{parts.netloc}".lower())

    def check(self, origin: str | None) -> None:
        """Requests without ``Origin`` (non-browser clients) pass; a foreign one gets 403."""
        if origin is None or self._any:
            return
        normalised = origin.rstrip("/").lower()
        if normalised in self._allowed or urlsplit(normalised).hostname in LOOPBACK_HOSTS:
            return
        raise Forbidden(f"Origin {origin} is not allowed (MCPGW_PROXY__ALLOWED_ORIGINS).")
