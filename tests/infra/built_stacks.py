"""The committed stacks rendered the way ``pulumi up`` builds every image (``images.build: true``), and the
builds they declare: what the image tests compare the deployments and docs/deploy.md against."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.config import StackConfig
from tests.infra.conftest import COMMITTED_STACKS, load_stack_file
from tests.infra.mocks import Recorded, Registration, run_stack

REPO = Path(__file__).resolve().parents[2]
STACKS = sorted(COMMITTED_STACKS)
BUILD = "docker-build:index:Image"


def config_with_builds(stack: str) -> StackConfig:
    """``Pulumi.<stack>.yaml`` with what the operator sets before `pulumi up`, and images built by it."""
    cfg = load_stack_file(stack, **COMMITTED_STACKS[stack])
    return dataclasses.replace(cfg, images=dataclasses.replace(cfg.images, build=True))


def render(cfg: StackConfig, stack: str) -> Recorded:
    with pytest.MonkeyPatch.context() as patch:
        # Building for ACR exchanges the deployer's Entra token: not a call to make from a test.
        patch.setattr("infra.stack.exchange_refresh_token", lambda *_: "acr-refresh-token")
        return run_stack(cfg, stack=stack)


@dataclass(frozen=True)
class Build:
    """One ``docker build`` the program runs, in the terms of the command line (paths from the repository)."""

    dockerfile: str
    context: str
    tags: tuple[str, ...]
    platform: str | None

    @classmethod
    def of(cls, registration: Registration) -> Build:
        inputs = registration.inputs
        platforms = inputs.get("platforms") or [None]
        assert len(platforms) == 1, platforms
        return cls(
            dockerfile=_relative(inputs["dockerfile"]["location"]),
            context=_relative(inputs["context"]["location"]),
            tags=tuple(inputs["tags"]),
            platform=platforms[0],
        )

    @property
    def dockerfile_path(self) -> Path:
        return REPO / self.dockerfile

    @property
    def context_path(self) -> Path:
        return REPO / self.context


def _relative(location: str) -> str:
    return Path(location).resolve().relative_to(REPO).as_posix() or "."


def builds(recorded: Recorded) -> list[Build]:
    return [Build.of(r) for r in recorded.of_type(BUILD)]


def build_of(recorded: Recorded, image: str, stack: str) -> Build:
    """The build that produces ``image`` (a tag, or a tag pinned by digest)."""
    tag = image.split("@")[0]
    found = [b for b in builds(recorded) if tag in b.tags]
    if not found:
        raise AssertionError(f"the {stack} stack runs {image}, but `pulumi up` does not build it")
    return found[0]
