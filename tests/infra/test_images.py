"""`pulumi up` builds every image it deploys, the bridge included, and docs/deploy.md's manual commands are the
ones the program runs. (That each image then starts with what the stack gives it: test_image_smoke.py.)"""

from __future__ import annotations

import re
import shlex

import pytest

from infra.components.manifests import GATEWAY
from tests.infra.built_stacks import REPO, STACKS, Build, builds, config_with_builds, render
from tests.infra.conftest import COMMITTED_STACKS, load_stack_file
from tests.infra.mocks import Recorded

DEPLOY_DOC = REPO / "docs" / "deploy.md"
LABEL_PLACEHOLDER = "<label>"


@pytest.fixture(scope="module")
def built() -> dict[str, Recorded]:
    return {stack: render(config_with_builds(stack), stack) for stack in STACKS}


def images_the_stack_runs(stack: Recorded) -> set[str]:
    """Every image under the stack's registry that its pods run, and the one the runtime runs adapters in."""
    registry = stack.outputs["registryLoginServer"]
    pods = {
        container["image"]
        for doc in stack.k8s_docs()
        if doc["kind"] in ("Deployment", "StatefulSet")
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    # What the gateway's runtime runs `command` adapters in: {registry}/{bridge image} (k8s_manifests.image).
    runtime = stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    bridge = f"{runtime['MCPGW_RUNTIME__KUBERNETES__REGISTRY']}/{runtime['MCPGW_RUNTIME__KUBERNETES__BRIDGE_IMAGE']}"
    # Third-party images would come from their own registries (the stacks run none today).
    return {image for image in pods | {bridge} if image.startswith(f"{registry}/")}


@pytest.mark.parametrize("stack", STACKS)
def test_pulumi_up_builds_every_image_the_stack_runs_and_pins_it_by_digest(
    stack: str, built: dict[str, Recorded]
) -> None:
    refs = {f"{tag}@sha256:abc" for build in builds(built[stack]) for tag in build.tags}  # the mocks' digest
    running = images_the_stack_runs(built[stack])
    assert running <= refs, f"deployed but not built by `pulumi up`: {sorted(running - refs)}"
    assert len(running) == 3  # gateway, tool router, bridge


@pytest.mark.parametrize("stack", STACKS)
def test_the_bridge_is_built_from_the_repository_root_under_the_configured_name(
    stack: str, built: dict[str, Recorded]
) -> None:
    cfg = config_with_builds(stack)
    bridge = [b for b in builds(built[stack]) if b.dockerfile == "sample-servers/mcp-proxy/Dockerfile"]
    assert [(b.context, b.tags) for b in bridge] == [(".", (f"{_registry(built[stack])}/{cfg.images.bridge}",))]
    env = built[stack].k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_RUNTIME__KUBERNETES__BRIDGE_IMAGE"] == f"{cfg.images.bridge}@sha256:abc"


@pytest.mark.parametrize("stack", STACKS)
def test_azure_images_are_built_for_the_nodes_platform_and_kind_images_for_the_builders(
    stack: str, built: dict[str, Recorded]
) -> None:
    # AKS nodes are linux/amd64 VMs; kind's nodes are containers on the machine that builds.
    expected = "linux/amd64" if config_with_builds(stack).target == "azure" else None
    assert {b.platform for b in builds(built[stack])} == {expected}


# -- docs/deploy.md ------------------------------------------------------------------------------------------


def documented_commands() -> list[list[str]]:
    """Every ``docker build`` and ``docker push`` in docs/deploy.md's code blocks, as argument lists."""
    commands = []
    for line in _code_lines(DEPLOY_DOC.read_text()):
        for part in re.split(r"\s*&&\s*", line):
            words = shlex.split(part, comments=True)
            if words[:2] in (["docker", "build"], ["docker", "push"]):
                commands.append(words)
    return commands


def _code_lines(markdown: str) -> list[str]:
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line.strip())
    return lines


def as_build(words: list[str]) -> Build:
    """A ``docker build`` command line as the program's build; fails on options the program has no match for."""
    options: dict[str, str] = {}
    positional = []
    rest = iter(words[2:])
    for word in rest:
        if word in ("-f", "--file", "-t", "--tag", "--platform"):
            options[word.lstrip("-")[0]] = next(rest)
        elif word.startswith("-"):
            raise AssertionError(f"`{shlex.join(words)}`: the program passes no {word}")
        else:
            positional.append(word)
    assert len(positional) == 1, f"`{shlex.join(words)}`: one build context expected"
    return Build(
        dockerfile=options.get("f", f"{positional[0]}/Dockerfile"),
        context=positional[0],
        tags=(options["t"],),
        platform=options.get("p"),
    )


def documented_builds(registry: str, label: str = "") -> set[Build]:
    builds_ = {as_build(w) for w in documented_commands() if w[1] == "build"}
    # The Azure commands name the registry through the stack's label: mcpgw<label>.azurecr.io.
    concrete = {_with_label(b, label) for b in builds_}
    return {b for b in concrete if b.tags[0].startswith(f"{registry}/")}


def _with_label(build: Build, label: str) -> Build:
    return Build(build.dockerfile, build.context, (build.tags[0].replace(LABEL_PLACEHOLDER, label),), build.platform)


def _registry(stack: Recorded) -> str:
    return str(stack.outputs["registryLoginServer"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_documented_manual_builds_are_the_programs_builds(stack: str, built: dict[str, Recorded]) -> None:
    cfg = config_with_builds(stack)
    label = cfg.azure.label if cfg.azure is not None else ""
    program = set(builds(built[stack]))
    assert documented_builds(_registry(built[stack]), label) == program


def test_every_documented_build_is_pushed_under_the_tag_it_built() -> None:
    commands = documented_commands()
    built_tags = [as_build(w).tags[0] for w in commands if w[1] == "build"]
    pushed = [w[2] for w in commands if w[1] == "push"]
    assert sorted(built_tags) == sorted(pushed)


def test_the_local_stack_as_committed_runs_the_images_the_manual_commands_build() -> None:
    # Pulumi.local.yaml takes prebuilt images (images.build: false): the documented builds must produce them.
    stack = render(load_stack_file("local", **COMMITTED_STACKS["local"]), "local")
    documented = {tag for build in documented_builds(_registry(stack)) for tag in build.tags}
    assert images_the_stack_runs(stack) == documented
    gateway = stack.k8s("Deployment", GATEWAY)["spec"]["template"]["spec"]["containers"][0]
    assert gateway["image"] in documented
