"""Log Analytics workspace and a workspace-based Application Insights component."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import applicationinsights, operationalinsights


@dataclass(frozen=True)
class ObservabilityArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    prefix: str
    retention_days: int = 30


class Observability(pulumi.ComponentResource):
    """Where the gateway's traces and logs go; the connection string reaches the pods as a secret."""

    workspace_id: pulumi.Output[str]
    connection_string: pulumi.Output[str]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mcpgw:azure:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        workspace = operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=args.resource_group_name,
            location=args.location,
            workspace_name=f"{args.prefix}-logs",
            sku=operationalinsights.WorkspaceSkuArgs(
                name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018
            ),
            retention_in_days=args.retention_days,
            opts=child,
        )
        component = applicationinsights.Component(
            f"{name}-appinsights",
            resource_group_name=args.resource_group_name,
            location=args.location,
            resource_name_=f"{args.prefix}-appinsights",
            kind="web",
            application_type=applicationinsights.ApplicationType.WEB,
            ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
            workspace_resource_id=workspace.id,
            opts=child,
        )
        self.workspace_id = workspace.id
        # The connection string carries the ingestion key: keep it secret in state and in the cluster.
        self.connection_string = pulumi.Output.secret(component.connection_string)
        self.register_outputs({"workspaceId": workspace.id})
