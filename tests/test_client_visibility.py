"""The incident service's visibility reads (sopflow.client.incidents ``list`` and
``tasks_for``) on the real dev server: the time-skipping server does not implement
ListWorkflowExecutions. Visibility is eventually consistent, so each read is polled until
it holds, with a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from temporalio.client import Client, Interceptor, OutboundInterceptor, QueryWorkflowInput
from temporalio.common import TypedSearchAttributes

from sopflow.client.incidents import IncidentService
from sopflow.client.testing import TEST_SIGNER
from sopflow.contract import search
from sopflow.contract.messages import Actor, Cancel, CompleteTask, IncidentInput
from sopflow.web.live import window_query
from tests.harness import bench, compile_text, run
from tests.test_client_incidents import ALICE, BOB, CLIENT_SOP

pytestmark = pytest.mark.e2e

T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """``read()`` once ``ok`` holds of it, polled with a 20 s deadline."""
    stop = time.monotonic() + 20
    while True:
        found = await read()
        if ok(found):
            return found
        if time.monotonic() > stop:
            raise AssertionError(f"not reached before the deadline: {found}")
        await asyncio.sleep(0.1)


def test_list_reports_summaries_and_filters_by_query() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            plan = compile_text(CLIENT_SOP)
            urgent = await b.start(plan, {"urgent": True})
            calm = await b.start(plan, {"urgent": False})
            ids = {urgent.id, calm.id}
            listed = await eventually(
                b.incidents.list,
                lambda found: {s.id for s in found if s.active_steps == ("verify",)} == ids,
            )
            by_id = {s.id: s for s in listed}
            for summary in by_id.values():
                assert (summary.sop, summary.version, summary.region) == ("client", 1, "US")
                assert (summary.status, summary.outcome) == ("running", None)
                assert summary.started_at is not None and not summary.sla_breached
                assert summary.pending_roles == ("responder",)
            assert (by_id[urgent.id].severity, by_id[calm.id].severity) == ("SEV1", "SEV3")
            assert [s.id for s in listed] == [calm.id, urgent.id]  # newest first

            sev1 = await b.incidents.list("Severity = 'SEV1'")
            assert [s.id for s in sev1] == [urgent.id]

            await b.act(calm, Cancel(actor=BOB, reason="a drill"))
            await calm.result()
            closed = await eventually(
                lambda: b.incidents.list(f"WorkflowId = '{calm.id}'"),
                lambda found: [s.status for s in found] == ["cancelled"],
            )
            assert closed[0].outcome == "cancelled"

    run(scenario)


def test_tasks_for_lists_the_active_task_for_holders_of_its_role_only() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": True})
            state = await b.until(h, lambda s: s.steps["verify"].status == "active")
            [task] = await eventually(lambda: b.incidents.tasks_for(ALICE), lambda t: len(t) == 1)
            assert (task.incident, task.step, task.type, task.roles) == (
                h.id,
                "verify",
                "task",
                ("responder",),
            )
            assert (task.sop, task.version, task.region, task.severity) == (
                "client",
                1,
                "US",
                "SEV1",
            )
            assert task.title and task.due_at == state.steps["verify"].due_at is not None
            assert await b.incidents.tasks_for(role="responder") == [task]
            both = Actor(id="dana", roles=["lead", "responder"])
            assert [t.roles for t in await b.incidents.tasks_for(both)] == [("responder",)]
            # The lead is only the escalation target: nothing in a lead's queue, nor in the
            # queue of someone with no roles.
            assert await b.incidents.tasks_for(BOB) == []
            assert await b.incidents.tasks_for(Actor(id="eve", roles=[])) == []

            await b.act(h, Cancel(actor=BOB, reason="a drill"))
            await h.result()
            await eventually(lambda: b.incidents.tasks_for(ALICE), lambda t: t == [])

    run(scenario)


def test_reading_as_a_person_hides_incidents_restricted_to_other_roles() -> None:
    """Need-to-know at the service: with ``roles``, list, count, histories and an actor's
    tasks leave out incidents restricted to roles the person lacks; incidents started before
    `Audience` existed read as unrestricted; without a person, everything is there."""
    restricted_sop = CLIENT_SOP.replace("id: client", "id: client-secret").replace(
        "defaults:", "restricted_to: [lead]\ndefaults:"
    )  # its task waits on a responder, who cannot see it (lint warns: W305)

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            plan, secret_plan = compile_text(CLIENT_SOP), compile_text(restricted_sop)
            assert secret_plan.restricted_to == ["lead"]
            open_ = await b.start(plan, {"urgent": True})
            secret = await b.start(secret_plan, {"urgent": True})
            # As an incident started before this release: no Audience at all.
            attrs = TypedSearchAttributes(
                [p for p in search.start_attributes("client", 1, "US") if p.key != search.AUDIENCE]
            )
            old_id = f"inc-old-{uuid.uuid4().hex[:6]}"
            old = await b.client.start_workflow(
                plan.sop.id,
                IncidentInput(incident_id=old_id, plan=plan, input={"urgent": True}, opened_by="x"),
                id=old_id,
                task_queue=b.task_queue,
                search_attributes=attrs,
            )
            every = {open_.id, secret.id, old.id}
            await eventually(b.incidents.list, lambda f: every <= {s.id for s in f})
            outsider, holder = ["responder"], ["lead"]
            query = "WorkflowId IN ({})".format(", ".join(f"'{i}'" for i in sorted(every)))
            as_outsider = {s.id for s in await b.incidents.list(query, roles=outsider)}
            assert as_outsider == {open_.id, old.id}
            assert {s.id for s in await b.incidents.list(query, roles=holder)} == every
            listed = {s.id: s for s in await b.incidents.list(query)}
            assert set(listed) == every  # no person: an operator's view
            assert listed[secret.id].restricted_to == ("lead",)
            assert listed[open_.id].restricted_to is None and listed[old.id].restricted_to is None
            assert await b.incidents.count(query, roles=outsider) == 2
            assert await b.incidents.count(query) == 3
            seen = {h.workflow_id async for h in b.incidents.histories(query, roles=outsider)}
            assert seen == {open_.id, old.id}
            assert not await b.incidents.may_see(secret.id, outsider)
            assert await b.incidents.may_see(secret.id, holder)
            assert await b.incidents.may_see(old.id, [])
            # All three wait on a responder: a responder's queue leaves out the one they may
            # not see; the operator's question about the role does not.
            await eventually(
                lambda: b.incidents.tasks_for(role="responder"),
                lambda t: every <= {x.incident for x in t},
            )
            mine = {t.incident for t in await b.incidents.tasks_for(ALICE)}
            assert mine & every == {open_.id, old.id}
            for h in (open_, secret, old):
                await b.incidents.terminate(h.id, "done")

    run(scenario)


class CountingQueries(Interceptor):
    """Counts the workflow queries a client sends (an inbox must send none per incident)."""

    def __init__(self) -> None:
        self.queries = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Outbound(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput) -> Any:
                counter.queries += 1
                return await super().query_workflow(input)

        return Outbound(next)


def test_tasks_and_their_due_times_come_from_visibility_without_asking_each_incident() -> None:
    """The interpreter keeps each waiting step's due time (``StepsDue``) and the plan's hash
    in visibility, so a queue over many incidents costs one list and no query per incident;
    an escalation that moves the deadline moves it there too."""

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            plan = compile_text(CLIENT_SOP.replace("sla: 30m", "sla: 2s"))
            handles = [await b.start(plan, {"urgent": True}) for _ in range(3)]
            states = [
                await b.until(h, lambda s: s.steps["verify"].status == "active") for h in handles
            ]
            counting = CountingQueries()
            config = b.client.config()
            config["interceptors"] = [counting]
            service = IncidentService(Client(**config), task_queue=b.task_queue)
            ids = {h.id for h in handles}
            tasks = await eventually(
                lambda: service.tasks_for(ALICE), lambda t: {x.incident for x in t} == ids
            )
            assert counting.queries == 0
            first_due = {t.incident: t.due_at for t in tasks}
            for state, h in zip(states, handles, strict=True):
                assert first_due[h.id] == state.steps["verify"].due_at is not None
            # The 2 s SLA runs out: escalated to the lead, with a new deadline in visibility.
            moved = await eventually(
                lambda: service.tasks_for(ALICE),
                lambda t: all(x.due_at != first_due[x.incident] for x in t if x.incident in ids),
            )
            assert counting.queries == 0
            for task in moved:
                first = first_due[task.incident] if task.incident in ids else None
                if first is not None:
                    assert task.due_at == first + timedelta(seconds=2)
            for h in handles:
                await b.incidents.terminate(h.id, "done")

    run(scenario)


def test_the_live_window_lists_incidents_changed_lately_not_every_open_one() -> None:
    """The console's live hub asks visibility for what changed in the last minute: an
    incident that changed now is in the window; seen from two minutes on, it is not."""

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": True})
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            now = datetime.now(UTC)
            mine = f"WorkflowId = '{h.id}' AND ({window_query(now)})"
            [summary] = await eventually(lambda: b.incidents.list(mine), lambda f: len(f) == 1)
            assert summary.changed_at is not None and summary.steps_due.startswith("verify@")
            later = f"WorkflowId = '{h.id}' AND ({window_query(now + timedelta(minutes=2))})"
            assert await b.incidents.list(later) == []
            await b.incidents.terminate(h.id, "done")

    run(scenario)


def test_the_open_task_index_follows_others_changes_and_shows_own_actions_at_once() -> None:
    """The API's in-memory index of open tasks: one full list, then only what changed; an
    action through the same service shows on the very next read (no visibility lag); one
    made elsewhere, within a deadline; need-to-know as the query path."""
    restricted_sop = CLIENT_SOP.replace("id: client", "id: client-secret").replace(
        "defaults:", "restricted_to: [lead]\ndefaults:"
    )

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            counting = CountingQueries()
            config = b.client.config()
            config["interceptors"] = [counting]
            service = IncidentService(Client(**config), task_queue=b.task_queue, signer=TEST_SIGNER)
            index = service.open_tasks()
            plan = compile_text(CLIENT_SOP)
            mine = [
                await service.start(
                    plan,
                    {"urgent": True},
                    opened_by="x",
                    incident_id=f"inc-ix-{i}-{uuid.uuid4().hex[:6]}",
                )
                for i in range(2)
            ]
            secret = await b.start(compile_text(restricted_sop), {"urgent": True})
            ids = {h.id for h in mine} | {secret.id}

            async def listed(actor: Actor) -> set[str]:
                return {t.incident for t in await index.tasks_for(actor)} & ids

            both = {h.id for h in mine}
            await eventually(lambda: listed(ALICE), lambda found: found == both)
            holder = Actor(id="dana", roles=["lead", "responder"])
            await eventually(lambda: listed(holder), lambda found: found == ids)
            # Its own action: gone from the next read, however fresh the last look was.
            done = CompleteTask(step="verify", actor=ALICE, data={"ok": True})
            await service.act(mine[0].id, done)
            assert await listed(ALICE) == {mine[1].id}
            # Another process's action: seen at a later look, from what changed.
            await b.act(mine[1], CompleteTask(step="verify", actor=ALICE, data={"ok": True}))
            await eventually(lambda: listed(ALICE), lambda found: found == set())
            assert counting.queries == 0
            for h in (*mine, secret):
                await b.incidents.terminate(h.id, "done")

    run(scenario)
