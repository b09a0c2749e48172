"""``python -m toolrouter``: serve the tool router with uvicorn, configured from ``MCPGW_ROUTER__*``."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from gateway.errors import MissingExtra
from gateway.telemetry.logs import configure_logging
from toolrouter.app import create_router_app
from toolrouter.settings import ToolRouterSettings


def main() -> int:
    try:
        settings = ToolRouterSettings()
    except ValidationError as exc:
        # Say what to set rather than dumping a traceback.
        configure_logging("text")
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        logging.getLogger("toolrouter").error("invalid tool router configuration: %s", problems)
        return 2
    # One redacting root handler (text or JSON); uvicorn's loggers propagate to it (log_config=None).
    configure_logging(settings.log_format, "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        app = create_router_app(settings)
    except MissingExtra as exc:
        # Trace export is configured but the otel extra is not installed: say so in one line.
        logging.getLogger("toolrouter").error("%s", exc)
        return 2
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=None,
        access_log=settings.access_log,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
