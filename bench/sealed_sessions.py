"""``python -m bench.sealed_sessions [--lookups 20000]``: what routing one session-era request costs the gateway.

Sealed session ids (issue #22) replace a session-store read on every request of a session with opening the
id (AES-256-GCM, ``gateway.proxy.sealed``). This measures, in one process on 127.0.0.1, the gateway's own
code for that step, one lookup in flight:

* **sealed**: ``SessionSealer.open`` of an id sealed for the same user and route;
* **memory store**: ``MemorySessionStore.get`` (one gateway replica, the old default);
* **redis store**: ``RedisSessionStore.get`` against a ``redis-server`` this harness starts on a free port
  (the old choice for several gateway replicas; one round trip and a Lua script per request).

Cosmos is not measured here: the emulator's latency says nothing about Azure's. Results land in
``bench/results/<stamp>-sealed.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.procs import REPO, free_port
from gateway.proxy.sealed import SessionSealer
from gateway.settings import SessionSettings
from gateway.stores.base import SessionKey, SessionRoute
from gateway.stores.memory import MemorySessionStore

USER, SCOPE = "alice@example.com", "weather"
REPLICA_URL = "http://10.244.1.17:8000/mcp"
UPSTREAM_ID = "3f1c2b9e8d7a4c6b9e0f1a2b3c4d5e6f"


async def _measure(lookups: int, lookup: Callable[[], Awaitable[object]]) -> dict[str, float]:
    for _ in range(min(1000, lookups)):
        await lookup()
    samples = []
    started = time.perf_counter()
    for _ in range(lookups):
        t0 = time.perf_counter_ns()
        await lookup()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "n": lookups,
        "p50_us": round(statistics.median(samples), 2),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1], 2),
        "per_s": round(lookups / elapsed),
    }


async def _sealed(lookups: int) -> dict[str, float]:
    sealer = SessionSealer([("k1", os.urandom(32))], 86_400)
    token, _ = sealer.seal(USER, SCOPE, UPSTREAM_ID, REPLICA_URL)

    async def lookup() -> object:
        opened = sealer.open(USER, SCOPE, token)
        assert opened is not None
        return opened

    return {**await _measure(lookups, lookup), "id_length": len(token)}


async def _memory(lookups: int) -> dict[str, float]:
    store = MemorySessionStore(SessionSettings())
    key = SessionKey(USER, SCOPE, UPSTREAM_ID)
    await store.put(key, SessionRoute("weather-0", REPLICA_URL))
    return await _measure(lookups, lambda: store.get(key))


async def _redis(lookups: int, port: int | None) -> dict[str, float]:
    from gateway.stores.redis import RedisSessionStore

    if port is None:
        return {"skipped": 1}
    settings = SessionSettings(kind="redis", redis_url=f"redis://127.0.0.1:{port}/0")  # type: ignore[arg-type]
    store = RedisSessionStore(settings)
    for _ in range(100):
        try:
            await store.open()
            await store.check()
            break
        except Exception:
            await asyncio.sleep(0.05)
    key = SessionKey(USER, SCOPE, UPSTREAM_ID)
    await store.put(key, SessionRoute("weather-0", REPLICA_URL))
    result = await _measure(lookups, lambda: store.get(key))
    await store.close()
    return result


async def run(lookups: int, redis_port: int | None) -> dict[str, dict[str, float]]:
    return {
        "sealed id (AES-256-GCM open)": await _sealed(lookups),
        "memory store get": await _memory(lookups),
        "redis store get (loopback)": await _redis(lookups, redis_port),
    }


def _start_redis() -> tuple[subprocess.Popen[bytes] | None, int | None]:
    server = shutil.which("redis-server")
    if server is None:
        return None, None
    port = free_port()
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL), port


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sealed_sessions", description=__doc__)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args()
    redis, port = _start_redis()
    try:
        results = asyncio.run(run(args.lookups, port))
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(10)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    lines = ["| session lookup | n | p50 µs | p99 µs | lookups/s |", "|---|---|---|---|---|"]
    for name, row in results.items():
        if "skipped" in row:
            lines.append(f"| {name} | skipped (no redis-server) | | | |")
            continue
        lines.append(f"| {name} | {row['n']} | {row['p50_us']} | {row['p99_us']} | {row['per_s']} |")
    table = "\n".join(lines)
    print(table)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    Path(out / f"{stamp}-sealed.json").write_text(json.dumps(results, indent=2))
    Path(out / f"{stamp}-sealed.md").write_text(table + "\n")
    print(f"bench: results in bench/results/{stamp}-sealed.json / .md")


if __name__ == "__main__":
    main()
