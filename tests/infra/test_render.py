"""``python -m infra.render``: the program's Kubernetes objects as plain YAML, without Pulumi or Azure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import render
from infra.components import manifests
from infra.config import StackConfig
from infra.workload_spec import AZURE_VALUE_KEYS
from tests.infra.conftest import COMMITTED_STACKS, ROOT, load_stack_file
from tests.infra.mocks import Recorded, random_bytes_base64

MOCKED_SECRETS = {
    "routerSecret": "generated-router-secret",
    "sealKeys": f"k1:{random_bytes_base64('seal-key-k1')}",
    "appInsightsConnectionString": "InstrumentationKey=ikey;IngestionEndpoint=https://in.example/",
}
"""What the mocks return for the random passwords and bytes and App Insights (tests/infra/mocks.py)."""


def stack_output_values(recorded: Recorded, cfg: StackConfig) -> dict[str, str]:
    """The values file an operator gets: the program's exports, plus the image digests `pulumi up` pinned."""
    values = {key: str(value) for key, value in recorded.outputs.items() if key in AZURE_VALUE_KEYS}
    for build in recorded.of_type("docker-build:index:Image"):
        ref = f"{build.inputs['tags'][0]}@sha256:abc"  # the mocked build's digest
        for key, repository in (("gatewayImage", "/mcp-gateway:"), ("routerImage", "/mcp-toolrouter:")):
            if repository in ref:
                values[key] = ref
    if cfg.images.build:
        values["bridgeImage"] = f"{cfg.images.bridge}@sha256:abc"
    return {**values, **MOCKED_SECRETS}


def by_identity(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_the_render_declares_exactly_the_objects_of_the_mocked_program(
    stack: str, committed_stacks: dict[str, Recorded]
) -> None:
    cfg = load_stack_file(stack, **COMMITTED_STACKS[stack])
    recorded = committed_stacks[stack]
    rendered = render.render(cfg, stack_output_values(recorded, cfg))
    expected = by_identity(recorded.k8s_docs())
    actual = by_identity(rendered.docs)
    assert sorted(actual) == sorted(expected)
    for identity, doc in expected.items():
        assert actual[identity] == doc, identity
    assert rendered.placeholders == []


def test_the_local_stack_renders_without_values_with_secret_placeholders(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    assert render.main(["--stack", "local", "-o", str(out)]) == 0
    docs = [yaml.safe_load(p.read_text()) for p in sorted(out.iterdir())]
    kinds = [d["kind"] for d in docs]
    assert kinds == sorted(kinds, key=render.APPLY_ORDER.index)  # file names keep the apply order
    assert kinds[:2] == ["Namespace", "Namespace"] and "StatefulSet" in kinds
    secrets = by_identity(docs)
    gateway = secrets[("Secret", "mcp-gateway", manifests.APP_SECRET)]["stringData"]
    assert gateway["MCPGW_ROUTER__SECRET"] == "REPLACE_ME_ROUTER_SECRET"
    assert gateway["MCPGW_SESSIONS__SEAL_KEYS"] == "REPLACE_ME_SEAL_KEYS"
    assert not [name for (_, _, name) in secrets if "redis" in name]
    image = secrets[("Deployment", "mcp-gateway", manifests.GATEWAY)]["spec"]["template"]["spec"]["containers"][0]
    assert image["image"] == "localhost:5001/mcp-gateway:dev"


def test_generated_secrets_replace_the_placeholders_only_when_asked() -> None:
    cfg = load_stack_file("local")
    rendered = render.render(cfg, {}, generate_secrets=True)
    assert rendered.placeholders == []
    assert "REPLACE_ME" not in yaml.safe_dump_all(rendered.docs)


def test_an_azure_stack_without_values_lists_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    raw = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    raw["config"]["mcp-gateway:azure"]["entraClientId"] = "app-client-id"
    stack_file.write_text(yaml.safe_dump(raw))
    values = tmp_path / "values.json"
    # `pulumi stack output --json` without --show-secrets: a redacted value is no value.
    values.write_text('{"registryLoginServer": "mcpgwdev.azurecr.io", "cosmosEndpoint": "[secret]"}')
    argv = ["--stack", "dev", "--stack-file", str(stack_file), "--values", str(values), "-o", str(tmp_path / "o")]
    assert render.main(argv) == 2
    error = capsys.readouterr().err
    for key in ("gatewayUrl", "tenantId", "cosmosEndpoint", "gatewayClientId", "workloadClientId"):
        assert f"  {key}: " in error
    assert "registryLoginServer" not in error and "entraClientId" not in error
    assert not (tmp_path / "o").exists()


def test_the_render_never_writes_into_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text("kind: ConfigMap\n")
    assert render.main(["--stack", "local", "-o", str(tmp_path)]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["old.yaml"]
