"""VNet with an AKS subnet, an Application Gateway subnet and (optionally) a private endpoints subnet, and
the public IP with its DNS label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import network


@dataclass(frozen=True)
class NetworkArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    prefix: str
    dns_label: str
    vnet_cidr: str
    aks_subnet_cidr: str
    appgw_subnet_cidr: str
    endpoints_subnet_cidr: str | None = None
    """None: no private endpoints subnet."""
    zones: Sequence[str] = field(default_factory=list)
    """The public IP's zones; they must match the App Gateway's."""


class Network(pulumi.ComponentResource):
    """Address space for AKS and the App Gateway; the public IP is ``<label>.<region>.cloudapp.azure.com``."""

    aks_subnet_id: pulumi.Output[str]
    appgw_subnet_id: pulumi.Output[str]
    endpoints_subnet_id: pulumi.Output[str] | None
    public_ip_id: pulumi.Output[str]
    fqdn: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=args.resource_group_name,
            location=args.location,
            virtual_network_name=f"{args.prefix}-vnet",
            address_space=network.AddressSpaceArgs(address_prefixes=[args.vnet_cidr]),
            # Subnets are separate resources; ignore the inline list so updates don't fight over them.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnets"]),
        )
        aks = network.Subnet(
            f"{name}-aks",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            subnet_name="aks",
            address_prefix=args.aks_subnet_cidr,
            opts=child,
        )
        appgw = network.Subnet(
            f"{name}-appgw",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            subnet_name="appgw",
            address_prefix=args.appgw_subnet_cidr,
            # Azure rejects concurrent writes to subnets of one VNet.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[aks]),
        )
        self.endpoints_subnet_id = None
        if args.endpoints_subnet_cidr is not None:
            endpoints = network.Subnet(
                f"{name}-endpoints",
                resource_group_name=args.resource_group_name,
                virtual_network_name=vnet.name,
                subnet_name="endpoints",
                address_prefix=args.endpoints_subnet_cidr,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[appgw]),
            )
            self.endpoints_subnet_id = endpoints.id
        pip = network.PublicIPAddress(
            f"{name}-pip",
            resource_group_name=args.resource_group_name,
            location=args.location,
            public_ip_address_name=f"{args.prefix}-pip",
            sku=network.PublicIPAddressSkuArgs(name=network.PublicIPAddressSkuName.STANDARD),
            public_ip_allocation_method=network.IPAllocationMethod.STATIC,
            dns_settings=network.PublicIPAddressDnsSettingsArgs(domain_name_label=args.dns_label),
            zones=list(args.zones) or None,
            opts=child,
        )
        self.vnet_id = vnet.id
        self.aks_subnet_id = aks.id
        self.appgw_subnet_id = appgw.id
        self.public_ip_id = pip.id
        self.fqdn = pip.dns_settings.apply(lambda d: d.fqdn if d and d.fqdn else "")
        self.register_outputs({"aksSubnetId": aks.id, "appgwSubnetId": appgw.id, "fqdn": self.fqdn})
