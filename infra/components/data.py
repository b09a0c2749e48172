"""Cosmos DB (NoSQL): account, database and the adapters, tools, servers and sessions containers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import cosmosdb

from infra.components.settings_env import COSMOS_CONTAINERS, COSMOS_DATABASE


@dataclass(frozen=True)
class DataArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: str
    use_identities: bool = True
    """Data-plane RBAC only: account keys are disabled and never leave Azure."""
    serverless: bool = True
    max_throughput: int = 1000
    """Provisioned accounts: the database's autoscale ceiling (RU/s), shared by its containers."""
    backup: str = "Periodic"
    """``Periodic`` (Azure's default) or ``Continuous7Days``/``Continuous30Days`` (point-in-time restore)."""
    zone_redundant: bool = False
    public_network_access: bool = True
    """False once a private endpoint carries the traffic."""
    database_name: str = COSMOS_DATABASE
    containers: dict[str, str] = field(default_factory=lambda: dict(COSMOS_CONTAINERS))


class Data(pulumi.ComponentResource):
    """The gateway's metadata and session-routing store."""

    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    primary_key: pulumi.Output[str] | None
    """Only when identities are not used: then the key reaches the pods as a secret."""

    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:Data", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = cosmosdb.DatabaseAccount(
            f"{name}-cosmos",
            resource_group_name=args.resource_group_name,
            location=args.location,
            account_name=args.account_name,
            kind=cosmosdb.DatabaseAccountKind.GLOBAL_DOCUMENT_DB,
            database_account_offer_type=cosmosdb.DatabaseAccountOfferType.STANDARD,
            locations=[
                cosmosdb.LocationArgs(
                    location_name=args.location, failover_priority=0, is_zone_redundant=args.zone_redundant
                )
            ],
            consistency_policy=cosmosdb.ConsistencyPolicyArgs(
                default_consistency_level=cosmosdb.DefaultConsistencyLevel.SESSION
            ),
            capabilities=[cosmosdb.CapabilityArgs(name="EnableServerless")] if args.serverless else None,
            disable_local_auth=args.use_identities,
            # Keys can't change the account's shape (databases, containers) either way.
            disable_key_based_metadata_write_access=True,
            minimal_tls_version=cosmosdb.MinimalTlsVersion.TLS12,
            backup_policy=_backup_policy(args.backup),
            public_network_access=(
                cosmosdb.PublicNetworkAccess.ENABLED
                if args.public_network_access
                else cosmosdb.PublicNetworkAccess.DISABLED
            ),
            opts=child,
        )
        database = cosmosdb.SqlResourceSqlDatabase(
            f"{name}-db",
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            database_name=args.database_name,
            resource=cosmosdb.SqlDatabaseResourceArgs(id=args.database_name),
            # Shared autoscale throughput: the containers scale together, from a tenth of the ceiling.
            options=(
                None
                if args.serverless
                else cosmosdb.CreateUpdateOptionsArgs(
                    autoscale_settings=cosmosdb.AutoscaleSettingsArgs(max_throughput=args.max_throughput)
                )
            ),
            opts=child,
        )
        for key, container in args.containers.items():
            cosmosdb.SqlResourceSqlContainer(
                f"{name}-{key}",
                resource_group_name=args.resource_group_name,
                account_name=account.name,
                database_name=database.name,
                container_name=container,
                resource=cosmosdb.SqlContainerResourceArgs(
                    id=container,
                    partition_key=cosmosdb.ContainerPartitionKeyArgs(
                        paths=["/id"], kind=cosmosdb.PartitionKind.HASH
                    ),
                    # -1: TTL on with no default; each session item sets its own ttl (the original had none).
                    default_ttl=-1 if key == "sessions" else None,
                ),
                opts=child,
            )
        self.account_name = account.name
        self.account_id = account.id
        self.endpoint = account.document_endpoint
        self.primary_key = None
        if not args.use_identities:
            keys = cosmosdb.list_database_account_keys_output(
                resource_group_name=args.resource_group_name, account_name=account.name
            )
            self.primary_key = pulumi.Output.secret(keys.primary_master_key)
        self.register_outputs({"endpoint": account.document_endpoint})


def _backup_policy(backup: str) -> cosmosdb.ContinuousModeBackupPolicyArgs | None:
    if backup == "Periodic":
        return None  # Azure's default: a copy every four hours, two kept
    return cosmosdb.ContinuousModeBackupPolicyArgs(
        type=cosmosdb.BackupPolicyType.CONTINUOUS,
        continuous_mode_properties=cosmosdb.ContinuousModePropertiesArgs(tier=cosmosdb.ContinuousTier(backup)),
    )
