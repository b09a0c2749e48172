"""``python -m bench.log_cost [--records N]``: what one access-log line costs, and how much of it is redaction.

The gateway writes an access-log line per proxied call, and every log record passes through the redacting
record factory (``gateway.telemetry.redaction``). This times, in microseconds per record, the access-log
call as uvicorn makes it (into an in-memory stream, so no disk or terminal is measured), the redaction of
one such record, and the bare ``LogRecord`` construction for comparison.
"""

from __future__ import annotations

import argparse
import io
import logging
import timeit
from collections.abc import Callable

from gateway.telemetry import redaction

TEMPLATE = '%s - "%s %s HTTP/%s" %d'
ARGS = ("127.0.0.1:54321", "POST", "/adapters/bench-json/mcp", "1.1", 200)


def _access_logger() -> logging.Logger:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("bench.access")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _record() -> logging.LogRecord:
    return logging.LogRecord("bench.access", logging.INFO, __file__, 1, TEMPLATE, ARGS, None)


def _microseconds(call: Callable[[], object], records: int) -> float:
    return timeit.timeit(call, number=records) / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.log_cost", description=__doc__)
    parser.add_argument("--records", type=int, default=50_000, help="records per measurement (bounded loop)")
    args = parser.parse_args()
    redaction.register_secret("a-registered-router-secret")
    redaction.install()
    logger = _access_logger()
    line = _microseconds(lambda: logger.info(TEMPLATE, *ARGS), args.records)
    redact = _microseconds(lambda: redaction.redact_record(_record()), args.records)
    bare = _microseconds(_record, args.records)
    print(
        f"µs per record ({args.records} each): access-log line {line:.1f}, "
        f"redaction {redact - bare:.1f} (record + redaction {redact:.1f}, bare record {bare:.1f})"
    )


if __name__ == "__main__":
    main()
