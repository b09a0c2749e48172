"""The services of the three kinds of resource: one rule set, two shapes.

:class:`RecordService` holds what every kind shares: reads filtered by RBAC, create/update/delete with the
creator's id, reserved names, ETag preconditions, audit events and damaged-record handling. Its subclasses
add what their kind needs around the store write:

* :class:`ResourceService` (adapters and tools) runs a workload: every write is authorize -> check names and
  capabilities -> let the runtime veto the spec -> record in the store (which reserves the name atomically)
  -> converge the runtime to the store (:mod:`gateway.services.reconcile`). A runtime failure on create or
  update puts the store back and converges again, so a failed create leaves neither a record nor a
  workload behind. A delete removes the record first; if the workload cannot be removed at once, the
  reconciler keeps removing it. It also has status, logs and restart.
* :class:`gateway.services.servers.ServerService` (virtual servers) runs nothing: its write is the store
  write alone, and neither the runtime nor the reconciler ever hears of it.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read, can_use_workload_identity, can_write
from gateway.errors import (
    BackendError,
    Conflict,
    FieldProblem,
    Forbidden,
    GatewayError,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
)
from gateway.models import (
    CREATOR_ID,
    AdapterData,
    AdapterResource,
    AdapterStatus,
    ReplicaStatus,
    ResourceData,
    ToolData,
    ToolResource,
    replica_status_text,
    shown,
)
from gateway.names import RESERVED_NAMES
from gateway.records import stored_creator
from gateway.runtimes.base import Runtime, WorkloadKind, WorkloadSpec, WorkloadStatus
from gateway.runtimes.phase import workload_phase
from gateway.services.reconcile import Reconciler
from gateway.services.ssrf import UrlGuard
from gateway.stores.base import MetadataStore, ResourceKind, StoredRecord
from gateway.telemetry.audit import audited

log = logging.getLogger(__name__)

DataT = TypeVar("DataT", bound=ResourceData)
ResourceT = TypeVar("ResourceT", bound=ResourceData)
WorkloadDataT = TypeVar("WorkloadDataT", bound=AdapterData)
WorkloadResourceT = TypeVar("WorkloadResourceT", bound=AdapterData)

NO_PERMISSION = "You do not have permission to perform the operation."


def _now() -> datetime:
    return datetime.now(UTC)


class RecordService(Generic[DataT, ResourceT]):
    """Create, read, update and delete of one kind of record; what happens around the store write is the
    subclass's (:meth:`_check_write`, :meth:`_apply`, :meth:`_applied_delete`)."""

    def __init__(
        self,
        kind: ResourceKind,
        resource_model: type[ResourceT],
        store: MetadataStore,
        clock: Callable[[], datetime] = _now,
        noun: str | None = None,
    ) -> None:
        self.kind = kind
        self.noun = noun or kind
        """How messages name the kind (``virtual server`` for ``server``)."""
        self._resource_model = resource_model
        self._store = store
        self._clock = clock
        self._reported_damage: set[tuple[str, str]] = set()
        """(name, version) of damaged records already logged: the tool router lists tools every second."""

    # ----- reads -------------------------------------------------------------------------------------
    async def list(self, principal: Principal) -> list[ResourceT]:
        return [r for r in await self.records() if self._readable(principal, r)]

    async def get(self, principal: Principal, name: str) -> ResourceT:
        return self._load(await self._readable_record(principal, name))

    async def get_versioned(self, principal: Principal, name: str) -> tuple[ResourceT, str]:
        """The resource and its version, for ``ETag`` / ``If-Match`` round trips."""
        record = await self._readable_record(principal, name)
        return self._load(record), record.version

    # ----- writes ------------------------------------------------------------------------------------
    async def create(self, principal: Principal, data: DataT) -> ResourceT:
        with audited(principal.user_id, f"{self.kind}.create", data.name, success_status=201):
            return await self._create(principal, data)

    async def update(self, principal: Principal, name: str, data: DataT, if_match: str | None = None) -> ResourceT:
        with audited(principal.user_id, f"{self.kind}.update", name):
            return await self._update(principal, name, data, if_match)

    async def delete(self, principal: Principal, name: str, if_match: str | None = None) -> None:
        with audited(principal.user_id, f"{self.kind}.delete", name, success_status=204):
            await self._delete(principal, name, if_match)

    async def _create(self, principal: Principal, data: DataT) -> ResourceT:
        _check_creator_id(principal.user_id)
        self._check_reserved(data.name)
        await self._check_write(principal, data, None)
        now = self._clock()
        resource = self._resource_model.model_validate(
            {
                **data.model_dump(by_alias=True),
                "id": data.name,
                "createdBy": principal.user_id,
                "createdAt": now,
                "lastUpdatedAt": now,
            }
        )
        record = await self._store.create(self.kind, data.name, _dump(resource))
        await self._apply(data.name, record.version, None)
        log.info("%s %s created by %s", self.kind, data.name, principal.user_id)
        return resource

    async def _update(self, principal: Principal, name: str, data: DataT, if_match: str | None) -> ResourceT:
        if data.name.lower() != name.lower():
            raise InvalidRequest(
                f"{self.noun.capitalize()} name in URL and body must match.",
                [FieldProblem("name", f"must be '{name}', the name in the URL")],
            )
        record = await self._existing(name)
        existing = self._load(record)
        if not can_write(principal, _created_by(existing)):
            raise Forbidden(NO_PERMISSION)
        _check_precondition(self.noun, name, record, if_match)
        await self._check_write(principal, data, existing)
        meta = {k: record.data[k] for k in ("id", "createdBy", "createdAt")}
        resource = self._resource_model.model_validate(
            {**data.model_dump(by_alias=True), **meta, "lastUpdatedAt": self._clock()}
        )
        try:
            updated = await self._store.update(self.kind, name, _dump(resource), record.version)
        except Conflict as exc:
            # Someone wrote between our read and our write. With If-Match that is the client's precondition.
            if if_match is not None:
                raise PreconditionFailed(exc.detail) from exc
            raise
        await self._apply(name, updated.version, record.data)
        return resource

    async def _delete(self, principal: Principal, name: str, if_match: str | None) -> None:
        record = await self._existing(name)
        # The stored creator, not the loaded model: a damaged record stays deletable by its creator and admins.
        if not can_write(principal, stored_creator(record.data)):
            raise Forbidden(NO_PERMISSION)
        _check_precondition(self.noun, name, record, if_match)
        await self._store.delete(self.kind, name, record.version)
        log.info("%s %s deleted by %s", self.kind, name, principal.user_id)
        await self._applied_delete(name)

    # ----- what a kind adds around the store write ---------------------------------------------------
    async def _check_write(self, principal: Principal, data: DataT, existing: ResourceT | None) -> None:
        """Refuse a body that may not be written (after the body's own validation and the permission
        check); ``existing`` is the stored resource on an update, None on a create."""

    async def _apply(self, name: str, written_version: str, previous: dict[str, Any] | None) -> None:
        """Act on a record just written (``previous``: the record before an update, None after a create)."""

    async def _applied_delete(self, name: str) -> None:
        """Act on a record just deleted."""

    # ----- helpers -----------------------------------------------------------------------------------
    async def records(self) -> builtins.list[ResourceT]:
        """Every loadable record, unfiltered (listings filter it; reconciliation and the tool catalog use it).

        A record that no longer validates (written by an older version, or by hand) is skipped and logged:
        one bad record must not make the listing fail for everyone else.
        """
        loaded = [self._loaded(record) for record in await self._store.list(self.kind)]
        return [resource for resource in loaded if resource is not None]

    def _check_reserved(self, name: str) -> None:
        if name in RESERVED_NAMES:
            message = f"The name '{name}' is reserved by the gateway."
            raise InvalidRequest(message, [FieldProblem("name", message)])

    async def _existing(self, name: str) -> StoredRecord:
        record = await self._store.get(self.kind, name)
        if record is None:
            raise NotFound(f"The {self.noun} '{name}' does not exist.")
        return record

    async def _readable_record(self, principal: Principal, name: str) -> StoredRecord:
        record = await self._existing(name)
        if not self._readable(principal, self._load(record)):
            raise Forbidden(NO_PERMISSION)
        return record

    def _readable(self, principal: Principal, resource: ResourceT) -> bool:
        return can_read(principal, _created_by(resource), resource.required_roles)

    def _load(self, record: StoredRecord) -> ResourceT:
        resource = self._loaded(record)
        if resource is None:
            name = shown(record.name)
            raise BackendError(
                f"the stored {self.noun} '{name}' fails validation",
                public=f"The stored {self.noun} '{name}' is damaged and cannot be read; delete it and create it again.",
            )
        return resource

    def _loaded(self, record: StoredRecord) -> ResourceT | None:
        try:
            return self._resource_model.model_validate(record.data)
        except ValidationError as exc:
            first_time = (record.name, record.version) not in self._reported_damage
            self._reported_damage.add((record.name, record.version))
            (log.warning if first_time else log.debug)(
                "the stored %s '%s' is damaged; skipped: %s", self.kind, shown(record.name), _summary(exc)
            )
            return None


class ResourceService(RecordService[WorkloadDataT, WorkloadResourceT]):
    """Adapters and tools: records that run a workload, with status, logs and restart."""

    def __init__(
        self,
        kind: ResourceKind,
        resource_model: type[WorkloadResourceT],
        store: MetadataStore,
        runtime: Runtime,
        reconciler: Reconciler,
        workload_identity_roles: list[str],
        url_guard: UrlGuard,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(kind, resource_model, store, clock)
        self._runtime = runtime
        self._reconciler = reconciler
        self._wi_roles = workload_identity_roles
        self._url_guard = url_guard

    # ----- reads -------------------------------------------------------------------------------------
    async def status(self, principal: Principal, name: str) -> AdapterStatus:
        await self._readable_record(principal, name)
        return status_model(await self._runtime.status(name))

    async def logs(
        self, principal: Principal, name: str, instance: int, tail: int = 1000, since: datetime | None = None
    ) -> str:
        await self._readable_record(principal, name)
        return await self._runtime.logs(name, instance, tail=tail, since=since)

    async def follow_logs(
        self, principal: Principal, name: str, instance: int, tail: int = 1000, since: datetime | None = None
    ) -> AsyncIterator[str]:
        """Checks access and that the instance exists (``NotFound`` before anything is streamed), then
        returns the runtime's stream of lines."""
        await self._readable_record(principal, name)
        await self._runtime.logs(name, instance, tail=1)
        return self._runtime.follow_logs(name, instance, tail=tail, since=since)

    # ----- writes ------------------------------------------------------------------------------------
    async def restart(self, principal: Principal, name: str) -> None:
        """Replace the replicas one at a time with the same spec (a rolling restart)."""
        with audited(principal.user_id, f"{self.kind}.restart", name, success_status=202):
            record = await self._existing(name)
            if not can_write(principal, stored_creator(record.data)):
                raise Forbidden(NO_PERMISSION)
            await self._reconciler.restart(name)
            log.info("%s %s restarted by %s", self.kind, name, principal.user_id)

    async def _check_write(
        self, principal: Principal, data: WorkloadDataT, existing: WorkloadResourceT | None
    ) -> None:
        self._check_workload_identity(principal, data)
        if existing is not None and data.use_workload_identity != existing.use_workload_identity:
            raise InvalidRequest(
                f"UseWorkloadIdentity cannot be changed after creation. Delete and recreate the {self.kind} instead.",
                [FieldProblem("useWorkloadIdentity", "is immutable after creation")],
            )
        await self._checked_spec(data)

    async def _apply(self, name: str, written_version: str, previous: dict[str, Any] | None) -> None:
        try:
            await self._reconciler.converge(name)
        except Exception:
            await self._undo(name, written_version, previous)
            raise

    async def _applied_delete(self, name: str) -> None:
        try:
            await self._reconciler.converge(name)
        except BackendError as exc:
            raise BackendError(
                exc.internal_detail,
                public=f"The {self.kind} '{name}' is deleted, but its workload could not be removed yet; the "
                "gateway keeps removing it in the background.",
            ) from exc

    async def _undo(self, name: str, written_version: str, previous: dict[str, Any] | None) -> None:
        """Put back the record as it was before a write whose workload failed, then converge to it.

        Only our own write is undone: if someone wrote after us, theirs stands (and they converge it).
        Best effort: when the store or runtime fails here too, the reconciler finishes the job.
        """
        try:
            if previous is None:
                await self._store.delete(self.kind, name, written_version)
            else:
                await self._store.update(self.kind, name, previous, written_version)
            await self._reconciler.converge(name)
        except GatewayError as exc:
            log.warning("%s %s: could not undo a failed write yet (%s); the reconciler will", self.kind, name,
                        exc.detail)

    # ----- helpers -----------------------------------------------------------------------------------
    def spec_for(self, resource: WorkloadResourceT) -> WorkloadSpec:
        return self._spec(resource)

    def spec_of_record(self, record: StoredRecord) -> WorkloadSpec | None:
        """The workload a stored record asks for; None when the record is damaged."""
        resource = self._loaded(record)
        return None if resource is None else self._spec(resource)

    def _spec(self, data: AdapterData) -> WorkloadSpec:
        port, path = 8000, data.serving_path
        if isinstance(data, ToolData):
            port, path = data.tool_definition.port, data.tool_definition.path
        return WorkloadSpec(
            name=data.name,
            kind=WorkloadKind.TOOL if self.kind == "tool" else WorkloadKind.ADAPTER,
            replicas=data.replica_count,
            image_name=data.image_name,
            image_version=data.image_version,
            command=data.command,
            args=tuple(data.args),
            transport=data.effective_transport,
            url=None if data.sse_upstream else data.url,  # a url of transport sse runs bridge replicas
            env=dict(data.environment_variables),
            port=port,
            path=path,
            use_workload_identity=data.use_workload_identity,
            sse_upstream=data.sse_upstream,
        )

    async def _checked_spec(self, data: AdapterData) -> WorkloadSpec:
        if data.url is not None:
            await self._url_guard.check(data.url)
        spec = self._spec(data)
        self._runtime.validate(spec)
        return spec

    def _check_workload_identity(self, principal: Principal, data: AdapterData) -> None:
        if data.use_workload_identity and not can_use_workload_identity(principal, self._wi_roles):
            raise Forbidden("You are not allowed to request useWorkloadIdentity.")


def _check_precondition(kind: str, name: str, record: StoredRecord, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")}
    if record.version.strip('"') not in wanted:
        raise PreconditionFailed(f"The {kind} '{name}' has changed since you read it; GET it again and retry.")


def status_model(status: WorkloadStatus) -> AdapterStatus:
    """The wire shape of a runtime's status: the original counts and ``replicaStatus``, the phase, the most
    relevant error and each replica."""
    phase = status.phase or workload_phase(status.desired, status.ready, status.updated, status.replicas)
    return AdapterStatus(
        ready_replicas=status.ready,
        updated_replicas=status.updated,
        available_replicas=status.available,
        image=status.image,
        replica_status=replica_status_text(status.ready, status.desired),
        phase=phase,
        last_error=status.last_error,
        replicas=[
            ReplicaStatus(
                id=r.id,
                ready=r.ready,
                restarts=r.restarts,
                last_exit_code=r.last_exit_code,
                last_error=r.last_error,
                since=r.since,
                sessions=r.sessions,
                max_sessions=r.max_sessions,
            )
            for r in status.replicas
        ],
    )


def etag_of(version: str) -> str:
    return '"' + version.strip('"') + '"'


def _created_by(resource: ResourceData) -> str | None:
    return getattr(resource, "created_by", None)


def _check_creator_id(user_id: str) -> None:
    """The caller's id is stored as ``createdBy``: it must be text that can be read back."""
    try:
        CREATOR_ID.check(user_id)
    except ValueError as exc:
        raise Forbidden(f"Your user id {exc}, so it cannot be recorded as the creator of a resource.") from None


def _summary(error: ValidationError) -> str:
    """Where a stored record fails, for the log: locations and pydantic's messages, never the values."""
    problems = [
        f"{shown('.'.join(str(part) for part in e['loc']) or 'record')}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    ]
    return "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")


def _dump(resource: ResourceData) -> dict[str, Any]:
    return resource.model_dump(mode="json", by_alias=True)


AdapterService = ResourceService[AdapterData, AdapterResource]
ToolService = ResourceService[ToolData, ToolResource]
