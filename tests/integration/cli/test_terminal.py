"""The CLI on a real terminal (tmux): ``--wait`` draws one progress line that it rewrites in place and ends with
a mark, and tables are aligned, with colour on a terminal and none with ``NO_COLOR``."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import MCP_EXAMPLE, PYTHON, REPO
from tests.support.waiting import wait_for

from .conftest import Cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]


class Terminal:
    """A tmux session of its own (its own server socket), 140 columns wide, running bash."""

    def __init__(self, socket: Path, env: dict[str, str]) -> None:
        self.socket = str(socket)
        self.env = env

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], check=True, capture_output=True, text=True,
                              env=self.env, timeout=10).stdout

    def start(self) -> Terminal:
        self.tmux("new-session", "-d", "-s", "cli", "-x", "140", "-y", "40", "bash --norc --noprofile")
        self.type(f"cd {shlex.quote(str(REPO))} && PS1='$ ' && clear")
        return self

    def type(self, line: str) -> None:
        self.tmux("send-keys", "-t", "cli", "-l", line)
        self.tmux("send-keys", "-t", "cli", "Enter")

    def screen(self, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", "-t", "cli", *(["-e"] if escapes else []))

    def stop(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def terminal(cli: Cli, tmp_path: Path) -> Iterator[Terminal]:
    env = {**cli.environment(), "TERM": "xterm-256color"}
    started = Terminal(tmp_path / "tmux.sock", env).start()
    yield started
    started.stop()


def slow_server(tmp_path: Path, seconds: float) -> Path:
    script = tmp_path / "slow_server.py"
    script.write_text(textwrap.dedent(f"""\
        import runpy, time
        time.sleep({seconds})  # a server that takes a while to start, so there is progress to watch
        runpy.run_path({str(MCP_EXAMPLE)!r}, run_name="__main__")
        """))
    return script


def test_wait_rewrites_one_progress_line_then_marks_it(terminal: Terminal, cli: Cli, tmp_path: Path) -> None:
    command = [PYTHON, "-m", "gateway", "adapters", "create", "slowpoke", "--transport", "streamable-http",
               "--replicas", "2", "--wait", "--", PYTHON, str(slow_server(tmp_path, 3))]
    terminal.type(shlex.join(command) + '; echo "ex""it=$?"')  # the typed line must not read "exit="

    def progress_lines() -> list[str]:
        return [line for line in terminal.screen().splitlines() if "adapter/slowpoke:" in line]

    def starting() -> list[str]:
        return [line for line in progress_lines() if "Starting, 0/2 ready" in line]

    first = wait_for(starting, 20, what="the progress line")
    assert first[0].lstrip()[0] in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # a spinner in front, on a terminal
    seen: set[str] = set()
    while "exit=" not in terminal.screen():
        lines = progress_lines()
        assert len(lines) <= 1, lines  # rewritten in place, never a second line
        seen.update(lines)
        time.sleep(0.1)
        assert len(seen) < 2000
    assert len(seen) > 1  # it did move: the spinner and the elapsed seconds
    screen = terminal.screen()
    assert "✓ adapter/slowpoke: Ready, 2/2 ready" in screen
    assert "adapter/slowpoke created" in screen and "exit=0" in screen
    assert len(progress_lines()) == 1


def test_tables_are_aligned_and_coloured_only_on_a_terminal(terminal: Terminal, cli: Cli) -> None:
    cli.ok("adapters", "create", "aligned-with-a-long-name", "--transport", "streamable-http", "--wait", "--",
           PYTHON, str(MCP_EXAMPLE))
    cli.ok("adapters", "create", "short", "--url", "http://127.0.0.1:9/mcp")  # Failing: a red phase
    wait_for(lambda: cli.json("adapters", "status", "short")["phase"] == "Failing", 20, what="short Failing")

    # Each command ends with its own marker: the screen may still show the previous one's while `clear` runs.
    terminal.type(f'clear; {shlex.quote(PYTHON)} -m gateway adapters list; echo "do""ne-1"')
    wait_for(lambda: "\ndone-1" in terminal.screen(), 20, what="the table")
    rows = [line for line in terminal.screen().splitlines() if line.startswith(("NAME", "aligned", "short"))]
    assert len(rows) == 3, terminal.screen()
    header, first, second = rows
    for column in ("PHASE", "READY", "TRANSPORT", "SOURCE", "CREATED BY", "AGE"):
        at = header.index(column)
        assert first[at - 1] == " " and first[at] != " " and second[at - 1] == " " and second[at] != " ", column
    coloured = terminal.screen(escapes=True)
    assert "\x1b[1mNAME" in coloured  # bold headers
    assert "\x1b[32mReady" in coloured and "\x1b[31mFailing" in coloured

    terminal.type(f'clear; NO_COLOR=1 {shlex.quote(PYTHON)} -m gateway adapters list; echo "do""ne-2"')
    wait_for(lambda: "\ndone-2" in terminal.screen() and "done-1" not in terminal.screen(), 20,
             what="the plain table")
    assert "\x1b[" not in terminal.screen(escapes=True).replace("\x1b[0m", "").replace("\x1b(B", "")
    cli.ok("adapters", "delete", "aligned-with-a-long-name", "short")
