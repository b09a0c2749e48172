"""Application Gateway (Standard_v2) in front of the gateway's internal load balancer.

HTTPS on 443 with a Key Vault certificate, HTTP on 80 only to redirect there; response buffering off so
MCP's server-sent events reach clients as they are written; the cluster-only paths never forwarded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import network

HEALTH_PATH = "/ping"
CLUSTER_ONLY_PATHS = ("/metrics", "/metrics/*", "/internal", "/internal/*")
"""Prometheus metrics (scraped inside the cluster) and the router's catalog: routed to a pool without
backends, so the App Gateway answers 502 itself and the request never reaches a gateway pod."""
BLACKHOLE_POOL = "cluster-only"
TLS_POLICY = network.ApplicationGatewaySslPolicyName.APP_GW_SSL_POLICY20220101
"""TLS 1.2 and 1.3 only, modern ciphers."""

Ref = Callable[[str, str], network.SubResourceArgs]


@dataclass(frozen=True)
class IngressArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    prefix: str
    subscription_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    public_ip_id: pulumi.Input[str]
    backend_ip: str
    """The internal load balancer IP of ``mcpgateway-service``."""
    certificate_secret_id: pulumi.Input[str]
    """Versionless Key Vault secret id of the listener's certificate."""
    identity_id: pulumi.Input[str]
    """User-assigned identity that may read that secret."""
    backend_port: int = 8000
    min_capacity: int = 1
    max_capacity: int = 2
    zones: Sequence[str] = field(default_factory=list)
    request_timeout_seconds: int = 300
    """MCP responses stream (SSE); a short timeout would cut them."""


class Ingress(pulumi.ComponentResource):
    """Public HTTPS entry (HTTP redirects to it); health probe on ``/ping``."""

    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:Ingress", name, None, opts)
        gw_name = f"{args.prefix}-appgw"
        # Sub-resources reference each other by ARM id, which is known before the gateway exists.
        base = pulumi.Output.concat(
            "/subscriptions/",
            args.subscription_id,
            "/resourceGroups/",
            args.resource_group_name,
            "/providers/Microsoft.Network/applicationGateways/",
            gw_name,
        )

        def ref(kind: str, item: str) -> network.SubResourceArgs:
            return network.SubResourceArgs(id=pulumi.Output.concat(base, f"/{kind}/{item}"))

        gateway = network.ApplicationGateway(
            f"{name}-appgw",
            resource_group_name=args.resource_group_name,
            location=args.location,
            application_gateway_name=gw_name,
            sku=network.ApplicationGatewaySkuArgs(
                name=network.ApplicationGatewaySkuName.STANDARD_V2,
                tier=network.ApplicationGatewayTier.STANDARD_V2,
            ),
            zones=list(args.zones) or None,
            autoscale_configuration=network.ApplicationGatewayAutoscaleConfigurationArgs(
                min_capacity=args.min_capacity, max_capacity=args.max_capacity
            ),
            identity=network.ManagedServiceIdentityArgs(
                type=network.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[args.identity_id]
            ),
            # Buffering the response would hold server-sent events until the stream ends (or the buffer
            # fills); request bodies are small JSON-RPC messages, buffering them is harmless.
            global_configuration=network.ApplicationGatewayGlobalConfigurationArgs(
                enable_request_buffering=True, enable_response_buffering=False
            ),
            ssl_policy=network.ApplicationGatewaySslPolicyArgs(
                policy_type=network.ApplicationGatewaySslPolicyType.PREDEFINED, policy_name=TLS_POLICY
            ),
            ssl_certificates=[
                network.ApplicationGatewaySslCertificateArgs(
                    name="public", key_vault_secret_id=args.certificate_secret_id
                )
            ],
            gateway_ip_configurations=[
                network.ApplicationGatewayIPConfigurationArgs(
                    name="gateway-ip", subnet=network.SubResourceArgs(id=args.subnet_id)
                )
            ],
            frontend_ip_configurations=[
                network.ApplicationGatewayFrontendIPConfigurationArgs(
                    name="public", public_ip_address=network.SubResourceArgs(id=args.public_ip_id)
                )
            ],
            frontend_ports=[
                network.ApplicationGatewayFrontendPortArgs(name="http", port=80),
                network.ApplicationGatewayFrontendPortArgs(name="https", port=443),
            ],
            backend_address_pools=[
                network.ApplicationGatewayBackendAddressPoolArgs(
                    name="gateway",
                    backend_addresses=[
                        network.ApplicationGatewayBackendAddressArgs(ip_address=args.backend_ip)
                    ],
                ),
                network.ApplicationGatewayBackendAddressPoolArgs(name=BLACKHOLE_POOL, backend_addresses=[]),
            ],
            probes=[
                network.ApplicationGatewayProbeArgs(
                    name="gateway-ping",
                    protocol=network.ApplicationGatewayProtocol.HTTP,
                    host=args.backend_ip,
                    path=HEALTH_PATH,
                    interval=15,
                    timeout=10,
                    unhealthy_threshold=3,
                    match=network.ApplicationGatewayProbeHealthResponseMatchArgs(status_codes=["200-399"]),
                )
            ],
            backend_http_settings_collection=[
                network.ApplicationGatewayBackendHttpSettingsArgs(
                    name="gateway-http",
                    port=args.backend_port,
                    protocol=network.ApplicationGatewayProtocol.HTTP,
                    cookie_based_affinity=network.ApplicationGatewayCookieBasedAffinity.DISABLED,
                    request_timeout=args.request_timeout_seconds,
                    probe=ref("probes", "gateway-ping"),
                )
            ],
            http_listeners=_listeners(ref),
            redirect_configurations=[
                network.ApplicationGatewayRedirectConfigurationArgs(
                    name="http-to-https",
                    redirect_type=network.ApplicationGatewayRedirectType.PERMANENT,
                    target_listener=ref("httpListeners", "https"),
                    include_path=True,
                    include_query_string=True,
                )
            ],
            url_path_maps=[_path_map(ref)],
            request_routing_rules=_routing_rules(ref),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.gateway_id = gateway.id
        self.register_outputs({"applicationGatewayId": gateway.id})


def _listeners(ref: Ref) -> list[network.ApplicationGatewayHttpListenerArgs]:
    """``http`` on port 80 and ``https`` on 443, each named like its frontend port."""

    def listener(
        name: str, protocol: network.ApplicationGatewayProtocol, certificate: network.SubResourceArgs | None = None
    ) -> network.ApplicationGatewayHttpListenerArgs:
        return network.ApplicationGatewayHttpListenerArgs(
            name=name,
            protocol=protocol,
            frontend_ip_configuration=ref("frontendIPConfigurations", "public"),
            frontend_port=ref("frontendPorts", name),
            ssl_certificate=certificate,
        )

    protocol = network.ApplicationGatewayProtocol
    return [listener("http", protocol.HTTP), listener("https", protocol.HTTPS, ref("sslCertificates", "public"))]


def _path_map(ref: Ref) -> network.ApplicationGatewayUrlPathMapArgs:
    """Everything to the gateway pods except the cluster-only paths."""
    return network.ApplicationGatewayUrlPathMapArgs(
        name="gateway",
        default_backend_address_pool=ref("backendAddressPools", "gateway"),
        default_backend_http_settings=ref("backendHttpSettingsCollection", "gateway-http"),
        path_rules=[
            network.ApplicationGatewayPathRuleArgs(
                name=BLACKHOLE_POOL,
                paths=list(CLUSTER_ONLY_PATHS),
                backend_address_pool=ref("backendAddressPools", BLACKHOLE_POOL),
                backend_http_settings=ref("backendHttpSettingsCollection", "gateway-http"),
            )
        ],
    )


def _routing_rules(ref: Ref) -> list[network.ApplicationGatewayRequestRoutingRuleArgs]:
    rule = network.ApplicationGatewayRequestRoutingRuleArgs
    kind = network.ApplicationGatewayRequestRoutingRuleType
    return [
        rule(
            name="gateway",
            rule_type=kind.PATH_BASED_ROUTING,
            priority=100,
            http_listener=ref("httpListeners", "https"),
            url_path_map=ref("urlPathMaps", "gateway"),
        ),
        # Port 80 only redirects: no request reaches the gateway over plain HTTP.
        rule(
            name="http-to-https",
            rule_type=kind.BASIC,
            priority=200,
            http_listener=ref("httpListeners", "http"),
            redirect_configuration=ref("redirectConfigurations", "http-to-https"),
        ),
    ]
