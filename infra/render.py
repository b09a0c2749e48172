"""Write a stack's Kubernetes objects as plain YAML, for ``kubectl apply``, without Pulumi or Azure.

    python -m infra.render --stack local -o k8s/
    python -m infra.render --stack dev --values values.json -o k8s/

The objects come from the program's own builders (infra/workload_spec.py, infra/components/manifests.py)
fed with the stack file (``Pulumi.<stack>.yaml``) and, for Azure stacks, the values only the cloud knows,
read from ``--values`` (YAML or JSON: ``pulumi stack output --json`` is one). Secrets the program generates
or reads from Azure are written as ``REPLACE_ME_*`` placeholders unless the values file gives them or
``--generate-secrets`` is passed. See docs/kubernetes.md, "Manifests without Pulumi".
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import SEAL_KEY_BYTES
from infra.components import manifests
from infra.components.cluster import ClusterArgs
from infra.components.images import GATEWAY_REPOSITORY, ROUTER_REPOSITORY
from infra.config import PROJECT, AzureConfig, ConfigError, LocalConfig, StackConfig, parse_config
from infra.workload_spec import (
    AZURE_SECRET_KEYS,
    AZURE_VALUE_KEYS,
    AzureValues,
    ImageRefs,
    azure_spec,
    local_spec,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_PREFIX = "REPLACE_ME_"
APPLY_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "Deployment",
    "StatefulSet",
    "NetworkPolicy",
    "PodDisruptionBudget",
)
"""What must exist before what: pods start with envFrom of the ConfigMap and Secret, Roles before bindings."""
IMAGE_KEYS = {"gatewayImage": "gateway", "routerImage": "router", "bridgeImage": "bridge"}
"""Optional: image references pinned by digest, as ``pulumi up`` deploys images it builds."""
REDACTED = "[secret]"
"""What ``pulumi stack output --json`` prints for a secret output without ``--show-secrets``."""
VALUE_HELP = {
    "registryLoginServer": "the ACR login server (stack output registryLoginServer)",
    "gatewayUrl": "the public URL, https://<host> (stack output gatewayUrl)",
    "tenantId": "the Entra tenant id (stack output tenantId, or azure.tenantId in the stack file)",
    "entraClientId": "the Entra app's client id (stack output entraClientId, or azure.entraClientId)",
    "cosmosEndpoint": "the Cosmos DB document endpoint (stack output cosmosEndpoint)",
    "gatewayClientId": "the gateway managed identity's client id (stack output gatewayClientId)",
    "workloadClientId": "the workloads managed identity's client id (stack output workloadClientId)",
}


class MissingValuesError(ConfigError):
    """Values an Azure stack needs are absent; the message lists each with where to find it."""

    def __init__(self, missing: Sequence[str]) -> None:
        lines = [f"  {key}: {VALUE_HELP.get(key, '')}" for key in missing]
        super().__init__("the values file lacks what only the deployed Azure resources know:\n" + "\n".join(lines))
        self.missing = list(missing)


@dataclass(frozen=True)
class Rendered:
    docs: list[manifests.Manifest]
    """In apply order."""
    placeholders: list[str]
    """The values keys of secrets written as ``REPLACE_ME_*`` placeholders."""


def load_stack_file(path: Path) -> StackConfig:
    """Parse ``Pulumi.<stack>.yaml`` the way :func:`infra.config.load_config` reads it under Pulumi."""
    raw = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    ours = {key.removeprefix(f"{PROJECT}:"): value for key, value in raw.items() if key.startswith(f"{PROJECT}:")}
    if "target" not in ours:
        raise ConfigError(f"{path}: {PROJECT}:target is not set")
    return parse_config(
        ours["target"],
        workloads=ours.get("workloads") or {},
        images=ours.get("images") or {},
        azure=ours.get("azure"),
        local=ours.get("local"),
    )


def load_values(path: Path | None) -> dict[str, str]:
    """A values file (YAML or JSON). Redacted secrets (``[secret]``) count as absent."""
    if path is None:
        return {}
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"{path}: a values file is a mapping of key: value")
    return {str(k): str(v) for k, v in loaded.items() if v is not None and v != REDACTED}


def render(cfg: StackConfig, values: Mapping[str, str], *, generate_secrets: bool = False) -> Rendered:
    """Every object the program would create for ``cfg``, in apply order."""
    # The secrets the program generates (random provider); --generate-secrets does the same here. sealKeys is the
    # whole keyring (MCPGW_SESSIONS__SEAL_KEYS): `k1:<base64 of 32 bytes>`, one key per workloads.sealKeyIds.
    generators: dict[str, Callable[[], str]] = {
        "routerSecret": lambda: secrets.token_urlsafe(32),
        "sealKeys": lambda: random_keyring(cfg.workloads.seal_key_ids),
    }
    secret_values = _SecretValues(values, generators if generate_secrets else {})
    if cfg.azure is not None:
        spec = _azure_spec(cfg, cfg.azure, values, secret_values)
    elif cfg.local is not None:
        spec = _local_spec(cfg, cfg.local, values, secret_values)
    else:
        raise ConfigError("stack config has neither an azure nor a local section")
    docs = sorted(manifests.build_manifests(spec), key=lambda doc: APPLY_ORDER.index(doc["kind"]))
    return Rendered(docs=docs, placeholders=secret_values.placeholders)


def random_keyring(key_ids: Sequence[str]) -> str:
    """A keyring as the program generates it: a random 32-byte key per id, in order."""
    return ",".join(f"{kid}:{base64.b64encode(secrets.token_bytes(SEAL_KEY_BYTES)).decode()}" for kid in key_ids)


class _SecretValues:
    """Secret values from the values file, generated when asked (``generators``), else placeholders (recorded)."""

    def __init__(self, values: Mapping[str, str], generators: Mapping[str, Callable[[], str]]) -> None:
        self._values = values
        self._generators = generators
        self.placeholders: list[str] = []

    def get(self, key: str) -> str:
        if key in self._values:
            return self._values[key]
        if key in self._generators:
            return self._generators[key]()
        self.placeholders.append(key)
        return PLACEHOLDER_PREFIX + _upper_snake(key)


def _upper_snake(camel: str) -> str:
    return "".join(f"_{c}" if c.isupper() else c.upper() for c in camel)


def _image_refs(cfg: StackConfig, registry: str, values: Mapping[str, str]) -> ImageRefs:
    """As infra/components/images.py names them when it does not build; built images are pinned by digest,
    which only the values file can give (``gatewayImage``, ...)."""
    images = cfg.images
    defaults = {
        "gateway": images.gateway or f"{registry}/{GATEWAY_REPOSITORY}:{images.tag}",
        "router": images.router or f"{registry}/{ROUTER_REPOSITORY}:{images.tag}",
        "bridge": images.bridge,
    }
    return ImageRefs(**{name: values.get(key, defaults[name]) for key, name in IMAGE_KEYS.items()})


def _azure_spec(
    cfg: StackConfig, az: AzureConfig, values: Mapping[str, str], secret_values: _SecretValues
) -> manifests.WorkloadSpec:
    from_config = {"tenantId": az.tenant_id, "entraClientId": az.entra_client_id}
    given = {key: values.get(key) or from_config.get(key) for key in AZURE_VALUE_KEYS}
    missing = [key for key, value in given.items() if not value]
    if missing:
        raise MissingValuesError(missing)
    plain: dict[str, Any] = {AZURE_VALUE_KEYS[key]: value for key, value in given.items()}
    # With identities the account's keys are disabled and the gateway has none, as in the program.
    wanted = {k: n for k, n in AZURE_SECRET_KEYS.items() if not (n == "cosmos_key" and az.cosmos_use_identities)}
    secret: dict[str, Any] = {"cosmos_key": None} | {name: secret_values.get(key) for key, name in wanted.items()}
    # The program's AKS overlay (infra/components/cluster.py): not configurable, so the same here.
    overlay = [ClusterArgs.pod_cidr, ClusterArgs.service_cidr]
    azure_values = AzureValues(**plain, **secret, overlay_cidrs=overlay)
    images = _image_refs(cfg, plain["registry"], values)
    return azure_spec(
        cfg,
        az,
        images,
        azure_values,
        router_secret=secret_values.get("routerSecret"),
        seal_keys=secret_values.get("sealKeys"),
    )


def _local_spec(
    cfg: StackConfig, local: LocalConfig, values: Mapping[str, str], secret_values: _SecretValues
) -> manifests.WorkloadSpec:
    return local_spec(
        cfg,
        local,
        _image_refs(cfg, cfg.images.registry or "", values),
        router_secret=secret_values.get("routerSecret"),
        seal_keys=secret_values.get("sealKeys"),
    )


def file_name(index: int, doc: manifests.Manifest) -> str:
    """Numbered, so ``kubectl apply -f DIR`` (which reads a directory in name order) keeps the apply order."""
    return f"{index:02d}-{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"


def write(rendered: Rendered, directory: Path) -> list[Path]:
    """One file per object; refuses a non-empty directory, so no object of an older render lingers."""
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty; render into a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, doc in enumerate(rendered.docs, start=1):
        path = directory / file_name(index, doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("-o", "--output", required=True, type=Path, help="new or empty directory to write to")
    parser.add_argument("--values", type=Path, help="YAML/JSON values, e.g. `pulumi stack output --json`")
    parser.add_argument("--stack-file", type=Path, help="default: Pulumi.<stack>.yaml at the repository root")
    parser.add_argument(
        "--generate-secrets",
        action="store_true",
        help="write a random router secret and session seal keys instead of placeholders (they land in clear)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stack_file = args.stack_file or REPO_ROOT / f"Pulumi.{args.stack}.yaml"
    try:
        rendered = render(load_stack_file(stack_file), load_values(args.values), generate_secrets=args.generate_secrets)
        paths = write(rendered, args.output)
    except (ConfigError, FileExistsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - a CLI's report
        return 2
    print(f"wrote {len(paths)} objects to {args.output}")  # noqa: T201
    if rendered.placeholders:
        keys = ", ".join(rendered.placeholders)
        print(  # noqa: T201
            f"Secrets hold placeholders for {keys}: replace each REPLACE_ME_* value before applying "
            "(or pass them in --values, or --generate-secrets for the generated ones)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
