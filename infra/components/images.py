"""Gateway and tool router images: built and pushed from this checkout, or taken from config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Build context; Pulumi runs the program with cwd = infra/, so relative paths would be wrong."""
GATEWAY_REPOSITORY = "mcp-gateway"
ROUTER_REPOSITORY = "mcp-toolrouter"


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
    credentials: RegistryCredentials | None = None
    """None: docker's own credential store (``docker login`` / ``az acr login``)."""
    platform: str = "linux/amd64"


class Images(pulumi.ComponentResource):
    """``gateway`` and ``router`` are image references; built images are pinned by digest."""

    gateway: pulumi.Output[str]
    router: pulumi.Output[str]

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:images:Images", name, None, opts)
        if args.build:
            self.gateway = self._build(f"{name}-gateway", "gateway.Dockerfile", GATEWAY_REPOSITORY, args)
            self.router = self._build(f"{name}-router", "toolrouter.Dockerfile", ROUTER_REPOSITORY, args)
        else:
            self.gateway = _ref(args.gateway_ref, args.registry, GATEWAY_REPOSITORY, args.tag)
            self.router = _ref(args.router_ref, args.registry, ROUTER_REPOSITORY, args.tag)
        self.register_outputs({"gateway": self.gateway, "router": self.router})

    def _build(self, name: str, dockerfile: str, repository: str, args: ImagesArgs) -> pulumi.Output[str]:
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
        image = docker_build.Image(
            name,
            context=docker_build.BuildContextArgs(location=str(REPO_ROOT)),
            dockerfile=docker_build.DockerfileArgs(location=str(REPO_ROOT / "docker" / dockerfile)),
            platforms=[docker_build.Platform(args.platform)],
            tags=[pulumi.Output.concat(args.registry, f"/{repository}:{args.tag}")],
            push=True,
            registries=registries,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return image.ref


def _ref(explicit: str | None, registry: pulumi.Input[str], repository: str, tag: str) -> pulumi.Output[str]:
    if explicit:
        return pulumi.Output.from_input(explicit)
    return pulumi.Output.concat(registry, f"/{repository}:{tag}")
