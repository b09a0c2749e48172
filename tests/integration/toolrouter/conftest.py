"""Fixtures for the tool router integration tests; the servers themselves live in router_harness.py."""

from router_harness import (  # noqa: F401  (pytest finds fixtures by name in this module)
    catalog,
    catalog_host,
    catalog_server,
    closed_port_url,
    connect,
    example_adapter,
    issues_adapter,
    legacy_issues_adapter,
    router,
    router_on_socket,
    tool_server,
    weather_url,
)
