"""Create-or-update by name, shared by ``apply -f`` and ``import``: plan against the gateway, then carry out."""

from __future__ import annotations

import sys
import time
from typing import Any

from gateway.cli.errors import ApiError, CliError
from gateway.cli.http import GatewayClient, resource_path
from gateway.cli.manifests import Change, differences
from gateway.cli.wait import Progress, wait_until_ready

PAST_TENSE = {"create": "created", "update": "configured", "unchanged": "unchanged"}


def plan_changes(client: GatewayClient, kind: str, resources: list[dict[str, Any]]) -> list[Change]:
    """What applying ``resources`` would do to each: create it, update these fields, or nothing."""
    changes = []
    for body in resources:
        name = str(body["name"])
        try:
            response = client.request("GET", resource_path(kind, name))
        except ApiError as exc:
            if exc.status != 404:
                raise
            changes.append(Change(kind, name, "create", body=body))
            continue
        fields = differences(body, response.json())
        action = "update" if fields else "unchanged"
        changes.append(Change(kind, name, action, fields, body, response.headers.get("etag")))
    return changes


def carry_out(client: GatewayClient, change: Change) -> None:
    if change.action == "create":
        client.request("POST", resource_path(change.kind), json=change.body)
    elif change.action == "update":
        # If-Match: a change made by someone else since the plan is a 412, not silently overwritten.
        headers = {"If-Match": change.etag} if change.etag else {}
        client.request("PUT", resource_path(change.kind, change.name), json=change.body, headers=headers)


def describe_change(change: Change, dry_run: bool) -> str:
    label = f"{change.kind[:-1]}/{change.name}"
    fields = f" ({', '.join(change.fields)})" if change.fields else ""
    if dry_run and change.action != "unchanged":
        return f"{label} would be {PAST_TENSE[change.action]}{fields} (dry run)"
    return f"{label} {PAST_TENSE[change.action]}{fields}"


def wait_for_changes(
    client: GatewayClient, changes: list[Change], timeout: float, progress: Progress
) -> list[dict[str, Any]]:
    """Wait, one after the other and within one ``timeout``, for every changed workload to be Ready."""
    deadline = time.monotonic() + timeout
    statuses = []
    for change in changes:
        if change.kind == "servers" or change.action == "unchanged":
            continue
        desired = int(change.body.get("replicaCount", 1))
        statuses.append(
            wait_until_ready(client, change.kind, change.name, desired=desired, deadline=deadline, progress=progress)
        )
    return statuses


def first_failure(errors: list[CliError]) -> CliError:
    """One error standing for several: each but the last is printed here, the last is raised with the
    first one's exit code."""
    for error in errors[:-1]:
        sys.stderr.write(f"mcp-gateway: {error.message}\n")
    return CliError(errors[-1].message, errors[0].code)
