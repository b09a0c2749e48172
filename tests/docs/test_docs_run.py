"""Every runnable shell example of README.md and docs/ works as written, against ``make run``'s gateway.

As a reader would: ``make run PORT=<free port>`` in a plain shell (a fresh data directory), then each
runnable block (tests/docs/blocks.py says which) in a fresh bash whose ``python3`` is the system Python,
commands one at a time, in document order, in the repository. Shown outputs are compared; a command
that shows none must succeed without printing an error. ``localhost:8000`` becomes the test's port.

Node: ``npx`` finds the locally installed Inspector (scripts/install-node-tools.sh: 2.12.0 on Node 22)
first, and every ``npx`` command runs a second time on the system's Node (if it is one the README
supports) exactly as a user runs it, where npx picks an older Inspector when the newest needs a newer
Node; both must give the shown output.
At the end the gateway is stopped with Ctrl-C (SIGINT), as the README says, and nothing may be left running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from tests.docs.blocks import Block, Command, check_output, read_blocks
from tests.docs.shell import Outcome, ShellSession
from tests.support.paths import REPO, node_tools
from tests.support.ports import free_port
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.node]

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
"""A plain shell's PATH without /usr/local: its python3 is the system's (no mcp, no uvicorn)."""
MINIMUM_NODE = 20
"""The README's minimum Node.js: with its npm (10+) npx picks an Inspector release that runs on it."""
COMMAND_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = 30.0
"""How long a command that changes nothing is re-run until it shows the documented output (as someone
re-running a status check while replicas start)."""
NOT_A_LOGIN = re.compile(r"MCPGW_|VIRTUAL_ENV\Z|PYTHON|PYTEST|COV_|npm_|NPM_|MAKE|MFLAGS\Z")
"""Variables of the test run (or of the ``make test`` or npm script that started it), not of a login shell."""
CHANGES_STATE = re.compile(r"(?:^|\s)(?:-X\s*|--request[ =])(?:POST|PUT|PATCH|DELETE)\b|(?:^|\s)(?:-d|--data[\w-]*)\b")


def runnable_documents() -> list[Path]:
    return [path for path in DOCUMENTS if any(block.runs for block in read_blocks(path))]


@dataclass(frozen=True)
class Gateway:
    port: int
    log: Path

    def log_tail(self, lines: int = 30) -> list[str]:
        """The last lines of its log, without the access log lines (the retries would fill it)."""
        logged = self.log.read_text(errors="replace").splitlines()
        return [line for line in logged if "uvicorn.access" not in line][-lines:]


@pytest.mark.parametrize("document", runnable_documents(), ids=lambda path: path.relative_to(REPO).as_posix())
def test_the_shell_examples_work_as_written(document: Path, tmp_path: Path) -> None:
    user = _user_environment()
    with_inspector = _with_local_inspector(user, tmp_path)
    system_node = user if _system_node_supported(user) else None
    with _make_run(user, tmp_path) as gateway:
        for block in read_blocks(document):
            if block.runs:
                _run_block(block, gateway, with_inspector, system_node)


def _system_node_supported(user: dict[str, str]) -> bool:
    """Whether the system's Node is one the README supports (Debian 12's own is 18, with npm 9, whose npx
    takes the newest Inspector whatever Node it needs); if not, say so rather than test what is unsupported."""
    done = subprocess.run(["node", "--version"], env=user, capture_output=True, text=True, timeout=30, check=True)
    major = int(done.stdout.strip().lstrip("v").split(".")[0])
    if major < MINIMUM_NODE:
        warnings.warn(
            f"the system's Node.js is {major}, older than the README's minimum ({MINIMUM_NODE}): "
            "its npx commands ran only with the installed Inspector",
            stacklevel=2,
        )
    return major >= MINIMUM_NODE


def _user_environment() -> dict[str, str]:
    """The login's environment (home, locale, proxy and CA settings) with a plain PATH and no Python or
    gateway settings from the test run, so ``python3`` is the system's and nothing is pre-configured."""
    _require(Path("/usr/bin/python3").exists(), "a system Python at /usr/bin/python3")
    for tool in ("make", "curl", "node", "npm", "npx"):
        _require(shutil.which(tool, path=SYSTEM_PATH) is not None, f"{tool} in {SYSTEM_PATH}")
    return {**{k: v for k, v in os.environ.items() if not NOT_A_LOGIN.match(k)}, "PATH": SYSTEM_PATH}


def _require(present: bool, what: str) -> None:
    if not present:
        message = f"the documentation test needs {what}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _with_local_inspector(user: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The user's environment where ``npx @modelcontextprotocol/inspector`` finds the installed Inspector.

    npx runs a package that is installed globally (in ``$npm_config_prefix``) without installing it, so
    the prefix is made to hold the Node tools directory; its Node 22 comes first on PATH, as 2.12.0 needs.
    """
    tools = node_tools() / "node_modules"
    prefix = tmp_path / "npm-prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "node_modules").symlink_to(tools)
    (prefix / "bin").symlink_to(tools / ".bin")
    # npm reads its global settings (a cafile, a proxy) from under the prefix: keep the user's.
    config = subprocess.run(
        ["npm", "config", "get", "globalconfig"], env=user, capture_output=True, text=True, timeout=60, check=True
    )
    return {
        **user,
        "PATH": f"{tools / '.bin'}:{user['PATH']}",
        "npm_config_prefix": str(prefix),
        "npm_config_globalconfig": config.stdout.strip(),
    }


@contextlib.contextmanager
def _make_run(user: dict[str, str], tmp_path: Path) -> Iterator[Gateway]:
    """``make run PORT=<free port>`` in the repository; stopped with Ctrl-C, and nothing may outlive it."""
    gateway = Gateway(port=free_port(), log=tmp_path / "make-run.log")
    env = {**user, "MCPGW_SERVER__DATA_DIR": str(tmp_path / "data")}  # not the checkout's .mcp-gateway
    with gateway.log.open("wb") as log:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={gateway.port}"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: list[int] = []
    try:
        wait_for(lambda: _ready(make, gateway), timeout=120, what=f"make run to be ready (log: {gateway.log})")
        yield gateway
    finally:
        started = descendants(make.pid)
        _stop_with_ctrl_c(make)
    wait_for(lambda: not any(pid_alive(pid) for pid in started), timeout=20, what="nothing left after Ctrl-C")


def _ready(make: subprocess.Popen[bytes], gateway: Gateway) -> bool:
    if make.poll() is not None:
        raise AssertionError(f"make run exited with {make.returncode}:\n" + "\n".join(gateway.log_tail()))
    try:
        return httpx.get(f"http://127.0.0.1:{gateway.port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop_with_ctrl_c(make: subprocess.Popen[bytes]) -> None:
    """SIGINT to the foreground process group, as a terminal sends on Ctrl-C; SIGKILL if that is not enough."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(make.pid, signal.SIGINT)
    try:
        make.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)
        make.wait()
        raise AssertionError("make run did not stop within 30 s of Ctrl-C") from None


def _run_block(
    block: Block, gateway: Gateway, with_inspector: dict[str, str], system_node: dict[str, str] | None
) -> None:
    with ShellSession(with_inspector, REPO) as shell:
        for command in block.commands():
            _run_command(shell, block, command, gateway)
            if system_node is not None and command.text.lstrip().startswith("npx "):
                # Again on the Node the user has, where npx resolves (and fetches) the Inspector by itself.
                plain_npm = f"PATH='{system_node['PATH']}'; unset npm_config_prefix npm_config_globalconfig"
                on_system_node = f"( {plain_npm}\n{command.text}\n)"
                _run_command(shell, block, replace(command, text=on_system_node), gateway)


def _run_command(shell: ShellSession, block: Block, command: Command, gateway: Gateway) -> None:
    port = gateway.port
    text = command.text.replace("localhost:8000", f"localhost:{port}").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    deadline = time.monotonic() + (0.0 if CHANGES_STATE.search(command.text) else SETTLE_SECONDS)
    while True:
        outcome = shell.run(text, COMMAND_TIMEOUT_SECONDS)
        problem = _problem(command, outcome)
        if problem is None:
            return
        if time.monotonic() >= deadline:
            pytest.fail(_report(block, command, outcome, problem, gateway), pytrace=False)
        time.sleep(1)


def _problem(command: Command, outcome: Outcome) -> str | None:
    if outcome.status != 0:
        return f"exited with status {outcome.status}"
    verdict = check_output(command.expected, outcome.stdout)
    return None if verdict.ok else "; ".join([verdict.reason, *verdict.details])


def _report(block: Block, command: Command, outcome: Outcome, problem: str, gateway: Gateway) -> str:
    return "\n".join(
        [
            f"{block.path.name}:{command.line} (block at line {block.line}) {problem}",
            "command:",
            command.text,
            f"stdout:\n{outcome.stdout[-4000:]}",
            f"stderr:\n{outcome.stderr[-2000:]}",
            "make run (last lines):",
            *gateway.log_tail(),
        ]
    )
