"""Schemathesis against a real gateway process: the API does what its OpenAPI document says.

The document is the committed ``openapi/mcp-gateway.openapi.json``, which is what the gateway serves at
``/openapi.json`` (checked below, and ``tests/unit/test_openapi.py`` checks it is what the app generates);
it is loaded at collection time because schemathesis' fixture-based lazy loading does not work with
pytest 9. Every operation is exercised with the
document's examples, generated valid and invalid data, and the coverage phase's boundary values and
unexpected methods, as an admin. No answer may be a 5xx or break the document (status code, content
type, body schema, headers, ``Allow`` on 405), and invalid data must be refused.

The document's examples point at servers on 127.0.0.1, so some creates are real resources (checked after
the module's last test: at least one 201 happened). Processes are not: the gateway runs with an empty
``PATH``, so no generated ``command`` is found (a 400), and a command with a path in it is never sent. The
module runs without pytest-xdist (marker ``serial``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import REPO

pytestmark = [pytest.mark.slow, pytest.mark.serial]

ADMIN = {"X-Dev-UserId": "fuzzer", "X-Dev-Roles": "mcp.admin"}
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
]
CONFIG = {
    "headers": ADMIN,
    "generation": {"max-examples": 30, "database": "none", "mode": "all"},
    "phases": {
        "examples": {"enabled": True},
        "fuzzing": {"enabled": True},
        "coverage": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "checks": {
        "enabled": False,
        **{name: {"enabled": True} for name in CHECKS},
        # Refusing invalid data includes 413: a generated body over MCPGW_SERVER__MAX_BODY_BYTES (1 MiB) is
        # refused for its size before its content is looked at (documented on every write).
        "negative_data_rejection": {
            "enabled": True,
            "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"],
        },
    },
}

operations: Counter[str] = Counter()
creates: Counter[int] = Counter()
"""Statuses of the POSTs to the collections."""


@pytest.fixture(scope="module", autouse=True)
def the_fuzzer_created_real_resources() -> Iterator[None]:
    """Checked after the module's last test, so every case has run: the document's examples are servers on
    127.0.0.1, and at least one of them must have become a real resource (201)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.fail("schemathesis' pytest integration runs only the first operation in a pytest-xdist worker: run "
                    "this module without -n (make test runs the 'serial' tests in a second, plain pytest run)")
    yield
    if operations:
        assert creates[201] >= 1, f"no create succeeded; statuses of the creates: {dict(creates)}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("schemathesis")
    no_commands = root / "empty-path"
    no_commands.mkdir()
    process = GatewayProcess(root / "gw", env={"PATH": str(no_commands)}).start()
    yield process
    process.stop()


DOCUMENT = REPO / "openapi" / "mcp-gateway.openapi.json"
schema = schemathesis.openapi.from_path(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))


def test_the_gateway_serves_the_committed_document(gateway: GatewayProcess) -> None:
    served = httpx.get(f"{gateway.url}/openapi.json").json()
    committed = json.loads(DOCUMENT.read_text())
    assert served == {key: value for key, value in committed.items() if key != "servers"}


@schema.parametrize()
def test_the_gateway_does_what_its_document_says(case: Case, gateway: GatewayProcess) -> None:
    if _names_a_program_by_path(case.body):
        return  # an empty PATH cannot stop "/bin/sh"; nothing the fuzzer makes up may run here
    response = case.call_and_validate(base_url=gateway.url)
    operations[f"{case.method.upper()} {case.path}"] += 1
    if case.method.upper() == "POST" and case.path in ("/adapters", "/tools"):
        creates[response.status_code] += 1


def _names_a_program_by_path(body: Any) -> bool:
    command = body.get("command") if isinstance(body, dict) else None
    return isinstance(command, str) and "/" in command




def test_the_document_describes_no_fastapi_422() -> None:
    document = json.loads(DOCUMENT.read_text())
    responses = [op["responses"] for item in document["paths"].values() for op in item.values()]
    assert responses and not any("422" in r for r in responses)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["paths"]["/adapters"]["post"]["responses"]["400"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
