"""``python -m bench.tool_search.collect [install] [list] [--only PKG,...]``: rebuild ``tools.json``.

The tool-search benchmark's dataset is what real MCP servers answer to ``tools/list``. This script installs
each server listed in :data:`SERVERS` at its pinned version from npm or PyPI into ``.cache/tool-search/``
(not committed; npm with ``--ignore-scripts``, so no browser or binary download runs; PyPI servers each in a
venv of their own, since they pin different ``mcp`` versions), starts it over stdio with the official
Python SDK client (dummy tokens where a server refuses to start without one: listing tools needs none; a
throwaway local redis-server for server-redis), calls ``tools/list`` (all pages) and writes
``bench/tool_search/tools.json``. A server whose list the SDK's ListToolsResult rejects is listed again with
plain JSON-RPC over the SDK's stdio transport (noted in the file); the scratch directory's path, which a
server may echo in a description, is written as ``<dir>``. Top-level packages are pinned; their
dependencies resolve at install time.

- ``servers``: per package, registry, version, the command line used, and how many tools it listed (or why
  it was left out);
- ``tools``: name, title, description, inputSchema, annotations and ``source`` (registry, package,
  version) of each tool; a tool identical (same name, title, description, schema, annotations) in several
  packages is kept once, its other packages under ``also_in``.

``install`` and ``list`` are both run when neither is given. A server that fails to install or start is
reported and left out; the file records which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import mcp_types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = REPO / ".cache" / "tool-search"
OUTPUT = HERE / "tools.json"
LIST_TIMEOUT = 90.0


@dataclass(frozen=True)
class Server:
    registry: str  # "npm" or "pypi"
    package: str
    version: str
    args: tuple[str, ...] = ()  # after the executable; "{sandbox}" is replaced by a scratch directory
    env: dict[str, str] = field(default_factory=dict)
    bin: str | None = None  # the executable; default: the package's only npm bin, or the PyPI name
    files: dict[str, str] = field(default_factory=dict)  # written into the scratch directory first
    redis: bool = False  # start a throwaway redis-server on 127.0.0.1 and put its URL in place of "{redis}"
    pins: tuple[str, ...] = ()  # extra pip requirements (old servers declare mcp>=1 and break on mcp 2)
    python: str = ""  # the venv's interpreter (PATH name) when the server needs another Python than this one


_DUMMY = "dummy-token-for-tools-list"

SERVERS: tuple[Server, ...] = (
    # The reference servers (github.com/modelcontextprotocol/servers and its archive).
    Server("npm", "@modelcontextprotocol/server-everything", "2026.8.31", ("stdio",)),
    Server("npm", "@modelcontextprotocol/server-filesystem", "2026.8.31", ("{sandbox}",)),
    Server("npm", "@modelcontextprotocol/server-memory", "2026.8.31"),
    Server("npm", "@modelcontextprotocol/server-sequential-thinking", "2026.8.31"),
    Server("npm", "@modelcontextprotocol/server-github", "2025.4.8", env={"GITHUB_PERSONAL_ACCESS_TOKEN": _DUMMY}),
    Server("npm", "@modelcontextprotocol/server-gitlab", "2025.4.25", env={"GITLAB_PERSONAL_ACCESS_TOKEN": _DUMMY}),
    Server("npm", "@modelcontextprotocol/server-puppeteer", "2025.5.12"),
    Server("npm", "@modelcontextprotocol/server-brave-search", "0.6.2", env={"BRAVE_API_KEY": _DUMMY}),
    Server(
        "npm", "@modelcontextprotocol/server-slack", "2025.4.25", env={"SLACK_BOT_TOKEN": _DUMMY, "SLACK_TEAM_ID": "T0"}
    ),
    Server("npm", "@modelcontextprotocol/server-postgres", "0.6.2", ("postgresql://127.0.0.1:1/none",)),
    Server("npm", "@modelcontextprotocol/server-google-maps", "0.6.2", env={"GOOGLE_MAPS_API_KEY": _DUMMY}),
    Server("npm", "@modelcontextprotocol/server-redis", "2025.4.25", ("{redis}",), redis=True),
    Server(
        "npm",
        "@modelcontextprotocol/server-gdrive",
        "2025.1.14",
        env={"GDRIVE_CREDENTIALS_PATH": "{sandbox}/gdrive.json"},
        files={"gdrive.json": '{"access_token": "dummy"}'},
    ),
    Server("npm", "@modelcontextprotocol/server-everart", "0.6.2", env={"EVERART_API_KEY": _DUMMY}),
    Server(
        "npm",
        "@modelcontextprotocol/server-aws-kb-retrieval",
        "0.6.2",
        env={"AWS_ACCESS_KEY_ID": _DUMMY, "AWS_SECRET_ACCESS_KEY": _DUMMY, "AWS_REGION": "us-east-1"},
    ),
    Server("pypi", "mcp-server-time", "2026.10.19", ("--local-timezone", "UTC")),
    Server("pypi", "mcp-server-fetch", "2026.10.24"),
    Server("pypi", "mcp-server-git", "2026.10.19"),
    Server("pypi", "mcp-server-sqlite", "2025.4.25", ("--db-path", "{sandbox}/test.db"), pins=("mcp<2",)),
    Server("pypi", "mcp-server-sentry", "2025.1.14", ("--auth-token", _DUMMY), pins=("mcp<2",)),
    # Vendors' and community servers.
    Server("npm", "@playwright/mcp", "0.0.83"),
    Server("npm", "chrome-devtools-mcp", "1.11.0", bin="chrome-devtools-mcp"),
    Server("npm", "@notionhq/notion-mcp-server", "2.5.2", env={"NOTION_TOKEN": _DUMMY}),
    Server("npm", "firecrawl-mcp", "3.26.0", env={"FIRECRAWL_API_KEY": _DUMMY}),
    Server("npm", "@upstash/context7-mcp", "4.1.1"),
    Server("npm", "mcp-server-kubernetes", "4.1.7"),
    Server("npm", "tavily-mcp", "0.2.22", env={"TAVILY_API_KEY": _DUMMY}),
    Server("npm", "exa-mcp-server", "3.4.1", env={"EXA_API_KEY": _DUMMY}),
    Server("npm", "@wonderwhy-er/desktop-commander", "0.2.52", bin="desktop-commander"),
    Server("npm", "mongodb-mcp-server", "3.0.4"),
    Server("npm", "@benborla29/mcp-server-mysql", "2.0.9"),
    Server("npm", "@antv/mcp-server-chart", "0.9.10"),
    Server("npm", "airtable-mcp-server", "1.14.0", env={"AIRTABLE_API_KEY": _DUMMY}),
    Server("npm", "@kimtaeyoon83/mcp-server-youtube-transcript", "0.1.1"),
    Server("npm", "figma-developer-mcp", "0.13.2", ("--stdio", f"--figma-api-key={_DUMMY}")),
    Server("npm", "@heroku/mcp-server", "1.2.8", env={"HEROKU_API_KEY": _DUMMY}),
    Server("npm", "@supabase/mcp-server-supabase", "0.13.0", (f"--access-token={_DUMMY}",)),
    Server("npm", "@azure/mcp", "2.0.5", ("server", "start")),
    Server("pypi", "duckduckgo-mcp-server", "0.7.0"),
    Server("pypi", "arxiv-mcp-server", "0.8.2", ("--storage-path", "{sandbox}")),
    Server("pypi", "mcp-server-docker", "0.3.0", python="3.12"),
    Server("pypi", "mcp-obsidian", "0.2.3", env={"OBSIDIAN_API_KEY": _DUMMY}),
)


def _slug(package: str) -> str:
    return package.replace("@", "").replace("/", "+")


def _prefix(server: Server) -> Path:
    return CACHE / server.registry / f"{_slug(server.package)}@{server.version}"


def install(server: Server) -> None:
    prefix = _prefix(server)
    if (prefix / ".installed").exists():
        return
    prefix.mkdir(parents=True, exist_ok=True)
    if server.registry == "npm":
        (prefix / "package.json").write_text('{"private": true}\n')
        command = ["npm", "install", "--prefix", str(prefix), "--ignore-scripts", "--no-audit", "--no-fund"]
        command += ["--loglevel=error", f"{server.package}@{server.version}"]
    else:
        if server.python:
            subprocess.run([_interpreter(server.python), "-m", "venv", "--clear", str(prefix)], check=True)
        else:
            venv.create(prefix, with_pip=True, clear=True)
        command = [str(prefix / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        command += [f"{server.package}=={server.version}", *server.pins]
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1", "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    (prefix / ".installed").write_text("")


def _interpreter(version: str) -> str:
    """For "3.12": a pyenv build if there is one (pyenv's shim refuses versions not selected), else the
    ``python3.12`` on PATH."""
    builds = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    if builds:
        return str(builds[-1])
    return f"python{version}"


def _executable(server: Server) -> Path:
    prefix = _prefix(server)
    if server.registry == "pypi":
        return prefix / "bin" / (server.bin or server.package)
    if server.bin:
        return prefix / "node_modules" / ".bin" / server.bin
    manifest: dict[str, Any] = json.loads((prefix / "node_modules" / server.package / "package.json").read_text())
    bins: object = manifest.get("bin")
    if isinstance(bins, str):
        return prefix / "node_modules" / server.package / bins
    if isinstance(bins, dict) and len(bins) == 1:
        return prefix / "node_modules" / ".bin" / str(next(iter(bins)))
    raise RuntimeError(f"{server.package}: cannot tell its executable from bin={bins!r}; set Server.bin")


def _fill(text: str, redis_url: str) -> str:
    return text.replace("{sandbox}", str(CACHE / "sandbox")).replace("{redis}", redis_url)


def command_line(server: Server, redis_url: str = "") -> list[str]:
    executable = _executable(server)
    args = [_fill(a, redis_url) for a in server.args]
    if server.registry == "npm" and not os.access(executable, os.X_OK):
        return ["node", str(executable), *args]
    return [str(executable), *args]


def _display_command(server: Server) -> list[str]:
    """The command line as recorded in tools.json: no machine paths."""
    name = server.bin or (server.package if server.registry == "pypi" else server.package.split("/")[-1])
    return [name, *(a.replace("{sandbox}", "<dir>") for a in server.args)]


@contextlib.contextmanager
def _redis_server(wanted: bool) -> Iterator[str]:
    if not wanted:
        yield ""
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _log(server: Server) -> Path:
    return CACHE / "logs" / f"{_slug(server.package)}.log"


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def list_tools(server: Server) -> tuple[list[dict[str, Any]], str | None]:
    """The server's tools as it sends them, and a note when the SDK's validation rejected them."""
    sandbox = CACHE / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    for name, content in server.files.items():
        (sandbox / name).write_text(content)
    with _redis_server(server.redis) as redis_url:
        command = command_line(server, redis_url)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(CACHE / "home"),
            "NODE_NO_WARNINGS": "1",
            "DO_NOT_TRACK": "1",
            **{k: _fill(v, redis_url) for k, v in server.env.items()},
        }
        params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(sandbox))
        with _log(server).open("w") as log:
            try:
                return await _list_with_session(params, log), None
            except* ValidationError as group:
                problem = str(_leaf(group)).splitlines()[0]
            note = f"mcp {metadata.version('mcp')}'s ClientSession rejects its tools/list ({problem}): listed raw"
            print(f"{server.package}: {note}", file=sys.stderr)
            return await _list_raw(params, log), note


async def _list_with_session(params: StdioServerParameters, log: TextIO) -> list[dict[str, Any]]:
    """The SDK's ClientSession: initialize, then tools/list page by page."""
    tools: list[dict[str, Any]] = []
    async with stdio_client(params, errlog=log) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        cursor: str | None = None
        while True:
            page = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            result = await session.list_tools(params=page)
            tools += [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in result.tools]
            cursor = result.next_cursor
            if not cursor:
                break
    return tools


async def _list_raw(params: StdioServerParameters, log: TextIO) -> list[dict[str, Any]]:
    """The same exchange as plain JSON-RPC over the SDK's stdio transport, for a server whose result the
    SDK's ListToolsResult rejects (e.g. server-gitlab: inputSchema without ``"type"``): the dataset keeps
    what real servers send."""
    async with stdio_client(params, errlog=log) as (read, write):

        async def call(request_id: int, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
            request = types.JSONRPCRequest(jsonrpc="2.0", id=request_id, method=method, params=arguments)
            await write.send(SessionMessage(request))
            while True:
                item = await read.receive()
                if isinstance(item, Exception):
                    raise item
                message = item.message
                if isinstance(message, types.JSONRPCError) and message.id == request_id:
                    raise RuntimeError(f"{method}: {message.error}")
                if isinstance(message, types.JSONRPCResponse) and message.id == request_id:
                    return dict(message.result)

        client_info = {"name": "bench-tool-search-collect", "version": "1"}
        await call(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client_info})
        await write.send(SessionMessage(types.JSONRPCNotification(jsonrpc="2.0", method="notifications/initialized")))
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for request_id in range(2, 1000):
            result = await call(request_id, "tools/list", {"cursor": cursor} if cursor else {})
            tools += result.get("tools", [])
            cursor = result.get("nextCursor")
            if not cursor:
                break
    return tools


KEEP = ("name", "title", "description", "inputSchema", "annotations")


def _scrub(value: Any) -> Any:
    """The value with this machine's scratch-directory path (which a server may echo) replaced by <dir>."""
    text = json.dumps(value, ensure_ascii=False).replace(str(CACHE / "sandbox"), "<dir>")
    return json.loads(text)


def _key(tool: dict[str, Any]) -> str:
    return json.dumps({k: tool.get(k) for k in KEEP}, sort_keys=True)


Outcome = tuple[list[dict[str, Any]], str | None] | str


def build(results: dict[str, Outcome]) -> dict[str, Any]:
    """The tools.json document from each package's tools (or its error), in the order of SERVERS."""
    servers: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for server in SERVERS:
        if server.package not in results:
            continue
        outcome = results[server.package]
        entry: dict[str, Any] = {
            "registry": server.registry,
            "package": server.package,
            "version": server.version,
            "command": _display_command(server),
        }
        if isinstance(outcome, str):
            entry["error"] = outcome
            servers.append(entry)
            continue
        listed, note = outcome
        entry["tools"] = len(listed)
        if note:
            entry["note"] = note
        duplicates = 0
        for raw in listed:
            source = {"registry": server.registry, "package": server.package, "version": server.version}
            key = _key(raw)
            if key in seen:
                seen[key].setdefault("also_in", []).append(source)
                duplicates += 1
                continue
            tool = {k: _scrub(raw[k]) for k in KEEP if k in raw}
            tool["source"] = source
            seen[key] = tool
            tools.append(tool)
        if duplicates:
            entry["duplicates_of_earlier_packages"] = duplicates
        servers.append(entry)
    return {
        "about": "tools/list of real MCP servers, collected by bench/tool_search/collect.py; see docs/benchmarks.md",
        "servers": servers,
        "tools": tools,
    }


async def _collect(selected: list[Server]) -> dict[str, Outcome]:
    results: dict[str, Outcome] = {}
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    for server in selected:
        try:
            tools, note = await asyncio.wait_for(list_tools(server), LIST_TIMEOUT)
            results[server.package] = (tools, note)
            print(f"{server.package}@{server.version}: {len(tools)} tools", file=sys.stderr)
        except Exception as exc:  # a server that does not start is recorded, not fatal
            leaf = _leaf(exc)
            message = f"{type(leaf).__name__}: {leaf}".splitlines()[0][:200]
            lines = [line.strip() for line in _log(server).read_text(errors="replace").splitlines() if line.strip()]
            errors = [line for line in lines if "rror" in line] or lines
            if errors:  # the server's own last word on stderr says why
                reason = _scrub(errors[-1]).replace(str(CACHE), "<cache>")
                message += f" (stderr: {reason[:240]})"
            results[server.package] = message
            print(f"{server.package}@{server.version}: FAILED {message}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tool_search.collect", description=__doc__)
    parser.add_argument("steps", nargs="*", choices=["install", "list"], help="default: both")
    parser.add_argument("--only", help="comma-separated package names (list: merged into the existing file)")
    args = parser.parse_args(argv)
    steps = set(args.steps or ["install", "list"])
    selected = list(SERVERS)
    if args.only:
        wanted = set(args.only.split(","))
        selected = [s for s in SERVERS if s.package in wanted]
    if "install" in steps:
        for server in selected:
            try:
                install(server)
                print(f"installed {server.package}@{server.version}", file=sys.stderr)
            except (subprocess.CalledProcessError, OSError) as exc:
                print(f"install failed: {server.package}@{server.version}: {exc}", file=sys.stderr)
    if "list" in steps:
        results = asyncio.run(_collect(selected))
        if args.only and OUTPUT.exists():
            # Keep the other servers' earlier results: re-list them from the file.
            previous = json.loads(OUTPUT.read_text())
            for entry in previous["servers"]:
                package = entry["package"]
                if package in results:
                    continue
                if "error" in entry:
                    results[package] = entry["error"]
                else:
                    results[package] = (_previous_tools(previous, package), entry.get("note"))
        document = build(results)
        OUTPUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        ok = [s for s in document["servers"] if "error" not in s]
        print(f"{OUTPUT.relative_to(REPO)}: {len(document['tools'])} tools from {len(ok)} servers", file=sys.stderr)
    return 0


def _previous_tools(previous: dict[str, Any], package: str) -> list[dict[str, Any]]:
    """A server's tools as listed in an earlier tools.json (its own and those deduplicated into others)."""
    out: list[dict[str, Any]] = []
    for tool in previous["tools"]:
        sources = [tool["source"], *tool.get("also_in", [])]
        if any(s["package"] == package for s in sources):
            out.append({k: tool[k] for k in KEEP if k in tool})
    return out


if __name__ == "__main__":
    sys.exit(main())
