"""What the local runtime's child processes find on PATH (tests/integration/local checks it with a real child)."""

from __future__ import annotations

import os
import sys

import pytest

from gateway.runtimes.local.runtime import child_environment, gateway_interpreter_first

OWN = os.path.dirname(sys.executable)


def test_the_gateways_interpreter_directory_comes_first_once() -> None:
    assert gateway_interpreter_first(f"/usr/bin:{OWN}:/bin") == f"{OWN}:/usr/bin:/bin"
    assert gateway_interpreter_first("") == OWN


def test_children_get_it_without_the_gateways_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("MCPGW_ROUTER__SECRET", "s3cret")
    env = child_environment({"GREETING": "hi"})
    assert env["PATH"] == f"{OWN}:/usr/bin:/bin"
    assert env["GREETING"] == "hi" and "MCPGW_ROUTER__SECRET" not in env


def test_a_path_of_the_resource_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert child_environment({"PATH": "/opt/tools/bin"})["PATH"] == "/opt/tools/bin"
