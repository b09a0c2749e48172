"""Pulumi mocks that record every registration and invoke and fake Azure's computed outputs.

Use :func:`run_stack`: it installs fresh mocks *before* the program builds, runs ``build`` inside
``@pulumi.runtime.test`` (which waits for every outstanding registration) and returns what was recorded,
so assertions run synchronously on complete data.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pulumi.runtime import rpc

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"
SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
TENANT = "tenant-0000"
DEPLOYER_OBJECT_ID = "deployer-object-id"
ISSUER = "https://westus3.oic.prod-aks.azure.com/tenant/issuer/"
ENTRA_APP_CLIENT_ID = "99999999-8888-7777-6666-555555555555"
"""What Entra assigns to an app registration the stack creates (``azure.entraApp: create``)."""
ENTRA_APP_OBJECT_ID = "entra-app-object-id"


@dataclass
class Registration:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str
    secret_inputs: frozenset[str] = frozenset()
    """The top-level inputs that hold a Pulumi secret (anywhere inside them)."""


@dataclass
class Recorded:
    resources: list[Registration]
    calls: list[str]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_part: str = "") -> Registration:
        found = [r for r in self.of_type(typ) if name_part in r.name]
        assert len(found) == 1, f"expected one {typ} matching {name_part!r}, got {[r.name for r in found]}"
        return found[0]

    def k8s(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.k8s_docs():
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
        raise AssertionError(f"no {kind}/{name} declared")

    def k8s_docs(self) -> list[dict[str, Any]]:
        return [r.inputs for r in self.resources if r.typ.startswith("kubernetes:") and "kind" in r.inputs]


def unwrap(value: Any) -> Any:
    """Strip Pulumi's secret wrappers and turn integral floats back into ints (the wire has no ints)."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _holds_secret(value: Any) -> bool:
    if _is_secret(value):
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registration] = []
        self.raw: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.raw.append(args)
        secret_inputs = frozenset(key for key, value in args.inputs.items() if _holds_secret(value))
        self.resources.append(
            Registration(args.typ, args.name, unwrap(args.inputs), args.provider or "", secret_inputs)
        )
        outputs = dict(args.inputs)
        name = _azure_name(args.typ, args.inputs) or args.name
        rid = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/{args.typ}/{name}"
        if args.typ == "azuread:index/applicationRegistration:ApplicationRegistration":
            rid = f"/applications/{ENTRA_APP_OBJECT_ID}"  # what the other application_* resources refer to
        outputs["name"] = name
        outputs.update(_computed(args.typ, name, args.inputs))
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append(args.token)
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "cli",
                "objectId": DEPLOYER_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION,
                "tenantId": TENANT,
            }
        if args.token == "azure-native:authorization:getClientToken":
            return {"token": "aad-access-token"}
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(KUBECONFIG.encode()).decode()}]}
        if args.token == "azure-native:cosmosdb:listDatabaseAccountKeys":
            return {
                "primaryMasterKey": "cosmos-primary-key",
                "secondaryMasterKey": "k2",
                "primaryReadonlyMasterKey": "k3",
                "secondaryReadonlyMasterKey": "k4",
            }
        raise NotImplementedError(f"unexpected invoke {args.token}")


_NAME_KEYS = (
    "virtualNetworkName",
    "subnetName",
    "publicIpAddressName",
    "resourceName",
    "registryName",
    "accountName",
    "workspaceName",
    "applicationGatewayName",
    "databaseName",
    "containerName",
    "privateEndpointName",
    "privateZoneName",
)


def _azure_name(typ: str, inputs: dict[str, Any]) -> str | None:
    if not typ.startswith("azure-native:"):
        return None
    # The most specific name key wins (a container also carries its account and database names).
    specific = {
        "azure-native:cosmosdb:SqlResourceSqlContainer": "containerName",
        "azure-native:cosmosdb:SqlResourceSqlDatabase": "databaseName",
        "azure-native:network:Subnet": "subnetName",
        "azure-native:keyvault:Vault": "vaultName",
        "azure-native:keyvault:Secret": "secretName",
        "azure-native:privatedns:VirtualNetworkLink": "virtualNetworkLinkName",
    }
    key = specific.get(typ)
    if key:
        return str(inputs.get(key))
    if typ.endswith(":ResourceGroup"):
        return str(inputs.get("resourceGroupName"))
    return next((str(inputs[k]) for k in _NAME_KEYS if k in inputs), None)


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if typ == "azure-native:containerservice:ManagedCluster":
        return {
            "identity": {"type": "SystemAssigned", "principalId": "aks-principal"},
            "identityProfile": {"kubeletidentity": {"objectId": "kubelet-object-id", "clientId": "kubelet"}},
            "oidcIssuerProfile": {"enabled": True, "issuerURL": ISSUER},
        }
    if typ == "azure-native:containerregistry:Registry":
        return {"loginServer": f"{name}.azurecr.io"}
    if typ == "azure-native:cosmosdb:DatabaseAccount":
        return {"documentEndpoint": f"https://{name}.documents.azure.com:443/"}
    if typ == "azure-native:managedidentity:UserAssignedIdentity":
        return {"clientId": f"{name}-client-id", "principalId": f"{name}-principal-id"}
    if typ == "azure-native:network:PublicIPAddress":
        label = inputs.get("dnsSettings", {}).get("domainNameLabel", "x")
        return {"dnsSettings": {**inputs.get("dnsSettings", {}), "fqdn": f"{label}.westus3.cloudapp.azure.com"}}
    if typ == "azuread:index/applicationRegistration:ApplicationRegistration":
        return {"clientId": ENTRA_APP_CLIENT_ID, "objectId": ENTRA_APP_OBJECT_ID}
    if typ == "azure-native:applicationinsights:Component":
        return {"connectionString": "InstrumentationKey=ikey;IngestionEndpoint=https://in.example/"}
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": f"generated-{name}"}
    if typ == "random:index/randomBytes:RandomBytes":
        data = _random_bytes(name, int(inputs["length"]))
        return {"base64": base64.b64encode(data).decode(), "hex": data.hex()}
    if typ == "random:index/randomUuid:RandomUuid":
        return {"result": "11111111-2222-3333-4444-555555555555"}
    if typ == "random:index/randomString:RandomString":
        return {"result": "a1b2c3"[: int(inputs["length"])]}
    if typ == "tls:index/privateKey:PrivateKey":
        return {"privateKeyPem": _test_key_pem()}
    if typ == "tls:index/selfSignedCert:SelfSignedCert":
        return {"certPem": _self_signed_pem(inputs["subject"]["commonName"], inputs["dnsNames"])}
    if typ == "azure-native:network:ApplicationGateway":
        # Azure takes a list of identity ids and answers with a map of id -> principal.
        ids = inputs["identity"]["userAssignedIdentities"]
        return {"identity": {**inputs["identity"], "userAssignedIdentities": {i: {"principalId": "p"} for i in ids}}}
    if typ == "azure-native:keyvault:Vault":
        return {"properties": {**unwrap(inputs["properties"]), "vaultUri": f"https://{name}.vault.azure.net/"}}
    if typ == "azure-native:keyvault:Secret":
        vault = inputs["vaultName"]
        return {"properties": {**unwrap(inputs["properties"]), "secretUri": f"https://{vault}.vault.azure.net/secrets/{name}"}}
    if typ == "docker-build:index:Image":
        return {"ref": f"{inputs['tags'][0]}@sha256:abc", "digest": "sha256:abc"}
    return {}


def _random_bytes(name: str, length: int) -> bytes:
    return hashlib.shake_256(name.encode()).digest(length)


def random_bytes_base64(name: str, length: int = 32) -> str:
    """What the mocked ``RandomBytes`` named ``name`` returns as ``base64``: fixed bytes of that length."""
    return base64.b64encode(_random_bytes(name, length)).decode()


@functools.cache
def _test_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _test_key_pem() -> str:
    """What the tls provider returns: a PKCS#1 PEM."""
    return (
        _test_key()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        .decode()
    )


def _self_signed_pem(common_name: str, dns_names: list[str]) -> str:
    """A real certificate like the tls provider's, so tests can open the PFX the program builds from it."""
    key = _test_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def run_stack(cfg: Any, stack: str = "dev") -> Recorded:
    """Build the program for ``cfg`` under fresh mocks and return everything it declared."""
    # Pulumi's test runner uses the thread's current event loop; async tests that ran before may have
    # closed it and left none, so give the main thread a fresh one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mcp-gateway", stack=stack, preview=False)
    from infra.stack import build  # the program module creates nothing at import time

    recorded = Recorded(mocks.resources, mocks.calls)

    @pulumi.runtime.test
    def _build() -> pulumi.Output[Any]:
        out = build(cfg)
        values = {
            "gatewayUrl": out.gateway_url,
            "registryLoginServer": out.registry_login_server,
            "kubeconfig": out.kubeconfig,
            **{key: pulumi.Output.from_input(value) for key, value in out.entra_app.items()},
            # What `pulumi stack output --json` adds for `python -m infra.render --values`.
            **{key: pulumi.Output.from_input(value) for key, value in out.render_values.items()},
        }
        secret_checks = [
            pulumi.Output.from_input(v.is_secret()).apply(lambda s, k=k: recorded.secret_outputs.add(k) if s else None)
            for k, v in values.items()
        ]
        return pulumi.Output.all(*values.values(), *secret_checks).apply(
            lambda vals: recorded.outputs.update(zip(values, vals, strict=False))
        )

    _build()
    return recorded
