"""Log set-up: JSON (or text) lines carrying the request id (``gateway.request_context``) and trace id, redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from opentelemetry import trace

from gateway.request_context import request_id_var
from gateway.telemetry import redaction

# LogRecord attributes that are not "extra" fields.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RequestContextFilter(logging.Filter):
    """Adds ``request_id``, ``trace_id`` and ``span_id`` to every record (None outside a request/span)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.trace_id, record.span_id = _trace_ids()
        return True


def _trace_ids() -> tuple[str | None, str | None]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request/trace ids, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and value is not None and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        # Extra fields are attached after the record was created (and redacted): redact the line again.
        return redaction.redact(json.dumps(entry, default=str, ensure_ascii=False))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class TextFormatter(logging.Formatter):
    """``logging.Formatter`` with the same output, whose time stamp reuses the date and time of the second it
    formatted last: ``localtime`` and ``strftime`` on every line were a tenth of an access-log line's cost."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        second, stamp = self._second
        if int(record.created) != second:
            # One tuple, assigned at once: handlers may format from several threads.
            second = int(record.created)
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, stamp)
        milliseconds = self.default_msec_format
        return milliseconds % (stamp, record.msecs) if milliseconds else stamp


class CallerlessLogger:
    """``logger.info`` as uvicorn's access log calls it, minus the caller lookup.

    ``Logger.info`` walks the stack to put the caller's file, line and function on the record (``findCaller``,
    about a sixth of an access-log line's cost), which no format of the gateway prints. This makes the same
    record otherwise: the same record factory (redaction), the same logger filters and handlers; its caller
    fields name ``caller`` (where uvicorn writes the line) rather than the exact line."""

    def __init__(self, logger: logging.Logger, caller: Callable[..., object]) -> None:
        code = caller.__code__
        self._logger = logger
        self._caller = (code.co_filename, code.co_firstlineno, code.co_name)

    def info(self, msg: str, *args: object) -> None:
        logger = self._logger
        if logger.isEnabledFor(logging.INFO):
            filename, line, function = self._caller
            logger.handle(logger.makeRecord(logger.name, logging.INFO, filename, line, msg, args, None, function))


def make_handler(log_format: Literal["text", "json"], stream: Any = None) -> logging.Handler:
    """A stream handler that adds request context and writes the chosen format (redaction happens when
    records are created, see :func:`gateway.telemetry.redaction.install`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    _decorate(handler, log_format)
    return handler


def _decorate(handler: logging.Handler, log_format: Literal["text", "json"]) -> None:
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))


def configure_logging(log_format: Literal["text", "json"], level: str = "INFO", audit_file: Path | None = None) -> None:
    """Replace the root handlers with one redacting handler; uvicorn's loggers propagate to it.

    Call before ``uvicorn.run`` and pass ``log_config=None`` there, or uvicorn installs its own handlers.
    """
    redaction.install()
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    if audit_file is not None:
        audit_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(audit_file, encoding="utf-8")
        _decorate(file_handler, "json")
        logging.getLogger("mcpgw.audit").addHandler(file_handler)
