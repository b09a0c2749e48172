"""NetworkPolicy semantics (networking.k8s.io/v1), enough to ask "may this pod connect there?" of the
policies a stack declares. Policies add up: a connection is allowed when no policy of its kind selects the
pod, or when one rule of a selecting policy admits the peer and the port. ``ipBlock`` is applied to any
address, pod addresses included (the portable reading: some plugins do, Cilium does not), which is why the
policies keep the cluster's own networks in ``except``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Manifest = dict[str, Any]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a pod (namespace and labels) or any other address (namespace None)."""

    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


def allowed(
    policies: list[Manifest],
    direction: Literal["Ingress", "Egress"],
    pod: Endpoint,
    peer: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether ``pod`` may send to (Egress) or receive from (Ingress) ``peer`` on ``port``."""
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"]["policyTypes"]
        and _matches(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return any(
        _rule_admits(rule, peers_key, p["metadata"]["namespace"], peer, port, protocol)
        for p in selecting
        for rule in p["spec"].get(key, [])
    )


def _rule_admits(
    rule: Manifest, peers_key: str, policy_namespace: str, peer: Endpoint, port: int, protocol: str
) -> bool:
    ports = rule.get("ports")
    if ports is not None and not any(
        p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports
    ):
        return False
    peers = rule.get(peers_key)
    return peers is None or any(_peer_matches(p, policy_namespace, peer) for p in peers)


def _peer_matches(selector: Manifest, policy_namespace: str, peer: Endpoint) -> bool:
    if "ipBlock" in selector:
        address = ipaddress.ip_address(peer.ip)
        block = selector["ipBlock"]
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if peer.namespace is None:
        return False  # selectors name pods only
    namespaces = selector.get("namespaceSelector")
    if namespaces is None:
        in_namespace = peer.namespace == policy_namespace
    else:
        in_namespace = _matches(namespaces, {NAMESPACE_NAME_LABEL: peer.namespace})
    pods = selector.get("podSelector")
    return in_namespace and (pods is None or _matches(pods, peer.labels))


def _matches(selector: Manifest, labels: Mapping[str, str]) -> bool:
    if set(selector) - {"matchLabels"}:
        raise NotImplementedError(f"selector not modelled: {selector}")
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
