"""Post-mortem reviews on the time-skipping server: the post-mortem step starts one review
that outlives its incident; reminders and escalations go out once each on the clock; action
items keep it open until its owner marks it done, which is refused while any is open; and
on the real dev server, a refused action leaves the review's history as it was.

The story the issue asks a rehearsal for ("a post-mortem whose action items keep it open
until done") is ``test_action_items_keep_the_review_open_until_done``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from sopflow.client.errors import ActionRefused, Refusal
from sopflow.client.reviews import ReviewService
from sopflow.contract.messages import Actor, CompleteTask, NotifyRequest
from sopflow.contract.names import review_id
from sopflow.contract.plan import Plan
from sopflow.contract.reviews import ReviewAction, ReviewState
from tests.harness import Bench, bench, compile_text, run
from tests.test_workflow_people import active
from workflows.incident import IncidentWorkflow
from workflows.review import PostmortemReviewWorkflow

pytestmark = pytest.mark.e2e

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: reviewed
version: 1
title: Reviewed
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
  legal: {description: Counsel}
defaults:
  sla: 1h
steps:
  - id: respond
    type: task
    assignee: responder
    escalate: [lead]
  - id: postmortem
    type: postmortem
    owner: lead
    due: 3d
    review: {due: 5d, remind: 1d, escalate_to: legal}
  - id: done
    type: end
    outcome: resolved
"""

RESPONDER = Actor(id="amoreno", roles=["responder"], region="US")
LEAD = Actor(id="dokafor", roles=["lead"], region="US")
UK_LEAD = Actor(id="tbrennan", roles=["lead"], region="UK")
COUNSEL = Actor(id="kowusu", roles=["legal"], region="US")


def plan() -> Plan:
    return compile_text(SOP)


async def reviewed_incident(b: Bench) -> tuple[str, ReviewService]:
    """An incident that ran its post-mortem step and closed; its review service."""
    h = await b.start(plan(), opened_by="amoreno")
    await b.until(h, active("respond"))
    await b.act(h, CompleteTask(step="respond", actor=RESPONDER))
    # Polled, not awaited: waiting on a result lets the test server skip time, past the
    # review's first timers.
    await b.until(h, lambda s: s.status == "completed")
    return h.id, ReviewService.of(b.incidents)


async def review_until(
    reviews: ReviewService, incident: str, ready: Callable[[ReviewState], bool]
) -> ReviewState:
    """Poll the review until ``ready`` holds (real time, with a deadline)."""
    stop = time.monotonic() + 10
    while True:
        try:
            state = await reviews.state(incident)
            if ready(state):
                return state
        except ActionRefused:
            pass  # not started yet
        if time.monotonic() > stop:
            raise AssertionError(f"the review did not get there in time ({incident})")
        await asyncio.sleep(0.02)


def notices(b: Bench, incident: str) -> list[NotifyRequest]:
    return [n for n in b.fakes.notifications if n.incident_id == review_id(incident)]


def add(title: str, owner: str, due: datetime, actor: Actor = LEAD) -> ReviewAction:
    return ReviewAction(kind="add_item", actor=actor, title=title, owner=owner, due_at=due)


def close(item: str, actor: Actor = LEAD) -> ReviewAction:
    return ReviewAction(kind="close_item", actor=actor, item=item, note="done and checked")


DONE = ReviewAction(kind="done", actor=LEAD, note="reviewed with the desk")


def test_the_postmortem_step_starts_one_review_that_outlives_the_incident() -> None:
    async def scenario() -> None:
        async with bench() as b:
            incident, reviews = await reviewed_incident(b)
            state = await review_until(reviews, incident, lambda s: s.status == "open")
            assert state.owner == "lead" and state.escalate_to == "legal"
            # Due five days from the step (the review's start is a moment later).
            assert abs(state.due_at - state.opened_at - timedelta(days=5)) < timedelta(minutes=1)
            assert state.document == f"{incident}.md"
            closed = await b.incidents.state(incident)
            assert closed.status == "completed"
            assert closed.steps["postmortem"].output["review"] == review_id(incident)
            assert any(e.kind == "postmortem.review" for e in closed.timeline)
            history = await b.incidents.handle(incident).fetch_history()
            starts = [
                e
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
            ]
            assert len(starts) == 1
            # Replays (a worker's cache evicted, a retried task) start nothing again.
            replayer = Replayer(
                workflows=[IncidentWorkflow, PostmortemReviewWorkflow],
                data_converter=pydantic_data_converter,
            )
            await replayer.replay_workflow(history)
            await replayer.replay_workflow(await reviews.handle(incident).fetch_history())

    run(scenario)


def test_action_items_keep_the_review_open_until_done() -> None:
    async def scenario() -> None:
        async with bench() as b:
            incident, reviews = await reviewed_incident(b)
            opened = (await review_until(reviews, incident, lambda s: True)).opened_at
            first = opened + timedelta(days=2)
            await reviews.act(incident, add("Page the desk on SEV1 at once", "amoreno", first))
            await reviews.act(incident, add("Add a location field", "responder", first))
            cause = ReviewAction(
                kind="root_cause",
                actor=LEAD,
                factors=["late-signal", "missing-location"],
                cause_step="respond",
                changes="The form asks for the location first.",
            )
            await reviews.act(incident, cause)
            with pytest.raises(ActionRefused) as refused:
                await reviews.act(incident, DONE)
            assert refused.value.kind is Refusal.REFUSED
            assert "2 action item(s) still open: A1" in refused.value.reason
            await reviews.act(incident, close("A1", RESPONDER))  # its owner, a person
            with pytest.raises(ActionRefused, match=r"1 action item\(s\) still open: A2"):
                await reviews.act(incident, DONE)
            await reviews.act(incident, close("A2", RESPONDER))  # a holder of its role
            result = await reviews.act(incident, DONE)
            assert result.detail == "review done: reviewed with the desk"
            final: ReviewState = await reviews.handle(incident).result()
            assert final.status == "closed" and final.closed_by == "dokafor"
            assert [i.status for i in final.items] == ["closed", "closed"]
            assert final.root_cause is not None and final.root_cause.step == "respond"
            with pytest.raises(ActionRefused) as after:
                await reviews.act(incident, add("Too late", "lead", first))
            assert after.value.kind is Refusal.CLOSED

    run(scenario)


def test_reminders_and_escalations_go_out_once_each_on_the_clock() -> None:
    async def scenario() -> None:
        async with bench() as b:
            incident, reviews = await reviewed_incident(b)
            opened = (await review_until(reviews, incident, lambda s: True)).opened_at
            await reviews.act(
                incident, add("Fix the runbook", "amoreno", opened + timedelta(days=2))
            )
            assert notices(b, incident) == []
            await b.env.sleep(timedelta(days=1, hours=1))  # past A1's reminder (a day before)
            await review_until(reviews, incident, lambda s: "A1/reminder" in s.sent)
            [reminder] = notices(b, incident)
            assert reminder.to == "amoreno" and not reminder.to_is_role
            assert reminder.idempotency_key == f"{review_id(incident)}/A1/reminder"
            await b.env.sleep(timedelta(days=1))  # A1 overdue: escalated to legal
            await review_until(reviews, incident, lambda s: "A1/overdue" in s.sent)
            await b.env.sleep(
                timedelta(days=3)
            )  # the review's own reminder (4d), then its due (5d)
            state = await review_until(reviews, incident, lambda s: "review/overdue" in s.sent)
            prefix = f"{review_id(incident)}/"
            keys = sorted(n.idempotency_key.removeprefix(prefix) for n in notices(b, incident))
            assert keys == ["A1/overdue", "A1/reminder", "review/overdue", "review/reminder"]
            escalations = [n for n in notices(b, incident) if "overdue" in n.idempotency_key]
            assert {(n.to, n.to_is_role) for n in escalations} == {("legal", True)}
            assert state.status == "open"  # overdue is not done
            await b.env.sleep(timedelta(days=3))
            await review_until(reviews, incident, lambda s: True)
            assert len(notices(b, incident)) == 4  # each once, however long it stays late

    run(scenario)


def test_who_may_act_and_what_is_refused() -> None:
    async def scenario() -> None:
        async with bench() as b:
            incident, reviews = await reviewed_incident(b)
            opened = (await review_until(reviews, incident, lambda s: True)).opened_at
            later = opened + timedelta(days=2)
            cases: list[tuple[ReviewAction, Refusal, str]] = [
                (add("x", "lead", later, RESPONDER), Refusal.FORBIDDEN, "may not change"),
                (add("x", "lead", later, UK_LEAD), Refusal.FORBIDDEN, "may not change"),
                (add("x", "lead", opened - timedelta(hours=1)), Refusal.INVALID, "has passed"),
                (add(" ", "lead", later), Refusal.INVALID, "a title is required"),
                (close("A9"), Refusal.REFUSED, "no action item 'A9'"),
                (ReviewAction(kind="done", actor=COUNSEL), Refusal.FORBIDDEN, "only the review"),
                (
                    ReviewAction(
                        kind="root_cause", actor=LEAD, factors=["x"], cause_step="nope", changes="c"
                    ),
                    Refusal.INVALID,
                    "has no step 'nope'",
                ),
                (
                    ReviewAction(kind="root_cause", actor=LEAD, factors=[], changes="c"),
                    Refusal.INVALID,
                    "at least one contributing factor",
                ),
            ]
            for action, kind, reason in cases:
                with pytest.raises(ActionRefused) as refused:
                    await reviews.act(incident, action)
                assert refused.value.kind is kind, (action, refused.value.reason)
                assert reason in refused.value.reason
            await reviews.act(incident, add("Fix it", "lead", later))
            await reviews.act(incident, close("A1"))
            with pytest.raises(ActionRefused, match="already closed"):
                await reviews.act(incident, close("A1"))
            # Only the owner marks it done; with nothing open, that closes it.
            await reviews.act(incident, DONE)
            status = (await reviews.handle(incident).describe()).status
            assert status == WorkflowExecutionStatus.COMPLETED

    run(scenario)


def test_a_refused_action_leaves_the_history_unchanged() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            incident, reviews = await reviewed_incident(b)
            opened = (await review_until(reviews, incident, lambda s: True)).opened_at
            await reviews.act(incident, add("Fix it", "lead", opened + timedelta(days=2)))
            handle: Any = reviews.handle(incident)
            before = await b.history_length(handle)
            for action in (DONE, close("A7"), add("x", "lead", opened, RESPONDER)):
                with pytest.raises(ActionRefused):
                    await reviews.act(incident, action)
            assert await b.history_length(handle) == before

    run(scenario)
