"""The gateway, tool router and bridge images: built and pushed from this checkout, or taken from config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

if TYPE_CHECKING:
    import pulumi_docker_build as docker_build

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Build context; Pulumi runs the program with cwd = infra/, so relative paths would be wrong."""
GATEWAY_REPOSITORY = "mcp-gateway"
ROUTER_REPOSITORY = "mcp-toolrouter"


@dataclass(frozen=True)
class BuildSpec:
    """A Dockerfile and its build context, relative to the repository root. docs/deploy.md's manual
    ``docker build`` commands use the same paths (tests/infra/test_images.py compares them)."""

    dockerfile: str
    context: str = "."


GATEWAY_BUILD = BuildSpec("docker/gateway.Dockerfile")
ROUTER_BUILD = BuildSpec("docker/toolrouter.Dockerfile")
BRIDGE_BUILD = BuildSpec("sample-servers/mcp-proxy/Dockerfile")
"""The stdio bridge, in which the gateway's Kubernetes runtime runs ``command`` adapters. Its context is the
repository root too: the image installs the mcp-gateway distribution (python -m bridge)."""


@dataclass(frozen=True)
class RegistryCredentials:
    username: pulumi.Input[str]
    password: pulumi.Input[str]


@dataclass(frozen=True)
class ImagesArgs:
    registry: pulumi.Input[str]
    """Login server the images are pushed to (ACR, or kind's local registry)."""
    tag: str
    build: bool
    gateway_ref: str | None = None
    router_ref: str | None = None
    bridge: str = "mcp-proxy:latest"
    """The bridge image under ``registry`` (``name:tag``), as the gateway's runtime setting names it."""
    credentials: RegistryCredentials | None = None
    """None: docker's own credential store (``docker login`` / ``az acr login``)."""
    platform: str | None = "linux/amd64"
    """None: the platform of the machine that builds (kind's nodes run on it)."""


class Images(pulumi.ComponentResource):
    """``gateway`` and ``router`` are image references; ``bridge`` is the bridge image under the registry (the
    runtime adds the registry). Built images are pinned by digest."""

    gateway: pulumi.Output[str]
    router: pulumi.Output[str]
    bridge: pulumi.Output[str]

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:images:Images", name, None, opts)
        if args.build:
            self.gateway = self._build(f"{name}-gateway", GATEWAY_BUILD, f"{GATEWAY_REPOSITORY}:{args.tag}", args).ref
            self.router = self._build(f"{name}-router", ROUTER_BUILD, f"{ROUTER_REPOSITORY}:{args.tag}", args).ref
            bridge = self._build(f"{name}-bridge", BRIDGE_BUILD, args.bridge, args)
            # Every adapter pod then runs the bridge this deployment built, whatever a node has cached.
            self.bridge = bridge.digest.apply(lambda digest: f"{args.bridge}@{digest}")
        else:
            self.gateway = _ref(args.gateway_ref, args.registry, GATEWAY_REPOSITORY, args.tag)
            self.router = _ref(args.router_ref, args.registry, ROUTER_REPOSITORY, args.tag)
            self.bridge = pulumi.Output.from_input(args.bridge)
        self.register_outputs({"gateway": self.gateway, "router": self.router, "bridge": self.bridge})

    def _build(self, name: str, spec: BuildSpec, image: str, args: ImagesArgs) -> docker_build.Image:
        """Build ``spec`` and push it as ``<registry>/<image>``; returns the docker-build Image."""
        # Imported here so stacks that take image references don't need the docker-build provider.
        import pulumi_docker_build as docker_build

        registries = None
        if args.credentials is not None:
            registries = [
                docker_build.RegistryArgs(
                    address=args.registry,
                    username=args.credentials.username,
                    password=args.credentials.password,
                )
            ]
        return docker_build.Image(
            name,
            context=docker_build.BuildContextArgs(location=str(REPO_ROOT / spec.context)),
            dockerfile=docker_build.DockerfileArgs(location=str(REPO_ROOT / spec.dockerfile)),
            platforms=[docker_build.Platform(args.platform)] if args.platform else None,
            tags=[pulumi.Output.concat(args.registry, f"/{image}")],
            push=True,
            registries=registries,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _ref(explicit: str | None, registry: pulumi.Input[str], repository: str, tag: str) -> pulumi.Output[str]:
    if explicit:
        return pulumi.Output.from_input(explicit)
    return pulumi.Output.concat(registry, f"/{repository}:{tag}")
