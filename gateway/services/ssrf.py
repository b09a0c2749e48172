"""The create-time half of the SSRF guard for ``url`` adapters and tools: a clear 400 naming the field.

The rules live in :mod:`gateway.netpolicy` (link-local, cloud-metadata, multicast and unspecified targets
are always refused; loopback and private ones unless allowed). This check is for the person registering
the URL: it says at once that the target will be refused. It cannot be the guard itself, because a name
can resolve elsewhere later; ``gateway.netguard`` enforces the same rules on every connect.
"""

from __future__ import annotations

import logging

from gateway.errors import FieldProblem, InvalidRequest
from gateway.netguard import ConnectGuard
from gateway.netpolicy import AddressClass, UrlError, describe, is_metadata_hostname, parse_http_url, setting_hint

log = logging.getLogger(__name__)


class UrlGuard:
    """Checks a user-supplied URL against the connect guard's policy, resolving names as it will."""

    def __init__(self, guard: ConnectGuard) -> None:
        self._guard = guard

    async def check(self, url: str, field: str = "url") -> None:
        """Raise ``InvalidRequest`` naming ``field`` when ``url`` is malformed or targets a refused address."""
        try:
            target = parse_http_url(url)
        except UrlError as exc:
            raise _invalid(field, f"{field} {exc}") from None
        if is_metadata_hostname(target.host):
            raise _refused(field, f"{target.host} is", AddressClass.METADATA)
        if target.address is not None:
            addresses = [target.address]
        else:
            # A name that does not resolve from here (yet) passes: the connect-time guard checks it anyway.
            addresses = await self._guard.lookup(target.host)
        for address in addresses:
            refused = self._guard.policy.refusal(address)
            if refused is not None:
                log.info("refused url target %s: %s is %s", target.host, address, describe(refused))
                subject = f"{target.host} is" if target.address is not None else f"{target.host} resolves to"
                raise _refused(field, subject, refused)


def _refused(field: str, subject: str, refused: AddressClass) -> InvalidRequest:
    # A resolved address is logged, not shown: it would describe the internal network to the caller.
    return _invalid(
        field, f"{subject} {describe(refused)}, which the gateway refuses to reach ({setting_hint(refused)})."
    )


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, [FieldProblem(field, message)])
