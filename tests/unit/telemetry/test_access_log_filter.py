"""The gateway's access-log filter: the tool router's once-a-second catalog polls stay out of the log."""

from __future__ import annotations

import logging

from gateway.__main__ import _QuietInternalPolls


def _access_record(path: str) -> logging.LogRecord:
    # The shape uvicorn's access logger uses: a template and (client, method, path, version, status).
    args = ("127.0.0.1:50000", "GET", path, "1.1", 200)
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)


def test_catalog_polls_are_dropped_and_everything_else_kept() -> None:
    quiet = _QuietInternalPolls()
    assert not quiet.filter(_access_record("/internal/tool-catalog"))
    assert quiet.filter(_access_record("/adapters/weather/mcp"))
    assert quiet.filter(_access_record("/adapters"))


def test_a_record_of_another_shape_is_judged_by_its_message() -> None:
    quiet = _QuietInternalPolls()
    poll = ("/internal/tool-catalog",)
    other = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "polled %s", poll, None)
    assert not quiet.filter(other)
    assert quiet.filter(logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "started", None, None))
