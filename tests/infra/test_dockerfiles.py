"""The gateway and router images: pinned base images, non-root, the contract's entrypoints."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _instructions(name: str) -> list[tuple[str, str]]:
    lines = [ln.strip() for ln in (DOCKER / name).read_text().splitlines()]
    return [(ln.split(" ", 1)[0].upper(), ln.split(" ", 1)[1]) for ln in lines if ln and not ln.startswith("#")]


@pytest.mark.parametrize("name", ["gateway.Dockerfile", "toolrouter.Dockerfile"])
def test_images_use_the_pinned_base_and_run_as_uid_1100(name: str) -> None:
    instructions = _instructions(name)
    bases = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    assert bases == ["python:3.11.11-slim-bookworm"] * 2
    users = [arg for op, arg in instructions if op == "USER"]
    assert users[-1] == "1100:1100"


def test_the_entrypoints_match_the_application_contract() -> None:
    gateway = dict(_instructions("gateway.Dockerfile"))
    assert (gateway["ENTRYPOINT"], gateway["CMD"]) == (
        '["mcp-gateway"]',
        '["serve", "--host", "0.0.0.0", "--port", "8000"]',
    )
    assert dict(_instructions("toolrouter.Dockerfile"))["ENTRYPOINT"] == '["python", "-m", "toolrouter"]'
