"""The committed prod stack: zones, the AKS Standard tier, provisioned Cosmos DB with continuous backup,
and Cosmos DB and ACR reached through private endpoints; the dev stack keeps the cheap defaults."""

from __future__ import annotations

from tests.infra.mocks import Recorded

ZONES = ["1", "2", "3"]


def test_nodes_the_app_gateway_its_ip_and_cosmos_are_spread_over_three_zones(
    committed_stacks: dict[str, Recorded],
) -> None:
    prod = committed_stacks["prod"]
    (pool,) = prod.one("azure-native:containerservice:ManagedCluster").inputs["agentPoolProfiles"]
    assert pool["availabilityZones"] == ZONES
    assert pool["count"] == 3
    assert prod.one("azure-native:network:ApplicationGateway").inputs["zones"] == ZONES
    assert prod.one("azure-native:network:PublicIPAddress").inputs["zones"] == ZONES
    (location,) = prod.one("azure-native:cosmosdb:DatabaseAccount").inputs["locations"]
    assert location["isZoneRedundant"] is True


def test_aks_runs_on_the_standard_tier(committed_stacks: dict[str, Recorded]) -> None:
    aks = committed_stacks["prod"].one("azure-native:containerservice:ManagedCluster").inputs
    assert aks["sku"] == {"name": "Base", "tier": "Standard"}


def test_cosmos_is_provisioned_with_autoscale_and_continuous_backup(committed_stacks: dict[str, Recorded]) -> None:
    prod = committed_stacks["prod"]
    account = prod.one("azure-native:cosmosdb:DatabaseAccount").inputs
    assert "capabilities" not in account  # not serverless
    assert account["backupPolicy"] == {"type": "Continuous", "continuousModeProperties": {"tier": "Continuous30Days"}}
    database = prod.one("azure-native:cosmosdb:SqlResourceSqlDatabase").inputs
    assert database["options"] == {"autoscaleSettings": {"maxThroughput": 4000}}


def test_cosmos_and_the_registry_are_reached_through_private_endpoints(committed_stacks: dict[str, Recorded]) -> None:
    prod = committed_stacks["prod"]
    subnet = prod.one("azure-native:network:Subnet", "endpoints").inputs
    assert subnet["addressPrefix"] == "10.0.3.0/24"
    endpoints = {
        e.inputs["privateEndpointName"]: e.inputs for e in prod.of_type("azure-native:network:PrivateEndpoint")
    }
    assert set(endpoints) == {"mcpgw-mcpgwprod-cosmos-pe", "mcpgw-mcpgwprod-registry-pe"}
    cosmos = endpoints["mcpgw-mcpgwprod-cosmos-pe"]
    (connection,) = cosmos["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["Sql"]
    assert connection["privateLinkServiceId"].endswith("/mcpgw-mcpgwprod-cosmos")
    assert cosmos["subnet"]["id"].endswith("Subnet/endpoints")
    (registry_connection,) = endpoints["mcpgw-mcpgwprod-registry-pe"]["privateLinkServiceConnections"]
    assert registry_connection["groupIds"] == ["registry"]
    zones = {z.inputs["privateZoneName"] for z in prod.of_type("azure-native:privatedns:PrivateZone")}
    assert zones == {"privatelink.documents.azure.com", "privatelink.azurecr.io"}
    links = prod.of_type("azure-native:privatedns:VirtualNetworkLink")
    assert len(links) == 2 and all(
        link.inputs["virtualNetwork"]["id"].endswith("/mcpgw-mcpgwprod-vnet") for link in links
    )
    groups = {
        g.inputs["privateEndpointName"]: g.inputs for g in prod.of_type("azure-native:network:PrivateDnsZoneGroup")
    }
    assert set(groups) == set(endpoints)
    assert prod.one("azure-native:cosmosdb:DatabaseAccount").inputs["publicNetworkAccess"] == "Disabled"
    registry = prod.one("azure-native:containerregistry:Registry").inputs
    assert registry["sku"] == {"name": "Premium"}


def test_dev_keeps_the_cheap_defaults(committed_stacks: dict[str, Recorded]) -> None:
    dev = committed_stacks["dev"]
    assert not dev.of_type("azure-native:network:PrivateEndpoint")
    account = dev.one("azure-native:cosmosdb:DatabaseAccount").inputs
    assert account["capabilities"] == [{"name": "EnableServerless"}]
    assert "backupPolicy" not in account
    assert account["publicNetworkAccess"] == "Enabled"
    assert "zones" not in dev.one("azure-native:network:ApplicationGateway").inputs
