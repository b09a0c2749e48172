"""Private endpoints (Cosmos DB, ACR) in the VNet, with the private DNS zones that make the services'
public names resolve to the endpoints' addresses from inside the VNet (the nodes and pods use Azure DNS
through CoreDNS, which answers from zones linked to the VNet). Azure public cloud zone names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns


@dataclass(frozen=True)
class PrivateTarget:
    """One service reached through a private endpoint."""

    key: str
    resource_id: pulumi.Input[str]
    group_id: str
    """The service's private-link sub-resource: ``Sql`` for Cosmos DB (NoSQL), ``registry`` for ACR."""
    dns_zone: str


COSMOS_ZONE = "privatelink.documents.azure.com"
REGISTRY_ZONE = "privatelink.azurecr.io"


def cosmos_target(account_id: pulumi.Input[str]) -> PrivateTarget:
    return PrivateTarget("cosmos", account_id, "Sql", COSMOS_ZONE)


def registry_target(registry_id: pulumi.Input[str]) -> PrivateTarget:
    # The zone group also registers the registry's regional data endpoint, where layers are pulled from.
    return PrivateTarget("registry", registry_id, "registry", REGISTRY_ZONE)


@dataclass(frozen=True)
class PrivateLinkArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    prefix: str
    vnet_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    targets: Sequence[PrivateTarget]


class PrivateLink(pulumi.ComponentResource):
    def __init__(self, name: str, args: PrivateLinkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:PrivateLink", name, None, opts)
        for target in args.targets:
            self._endpoint(name, args, target)
        self.register_outputs({})

    def _endpoint(self, name: str, args: PrivateLinkArgs, target: PrivateTarget) -> None:
        child = pulumi.ResourceOptions(parent=self)
        zone = privatedns.PrivateZone(
            f"{name}-{target.key}-zone",
            resource_group_name=args.resource_group_name,
            location="global",
            private_zone_name=target.dns_zone,
            opts=child,
        )
        privatedns.VirtualNetworkLink(
            f"{name}-{target.key}-zone-link",
            resource_group_name=args.resource_group_name,
            location="global",
            private_zone_name=zone.name,
            virtual_network_link_name=f"{args.prefix}-vnet",
            virtual_network=privatedns.SubResourceArgs(id=args.vnet_id),
            registration_enabled=False,
            opts=child,
        )
        endpoint = network.PrivateEndpoint(
            f"{name}-{target.key}",
            resource_group_name=args.resource_group_name,
            location=args.location,
            private_endpoint_name=f"{args.prefix}-{target.key}-pe",
            subnet=network.SubnetArgs(id=args.subnet_id),
            private_link_service_connections=[
                network.PrivateLinkServiceConnectionArgs(
                    name=target.key, private_link_service_id=target.resource_id, group_ids=[target.group_id]
                )
            ],
            opts=child,
        )
        # Keeps the zone's A records in step with the endpoint's addresses.
        network.PrivateDnsZoneGroup(
            f"{name}-{target.key}-dns",
            resource_group_name=args.resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(name=target.key, private_dns_zone_id=zone.id)],
            opts=child,
        )
