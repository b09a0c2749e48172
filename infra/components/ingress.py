"""Application Gateway (Standard_v2) in front of the gateway's internal load balancer."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network

HEALTH_PATH = "/ping"


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
    backend_port: int = 8000
    min_capacity: int = 1
    max_capacity: int = 2
    request_timeout_seconds: int = 300
    """MCP responses stream (SSE); a short timeout would cut them."""


class Ingress(pulumi.ComponentResource):
    """Public HTTP entry on port 80; health probe on ``/ping``."""

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
            autoscale_configuration=network.ApplicationGatewayAutoscaleConfigurationArgs(
                min_capacity=args.min_capacity, max_capacity=args.max_capacity
            ),
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
            frontend_ports=[network.ApplicationGatewayFrontendPortArgs(name="http", port=80)],
            backend_address_pools=[
                network.ApplicationGatewayBackendAddressPoolArgs(
                    name="gateway",
                    backend_addresses=[
                        network.ApplicationGatewayBackendAddressArgs(ip_address=args.backend_ip)
                    ],
                )
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
            http_listeners=[
                network.ApplicationGatewayHttpListenerArgs(
                    name="http",
                    protocol=network.ApplicationGatewayProtocol.HTTP,
                    frontend_ip_configuration=ref("frontendIPConfigurations", "public"),
                    frontend_port=ref("frontendPorts", "http"),
                )
            ],
            request_routing_rules=[
                network.ApplicationGatewayRequestRoutingRuleArgs(
                    name="gateway",
                    rule_type=network.ApplicationGatewayRequestRoutingRuleType.BASIC,
                    priority=100,
                    http_listener=ref("httpListeners", "http"),
                    backend_address_pool=ref("backendAddressPools", "gateway"),
                    backend_http_settings=ref("backendHttpSettingsCollection", "gateway-http"),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.gateway_id = gateway.id
        self.register_outputs({"applicationGatewayId": gateway.id})
