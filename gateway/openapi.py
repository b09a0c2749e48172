"""Prints the gateway's OpenAPI document: ``python -m gateway.openapi > openapi/mcp-gateway.openapi.json``."""

from __future__ import annotations

import json
from typing import Any

from gateway.app import create_app
from gateway.settings import GatewaySettings

SERVERS = [
    {"url": "http://localhost:8000", "description": "Local gateway (make run)"},
    {
        "url": "https://{host}",
        "description": "A deployed gateway",
        "variables": {"host": {"default": "gateway.example.com"}},
    },
]


def openapi_document() -> dict[str, Any]:
    settings = GatewaySettings.model_validate({"store": {"kind": "memory"}, "router": {"replicas": 0}})
    document = create_app(settings).openapi()
    document["servers"] = SERVERS
    return document


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")  # noqa: T201
