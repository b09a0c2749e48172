"""TARGET of ``call``, ``tools-of`` and ``client-config``: which MCP endpoint of the gateway.

- ``NAME`` or ``adapters/NAME``: an adapter, ``/adapters/NAME/mcp``;
- ``servers/NAME``: a virtual server, ``/servers/NAME/mcp``;
- a path (``/mcp``, the tool router) or a full ``http(s)://`` URL, used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from gateway.cli.errors import CliError, ExitCode

ROUTER_PATH = "/mcp"
ROUTER_LABEL = "mcp-gateway"
"""The name ``client-config`` gives the tool router's entry."""


@dataclass(frozen=True)
class Target:
    url: str
    label: str
    """A name for the client's configuration: the adapter's or server's name, else ``mcp-gateway``."""
    resource: str | None = None
    """The REST path of the adapter or virtual server behind it (``/adapters/NAME``), if any."""


def resolve_target(target: str, gateway: str) -> Target:
    text = target.strip()
    if text.startswith(("http://", "https://")):
        return Target(text, ROUTER_LABEL)
    if text.startswith("/"):
        return Target(gateway + text, ROUTER_LABEL if text == ROUTER_PATH else text.strip("/").replace("/", "-"))
    kind, _, name = text.rpartition("/")
    if kind not in ("", "adapters", "servers") or not name:
        raise CliError(
            f"target {target!r}: expected NAME or adapters/NAME (an adapter), servers/NAME (a virtual server), "
            "/mcp (the tool router) or a URL",
            ExitCode.USAGE,
        )
    path = f"/{kind or 'adapters'}/{quote(name, safe='')}"
    return Target(f"{gateway}{path}/mcp", name, path)
