"""The incident service: the one way every interface starts, reads and acts on incidents.

The CLI, the rehearsal runner, the tests and the benchmarks call this, and the HTTP API and
the console will too, so an incident is started, acted on and read the same way whoever
asks. Temporal stays the only record: the service holds no incident state of its own.

Actions are Workflow Updates sent by reference to the workflow's own methods (so a renamed
handler is a type error, not a silent miss), each with an update id built from the caller's
request id, so a retried request is applied at most once. Every way an action can be turned
down ends in one exception, :class:`ActionRefused`, whose ``kind`` says why (the API maps it
to a status code) and whose message is the reason a person reads.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, assert_never

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sopflow.client import queues
from sopflow.client.actions import Action, new_request_id, update_id
from sopflow.client.connection import StateUnavailable, incident_state
from sopflow.client.errors import ActionRefused, NoAnswer, Refusal, refusal_of, refused_by_sopflow
from sopflow.client.open_tasks import OpenTaskIndex
from sopflow.client.plans import PlanCache
from sopflow.client.signing import ActionSigner
from sopflow.client.views import (
    IncidentSummary,
    IncidentView,
    OpenTask,
    by_due_time,
    summary_of,
)
from sopflow.client.visibility import admits, incidents_only, visible_query
from sopflow.contract import search
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    Cancel,
    CompleteTask,
    ExternalEvent,
    IncidentInput,
    IncidentState,
    Migrate,
    Note,
    PostUpdate,
    Vote,
)
from sopflow.contract.names import (
    TASK_QUEUE,
    UPDATE_POST,
)
from sopflow.contract.plan import Plan
from workflows.incident import IncidentWorkflow

# The service's vocabulary, importable from here: what it takes, answers with and raises.
__all__ = [
    "Action",
    "ActionRefused",
    "IncidentService",
    "IncidentSummary",
    "IncidentView",
    "NoAnswer",
    "OpenTask",
    "Refusal",
    "admits",
    "new_request_id",
    "update_id",
    "visible_query",
]

DEFAULT_ACTION_TIMEOUT_S = 30.0
AUDIENCE_CACHE_SIZE = 100_000


async def wall_clock() -> datetime:
    """Now, for signatures (a rehearsal passes the test server's skipped time instead)."""
    return datetime.now(UTC)


# The visibility clause that leaves out runs that continued as new.
LATEST_RUNS = "ExecutionStatus != 'ContinuedAsNew'"


@dataclass
class IncidentService:
    """Start, act on, read and list incidents on one Temporal namespace; ``task_queue`` is
    where incidents run."""

    client: Client
    task_queue: str = TASK_QUEUE
    action_timeout_s: float = DEFAULT_ACTION_TIMEOUT_S
    # Signs every person's action for the workers to verify; without it actions go unsigned
    # and a worker refuses them (the CLI says how to get a key before it gets that far).
    signer: ActionSigner | None = None
    clock: Callable[[], Awaitable[datetime]] = wall_clock
    # A run's input never changes: its plan is read from the history once per run id, and
    # kept once per plan hash.
    _plans: PlanCache = field(init=False, repr=False)
    # Nor does an incident's need-to-know: `restricted_to` per incident id, for every incident
    # a person reads (the roles only, not the plan; the oldest forgotten past
    # AUDIENCE_CACHE_SIZE).
    _audiences: dict[str, tuple[str, ...] | None] = field(
        default_factory=dict, init=False, repr=False
    )

    _index: OpenTaskIndex | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._plans = PlanCache(self._read_plan)

    # --- start

    async def start(
        self,
        plan: Plan,
        data: dict[str, Any],
        *,
        opened_by: str,
        incident_id: str,
        data_task_queue: str | None = None,
        continue_as_new_after: int | None = None,
        links: list[str] | None = None,
    ) -> WorkflowHandle[Any, IncidentState]:
        """Start an incident of a compiled (and linted) plan. The id must be new: an id
        already used, even by a closed incident, is refused (ActionRefused EXISTS).
        ``links``: the open incidents it is a duplicate of (see ``client.duplicates``)."""
        extra = (
            {}
            if continue_as_new_after is None
            else {"continue_as_new_after": continue_as_new_after}
        )
        inp = IncidentInput(
            incident_id=incident_id,
            plan=plan,
            input=data,
            opened_by=opened_by,
            data_task_queue=data_task_queue,
            links=list(links or []),
            **extra,
        )
        try:
            started = await self._start(plan, inp)
        except WorkflowAlreadyStartedError:
            raise ActionRefused(f"incident id {incident_id!r} is taken", Refusal.EXISTS) from None
        self._changed(incident_id)
        return started

    async def _start(self, plan: Plan, inp: IncidentInput) -> WorkflowHandle[Any, IncidentState]:
        incident_id = inp.incident_id
        return await self.client.start_workflow(
            plan.sop.id,
            inp,
            id=incident_id,
            task_queue=self.task_queue,
            result_type=IncidentState,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search.plan_start_attributes(plan, inp.input),
            memo=search.start_memo(plan),
        )

    # --- act

    async def act(
        self, incident_id: str, action: Action, *, request_id: str | None = None
    ) -> ActionResult:
        """Apply one action. Raises ActionRefused (unknown or closed incident, or the
        workflow's validator said no, with its reason) or NoAnswer (no worker in time).

        An update goes straight to the workflow (one round trip: responders wait on it);
        only when it fails is the incident looked up to say why. An event is a signal,
        which nothing can refuse, so the incident is checked before it is sent."""
        if isinstance(action, ExternalEvent):
            handle = await self._running(incident_id)
            await handle.signal(IncidentWorkflow.on_event, action)
            self._changed(incident_id)
            return ActionResult(detail=f"sent {action.name!r}")
        rid = request_id or new_request_id()
        update = update_id(action, rid)
        if self.signer is not None:
            action = self.signer.sign(action, incident_id, rid, await self.clock())
        try:
            call = self._send_update(self.handle(incident_id), action, update)
            result = await asyncio.wait_for(call, self.action_timeout_s)
        except WorkflowUpdateFailedError as exc:
            if not refused_by_sopflow(exc):
                await self.describe(incident_id)  # not an incident: says so
            raise refusal_of(exc) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise NoAnswer(
                f"incident {incident_id} did not answer in {self.action_timeout_s:.0f}s "
                "(is a worker running?)"
            ) from None
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await self._running(incident_id)  # unknown, not an incident, or closed
            raise  # running after all: a transient failure, the caller may retry
        self._changed(incident_id)
        return result

    @staticmethod
    async def _send_update(
        handle: WorkflowHandle[Any, IncidentState], action: Action, update: str
    ) -> ActionResult:
        match action:
            case CompleteTask():
                return await handle.execute_update(
                    IncidentWorkflow.complete_task, action, id=update
                )
            case Vote():
                return await handle.execute_update(IncidentWorkflow.vote, action, id=update)
            case Note():
                return await handle.execute_update(IncidentWorkflow.add_note, action, id=update)
            case Cancel():
                return await handle.execute_update(
                    IncidentWorkflow.cancel_incident, action, id=update
                )
            case Migrate():
                return await handle.execute_update(IncidentWorkflow.migrate, action, id=update)
            case PostUpdate():
                # By name: the handler is async, which the typed form does not accept.
                result: ActionResult = await handle.execute_update(
                    UPDATE_POST, action, id=update, result_type=ActionResult
                )
                return result
            case ExternalEvent():
                raise AssertionError("events are signals, sent by act()")
            case _:
                assert_never(action)

    # --- read

    def handle(
        self, incident_id: str, run_id: str | None = None
    ) -> WorkflowHandle[Any, IncidentState]:
        """A handle on the incident (without a run id it follows continue-as-new)."""
        return self.client.get_workflow_handle(
            incident_id, run_id=run_id, result_type=IncidentState
        )

    async def describe(
        self, incident_id: str
    ) -> tuple[WorkflowHandle[Any, IncidentState], WorkflowExecutionDescription]:
        """The handle and description of a sopflow incident; ActionRefused (NOT_FOUND or
        NOT_AN_INCIDENT) otherwise."""
        handle = self.handle(incident_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ActionRefused(f"no incident {incident_id!r}", Refusal.NOT_FOUND) from None
            raise
        if description.typed_search_attributes.get(search.SOP_ID) is None:
            raise ActionRefused(
                f"workflow {incident_id!r} is not a sopflow incident", Refusal.NOT_AN_INCIDENT
            )
        return handle, description

    async def _running(self, incident_id: str) -> WorkflowHandle[Any, IncidentState]:
        handle, description = await self.describe(incident_id)
        if description.status != WorkflowExecutionStatus.RUNNING:
            raise ActionRefused(f"incident {incident_id} is closed", Refusal.CLOSED)
        return handle

    async def state(self, incident_id: str) -> IncidentState:
        """The incident's current state (final state once closed). Raises ActionRefused
        for an unknown id and StateUnavailable when no worker answers."""
        handle, description = await self.describe(incident_id)
        return await incident_state(handle, description.status)

    async def summary(self, incident_id: str) -> IncidentSummary:
        """What visibility will list of the incident, read now from its description (no
        visibility lag); ActionRefused for an id that is not an incident."""
        _handle, description = await self.describe(incident_id)
        attrs = description.typed_search_attributes
        return summary_of(incident_id, description.status, attrs, description.start_time)

    async def view(self, incident_id: str) -> IncidentView:
        """What visibility knows of the incident plus its state, when it can be had."""
        handle, description = await self.describe(incident_id)
        state, unavailable = await self._try_state(handle, description.status)
        summary = summary_of(
            incident_id,
            description.status,
            description.typed_search_attributes,
            description.start_time,
            state,
        )
        return IncidentView(summary, state, unavailable)

    @staticmethod
    async def _try_state(
        handle: WorkflowHandle[Any, IncidentState], status: WorkflowExecutionStatus | None
    ) -> tuple[IncidentState | None, str | None]:
        try:
            return await incident_state(handle, status), None
        except StateUnavailable as exc:
            return None, str(exc)

    async def _state_of(self, wf: WorkflowExecution) -> IncidentState | None:
        """The run's state, or None when no worker answered."""
        handle = self.handle(wf.id, run_id=wf.run_id)
        return (await self._try_state(handle, wf.status))[0]

    async def list(
        self,
        query: str | None = None,
        *,
        limit: int = 50,
        roles: Iterable[str] | None = None,
    ) -> builtins.list[IncidentSummary]:
        """Incidents newest first, optionally filtered by a visibility query on the search
        attributes (e.g. ``Severity = 'SEV1'``). With ``roles``, only those a person holding
        them may see (need-to-know); without, every incident (an operator's view)."""
        # One row per incident: a run that continued as new (a long history, a migration)
        # is the same incident as the run after it.
        visibility = f"{incidents_only(query or '', roles)} AND {LATEST_RUNS}"
        return [
            summary_of(wf.id, wf.status, wf.typed_search_attributes, wf.start_time)
            async for wf in self.client.list_workflows(visibility, limit=limit)
        ]

    async def restricted_to(self, incident_id: str) -> builtins.list[str] | None:
        """The roles whose holders may see the incident (its plan's ``restricted_to``), None
        when everyone who holds a role may. ActionRefused (NOT_FOUND, NOT_AN_INCIDENT) for an
        id that is not an incident.

        Asked before every read and action, so it is answered from memory after the first
        time: an incident keeps its plan across continue-as-new and its id is never reused
        (starts refuse a used id), so its audience never changes. The first time costs a
        describe and, for a run whose plan is not cached yet, one history page."""
        if incident_id not in self._audiences:
            _handle, description = await self.describe(incident_id)
            run_id = description.run_id
            plan = await self._plans.get(incident_id, run_id)
            if len(self._audiences) >= AUDIENCE_CACHE_SIZE:
                del self._audiences[next(iter(self._audiences))]
            restricted = plan.restricted_to
            self._audiences[incident_id] = None if restricted is None else tuple(restricted)
        audience = self._audiences[incident_id]
        return None if audience is None else builtins.list(audience)

    async def may_see(self, incident_id: str, roles: Iterable[str]) -> bool:
        """Whether a person holding ``roles`` may see the incident (need-to-know). It reads
        the plan the incident runs, not its ``Audience`` search attribute, so it holds for
        any incident however it was started. ActionRefused for an unknown id, as
        ``describe``."""
        return admits(await self.restricted_to(incident_id), roles)

    async def plan(
        self, incident_id: str, run_id: str | None = None, *, plan_hash: str | None = None
    ) -> Plan:
        """The plan the incident runs (its latest run's without ``run_id``): it travels in
        the workflow's input (its first event). A migration changes it from one run to the
        next, so the latest run is looked up, and its plan found by its PlanHash; a caller
        that has just read the incident's state passes its ``plan_hash`` and saves that."""
        if plan_hash is not None and (known := self._plans.by_hash(plan_hash)) is not None:
            return known
        if run_id is not None:
            return await self._plans.get(incident_id, run_id)
        _handle, description = await self.describe(incident_id)
        plan_hash = description.typed_search_attributes.get(search.PLAN_HASH)
        return await self._plans.get(incident_id, description.run_id, plan_hash)

    async def _read_plan(self, incident_id: str, run_id: str | None) -> Plan:
        handle = self.client.get_workflow_handle(incident_id, run_id=run_id)
        async for event in handle.fetch_history_events(page_size=1):
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            [inp] = await self.client.data_converter.decode(payloads, [IncidentInput])
            assert isinstance(inp, IncidentInput)
            return inp.plan
        raise ActionRefused(f"incident {incident_id} has no history", Refusal.NOT_FOUND)

    async def history(self, incident_id: str, run_id: str | None = None) -> WorkflowHistory:
        """One run's history (the latest run without ``run_id``); ActionRefused NOT_FOUND
        when there is no such workflow."""
        handle = self.client.get_workflow_handle(incident_id, run_id=run_id)
        try:
            return await handle.fetch_history()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                where = f"in namespace {self.client.namespace!r}"
                raise ActionRefused(
                    f"no incident {incident_id!r} {where}", Refusal.NOT_FOUND
                ) from None
            raise

    async def histories(
        self, query: str = "", *, roles: Iterable[str] | None = None
    ) -> AsyncIterator[WorkflowHistory]:
        """The history of every run of an incident that visibility lists for ``query``
        (ANDed with ``SopId IS NOT NULL``: only sopflow incidents; with ``roles``, only
        those a person holding them may see)."""
        visibility = incidents_only(query, roles)
        async for history in self.client.list_workflows(visibility).map_histories():
            yield history

    async def count(self, query: str = "", *, roles: Iterable[str] | None = None) -> int:
        """How many runs ``histories(query, roles=roles)`` yields."""
        return (await self.client.count_workflows(incidents_only(query, roles))).count

    @property
    def namespace(self) -> str:
        """The Temporal namespace the service works in."""
        return self.client.namespace

    async def history_events(self, incident_id: str) -> Sequence[HistoryEvent]:
        """The latest run's events, for callers that wait on the history's shape."""
        return (await self.history(incident_id)).events

    async def terminate(self, incident_id: str, reason: str) -> None:
        """End a running incident without running its procedure (rehearsals, tests): never
        a responder's action, which is ``act(Cancel)``."""
        try:
            description = await self.handle(incident_id).describe()
            if description.status == WorkflowExecutionStatus.RUNNING:
                await self.handle(incident_id).terminate(reason=reason)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    # --- queues

    def open_tasks(self) -> OpenTaskIndex:
        """Every open task across running incidents, kept current in memory for a process
        that serves many reads (the API): see ``sopflow.client.open_tasks``. Made on first
        use; this service's own actions and starts mark their incidents to read again."""
        if self._index is None:
            self._index = OpenTaskIndex(
                self.client.list_workflows,
                lambda wf: queues.tasks_of(wf, self._plans, self._state_of, None),
                self._described_or_none,
            )
        return self._index

    async def _described_or_none(self, incident_id: str) -> WorkflowExecution | None:
        try:
            return (await self.describe(incident_id))[1]
        except ActionRefused:
            return None

    def _changed(self, incident_id: str) -> None:
        if self._index is not None:
            self._index.changed(incident_id)

    async def tasks_for(
        self, actor: Actor | None = None, *, role: str | None = None
    ) -> builtins.list[OpenTask]:
        """Active tasks and approvals across running incidents that ``actor``'s roles (or
        ``role``) may act on, soonest due first; every one with neither. For an ``actor``,
        only in the incidents they may see (need-to-know); ``role`` alone is an operator's
        question and sees every incident. One visibility list, read now: for a one-off
        question (the CLI); a server reads ``open_tasks()``."""
        roles = actor.every_role() if actor else [role] if role else None
        if roles == []:
            return []
        query = queues.open_tasks_query(roles, roles if actor else None)
        found = [wf async for wf in self.client.list_workflows(query)]
        per_incident = await asyncio.gather(
            *(queues.tasks_of(wf, self._plans, self._state_of, roles) for wf in found)
        )
        return sorted((t for tasks in per_incident for t in tasks), key=by_due_time)
