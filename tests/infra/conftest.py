"""Stack builds shared by the infra tests (each build takes well under a second under mocks)."""

from __future__ import annotations

import pytest

from infra.config import StackConfig, parse_config
from tests.infra.mocks import Recorded, run_stack

ENTRA_CLIENT_ID = "22222222-3333-4444-5555-666666666666"


def azure_config(**azure: object) -> StackConfig:
    return parse_config(
        "azure",
        workloads={"gatewayReplicas": 3},
        images={"build": False, "tag": "1.2.3"},
        azure={"label": "unittest", "entraClientId": ENTRA_CLIENT_ID, "nodeCount": 3, **azure},
        local=None,
    )


def local_config() -> StackConfig:
    return parse_config(
        "local",
        workloads={"gatewayReplicas": 1},
        images={"registry": "localhost:5001", "tag": "dev"},
        azure=None,
        local={"kubeContext": "kind-unit"},
    )


@pytest.fixture(scope="module")
def azure_stack() -> Recorded:
    return run_stack(azure_config())


@pytest.fixture(scope="module")
def local_stack() -> Recorded:
    return run_stack(local_config(), stack="local")
