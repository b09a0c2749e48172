"""How adapters, tools, virtual servers and statuses look in a table."""

from __future__ import annotations

import shlex
from typing import Any

from gateway.cli.output import Column, age, details, phase_colour, table


def source(resource: dict[str, Any]) -> str:
    """Where the workload comes from, as one would type it: the command line, the image or the URL."""
    if resource.get("command"):
        return shlex.join([resource["command"], *resource.get("args", [])])
    if resource.get("imageName"):
        return f"{resource['imageName']}:{resource.get('imageVersion', '')}"
    return str(resource.get("url") or "-")


def transport(resource: dict[str, Any]) -> str:
    if resource.get("command"):
        return str(resource.get("transport") or "stdio")
    if resource.get("url"):
        return str(resource.get("transport") or "streamable-http")
    return "streamable-http"


def ready(status: dict[str, Any] | None, resource: dict[str, Any]) -> str:
    if status is None:
        return "?"
    return f"{status.get('readyReplicas') or 0}/{resource.get('replicaCount', 1)}"


def members(server: dict[str, Any]) -> list[str]:
    return [f"{'adapter' if 'adapter' in m else 'tool'}:{m.get('adapter') or m.get('tool')}" for m in server["members"]]


def _status_of(row: dict[str, Any]) -> dict[str, Any] | None:
    status = row.get("_status")
    return status if isinstance(status, dict) else None


def _phase(row: dict[str, Any]) -> str:
    status = _status_of(row)
    return str(status.get("phase", "?")) if status is not None else "?"


WORKLOAD_COLUMNS = [
    Column("NAME", lambda r: r["name"]),
    Column("PHASE", _phase, colour=phase_colour),
    Column("READY", lambda r: ready(_status_of(r), r)),
    Column("TRANSPORT", transport),
    Column("SOURCE", source, wide=True),
    Column("CREATED BY", lambda r: r.get("createdBy")),
    Column("AGE", lambda r: age(r.get("createdAt"))),
]
TOOL_COLUMNS = [
    *WORKLOAD_COLUMNS[:3],
    Column("ENDPOINT", lambda r: _endpoint(r)),
    *WORKLOAD_COLUMNS[4:],
]
SERVER_COLUMNS = [
    Column("NAME", lambda r: r["name"]),
    Column("MEMBERS", members, wide=True),
    Column("TOOL SEARCH", lambda r: r.get("toolSearch")),
    Column("CREATED BY", lambda r: r.get("createdBy")),
    Column("AGE", lambda r: age(r.get("createdAt"))),
]
REPLICA_COLUMNS = [
    Column("REPLICA", lambda r: r.get("id")),
    Column("READY", lambda r: bool(r.get("ready")), colour=lambda v: "green" if v else "red"),
    Column("RESTARTS", lambda r: r.get("restarts", 0)),
    Column("SINCE", lambda r: age(r.get("since"))),
    Column("LAST ERROR", lambda r: r.get("lastError"), wide=True),
]


def _endpoint(tool: dict[str, Any]) -> str:
    definition = tool.get("toolDefinition") or {}
    return f":{definition.get('port', 8000)}{definition.get('path', '/score')}"


def columns_for(kind: str) -> list[Column]:
    return {"adapters": WORKLOAD_COLUMNS, "tools": TOOL_COLUMNS, "servers": SERVER_COLUMNS}[kind]


def resource_details(kind: str, resource: dict[str, Any], *, colour: bool) -> str:
    pairs: list[tuple[str, Any]] = [("Name", resource.get("name")), ("Description", resource.get("description"))]
    if kind == "servers":
        pairs += [("Members", ", ".join(members(resource))), ("Tool search", resource.get("toolSearch"))]
    else:
        pairs += [
            ("Source", source(resource)),
            ("Transport", transport(resource)),
            ("Path", resource.get("path")),
            ("Replicas", resource.get("replicaCount")),
            ("Environment", sorted(resource.get("environmentVariables") or {})),
            ("Workload identity", resource.get("useWorkloadIdentity") or None),
        ]
    if kind == "tools":
        tool = (resource.get("toolDefinition") or {}).get("tool") or {}
        pairs += [("Endpoint", _endpoint(resource)), ("Tool title", tool.get("title")),
                  ("Tool description", tool.get("description"))]
    pairs += [
        ("Required roles", resource.get("requiredRoles")),
        ("Created by", resource.get("createdBy")),
        ("Created", resource.get("createdAt")),
        ("Updated", resource.get("lastUpdatedAt")),
    ]
    return details(pairs, colour=colour)


def status_view(status: dict[str, Any], *, colour: bool) -> str:
    head = details(
        [
            ("Phase", status.get("phase")),
            ("Replicas", f"{status.get('replicaStatus')} ({status.get('readyReplicas') or 0} ready, "
                         f"{status.get('updatedReplicas') or 0} updated)"),
            ("Image", status.get("image")),
            ("Last error", status.get("lastError")),
        ],
        colour=colour,
    )
    replicas = status.get("replicas") or []
    return head + ("\n\n" + table(replicas, REPLICA_COLUMNS, colour=colour) if replicas else "")
