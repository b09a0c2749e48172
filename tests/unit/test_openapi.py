"""The committed OpenAPI document is exactly what the app generates."""

from __future__ import annotations

from gateway.openapi import render
from tests.support.paths import REPO


def test_the_committed_openapi_document_matches_the_app() -> None:
    committed = (REPO / "openapi" / "mcp-gateway.openapi.json").read_text()
    assert committed == render(), "run `make openapi` and commit openapi/mcp-gateway.openapi.json"


def test_every_control_plane_endpoint_is_documented() -> None:
    import json

    paths = json.loads(render())["paths"]
    for kind in ("adapters", "tools"):
        assert set(paths[f"/{kind}"]) == {"get", "post"}
        assert set(paths[f"/{kind}/{{name}}"]) == {"get", "put", "delete"}
        assert "get" in paths[f"/{kind}/{{name}}/status"] and "get" in paths[f"/{kind}/{{name}}/logs"]
    assert paths["/adapters"]["post"]["responses"]["201"]
    # Virtual servers run nothing: the same five operations, no status, logs or restart.
    assert set(paths["/servers"]) == {"get", "post"}
    assert set(paths["/servers/{name}"]) == {"get", "put", "delete"}
    assert not [path for path in paths if path.startswith("/servers/{name}/")]
