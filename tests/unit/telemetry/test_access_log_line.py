"""The access-log line's cheaper path writes what the standard one wrote: the text formatter's time stamps,
and uvicorn's access records made without the caller lookup (same message, filters and handlers)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from gateway.__main__ import _QuietInternalPolls
from gateway.telemetry.logs import TEXT_FORMAT, CallerlessLogger, RequestContextFilter, TextFormatter

ACCESS_TEMPLATE = '%s - "%s %s HTTP/%s" %d'


def _record(created: float, message: str = "hello") -> logging.LogRecord:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, message, None, None)
    record.created, record.msecs = created, (created % 1) * 1000
    record.request_id = "r-1"
    return record


@pytest.mark.parametrize(
    "created",
    [1764500000.0, 1764500000.999, 1764500001.0005, 1764500001.5, 1764503600.25, 1764500001.75],
)
def test_text_lines_carry_the_standard_formatters_time_stamp(created: float) -> None:
    standard, reusing = logging.Formatter(TEXT_FORMAT), TextFormatter(TEXT_FORMAT)
    reusing.format(_record(1764500000.5))  # a stamp of another second is remembered
    assert reusing.format(_record(created)) == standard.format(_record(created))


def test_a_date_format_is_honoured() -> None:
    record = _record(1764500000.25)
    assert TextFormatter(TEXT_FORMAT).formatTime(record, "%Y") == logging.Formatter().formatTime(record, "%Y")


@pytest.fixture
def access_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(TextFormatter(TEXT_FORMAT))
    logger = logging.getLogger("tests.access")
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    logger.addFilter(_QuietInternalPolls())
    yield logger, stream
    logger.handlers, logger.filters = [], []


def test_an_access_record_without_the_caller_lookup_reads_the_same(
    access_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = access_log
    args = ("127.0.0.1:50000", "POST", "/adapters/weather/mcp", "1.1", 200)
    logger.info(ACCESS_TEMPLATE, *args)
    CallerlessLogger(logger, RequestResponseCycle.send).info(ACCESS_TEMPLATE, *args)
    standard, callerless = stream.getvalue().splitlines()
    suffix = ' [None]: 127.0.0.1:50000 - "POST /adapters/weather/mcp HTTP/1.1" 200'
    assert standard.endswith(suffix) and callerless.endswith(suffix)
    assert standard.split(" ", 2)[2] == callerless.split(" ", 2)[2]  # all but the time stamp


def test_the_callerless_logger_keeps_the_loggers_filters_and_level(
    access_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = access_log
    callerless = CallerlessLogger(logger, RequestResponseCycle.send)
    callerless.info(ACCESS_TEMPLATE, "10.0.0.1:1", "GET", "/internal/tool-catalog", "1.1", 200)
    assert stream.getvalue() == ""
    logger.setLevel(logging.WARNING)
    callerless.info(ACCESS_TEMPLATE, "10.0.0.1:1", "GET", "/adapters", "1.1", 200)
    assert stream.getvalue() == ""


def test_the_callerless_record_names_uvicorns_send(access_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, _ = access_log
    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    logger.addFilter(keep)
    CallerlessLogger(logger, RequestResponseCycle.send).info(ACCESS_TEMPLATE, "a:1", "GET", "/", "1.1", 200)
    (record,) = records
    assert (record.funcName, record.module) == ("send", "httptools_impl")
    assert record.getMessage() == 'a:1 - "GET / HTTP/1.1" 200'
