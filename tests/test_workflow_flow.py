"""Waits, parallel joins, disclosure routing, post-mortems and long incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sopflow.contract.messages import ExternalEvent, IncidentState
from tests.harness import Fakes, bench, compile_text, run

pytestmark = pytest.mark.workflow

HEAD = """\
apiVersion: sopflow/v1
kind: SOP
id: flow
version: 1
title: Flow
owner: tests
region: US
roles:
  lead: {description: Lead}
defaults:
  sla: 30m
steps:
"""

POLICY = """\
apiVersion: sopflow/v1
kind: DisclosurePolicy
id: us-test
jurisdiction: US
rules:
  - when: request.emergency
    decision: allowed
    legal_basis: 18 U.S.C. 2702(b)(8)
    allow: [basic_subscriber_info]
  - decision: denied
    reason: No emergency basis
"""


def test_event_wait_receives_data_and_times_out() -> None:
    sop = (
        HEAD
        + """\
  - id: hold
    type: wait
    event: data-produced
    timeout: 2h
    on: {timeout: late}
  - id: done
    type: end
    outcome: resolved
  - id: late
    type: end
    outcome: expired
"""
    )

    async def scenario() -> None:
        async with bench() as b:
            plan = compile_text(sop)
            h = await b.start(plan)
            await b.until(h, lambda s: s.steps["hold"].status == "active")
            await b.act(h, ExternalEvent(name="other", data={}))
            await b.act(h, ExternalEvent(name="data-produced", data={"n": 3}))
            final: IncidentState = await h.result()
            assert final.outcome == "resolved" and final.steps["hold"].output == {"n": 3}
            assert [e.name for e in final.pending_events] == ["other"]
            h2 = await b.start(plan)
            late: IncidentState = await h2.result()  # time skips past the 2h timeout
            assert late.outcome == "expired" and late.steps["hold"].output == {"timed_out": True}

    run(scenario)


def test_a_year_long_wait_and_a_timestamp_wait() -> None:
    sop = (
        HEAD
        + """\
  - id: year
    type: wait
    for: 52w
  - id: until
    type: wait
    until: now + duration("36h")
  - id: done
    type: end
    outcome: resolved
"""
    )

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(sop))
            final: IncidentState = await h.result()
            opened = final.opened_at
            closed = final.steps["done"].finished_at
            assert closed is not None and closed - opened >= timedelta(weeks=52, hours=36)
            assert await b.history_length(h) < 30

    run(scenario)


def test_parallel_join_all_and_join_any() -> None:
    sop = (
        HEAD
        + """\
  - id: fan
    type: parallel
    join: any
    branches:
      - steps:
          - {id: slow, type: wait, for: 3d}
      - steps:
          - {id: quick, type: wait, for: 1h}
          - {id: tell, type: notify, channel: log, to: lead, message: quick won}
  - id: both
    type: parallel
    branches:
      - steps:
          - {id: a, type: notify, channel: log, to: lead, message: a}
      - steps:
          - {id: b, type: notify, channel: log, to: lead, message: b}
  - id: done
    type: end
    outcome: resolved
"""
    )

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(sop))
            final: IncidentState = await h.result()
            assert final.outcome == "resolved"
            assert final.steps["slow"].status == "skipped"  # cancelled by join any
            assert final.steps["quick"].status == "done" and final.steps["tell"].status == "done"
            assert sorted(n.message for n in b.fakes.notifications) == ["a", "b", "quick won"]

    run(scenario)


def test_end_inside_a_branch_ends_the_incident() -> None:
    sop = (
        HEAD
        + """\
  - id: fan
    type: parallel
    branches:
      - steps:
          - {id: wait-long, type: wait, for: 30d}
      - steps:
          - {id: stop, type: end, outcome: referred}
  - id: never
    type: notify
    channel: log
    to: lead
    message: never
"""
    )

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(sop))
            final: IncidentState = await h.result()
            assert (final.status, final.outcome) == ("completed", "referred")
            assert final.steps["never"].status == "pending" and b.fakes.notifications == []

    run(scenario)


def test_disclosure_outcomes_route_and_postmortem_drafts() -> None:
    sop = (
        HEAD
        + """\
  - id: triage
    type: triage
    rules:
      - when: input.emergency
        severity: SEV1
      - severity: SEV3
  - id: check
    type: disclosure_check
    policy: us-test
    request: {emergency: input.emergency}
    on: {denied: refuse}
  - id: review
    type: postmortem
    owner: lead
    due: 5d
  - id: done
    type: end
    outcome: resolved
  - id: refuse
    type: end
    outcome: declined
"""
    )

    async def scenario() -> None:
        async with bench() as b:
            plan = compile_text(sop, POLICY)
            yes: IncidentState = await (await b.start(plan, {"emergency": True})).result()
            assert yes.outcome == "resolved"
            assert yes.steps["check"].output["legal_basis"] == "18 U.S.C. 2702(b)(8)"
            [pm] = b.fakes.postmortems
            assert pm.severity == "SEV1" and pm.owner == "lead"
            assert any(e.kind == "disclosure.allowed" for e in pm.timeline)
            no: IncidentState = await (await b.start(plan, {"emergency": False})).result()
            assert no.outcome == "declined" and no.steps["review"].status == "pending"
            assert [d.facts for d in b.fakes.disclosures] == [
                {"emergency": True},
                {"emergency": False},
            ]

    run(scenario)


def test_long_incident_continues_as_new_without_losing_state() -> None:
    sop = (
        HEAD
        + """\
  - id: triage
    type: triage
    rules:
      - severity: SEV2
  - id: first
    type: notify
    channel: log
    to: lead
    message: one
  - id: pause
    type: wait
    for: 1h
  - id: second
    type: notify
    channel: log
    to: lead
    message: 'two {{ steps.first.status }}'
  - id: done
    type: end
    outcome: resolved
"""
    )

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(sop), continue_as_new_after=12)
            final: IncidentState = await h.result()
            assert final.outcome == "resolved" and final.runs >= 2
            assert final.severity == "SEV2" and final.steps["first"].status == "done"
            assert [n.message for n in b.fakes.notifications] == ["one", "two done"]
            assert any(e.kind == "incident.opened" for e in final.timeline)

    run(scenario)


def test_an_expression_that_cannot_be_evaluated_fails_loudly() -> None:
    sop = (
        HEAD
        + """\
  - id: triage
    type: triage
    rules:
      - when: input.flag
        severity: SEV1
      - severity: SEV3
"""
    )

    async def scenario() -> None:
        async with bench() as b:
            final: IncidentState = await (await b.start(compile_text(sop), {})).result()
            assert (final.status, final.outcome) == ("failed", "expression_error")
            assert final.steps["triage"].status == "failed"
            assert any("input.flag" in e.detail for e in final.timeline)

    run(scenario)


def test_a_step_whose_activity_keeps_failing_fails_the_incident() -> None:
    sop = (
        HEAD.replace(
            "  sla: 30m\n", "  sla: 30m\n  retry: {max_attempts: 2, initial_interval: 1s}\n"
        )
        + """\
  - id: page
    type: notify
    channel: pager
    to: lead
    message: hello
"""
    )

    async def scenario() -> None:
        async with bench(Fakes(fail_notify=True)) as b:
            final: IncidentState = await (await b.start(compile_text(sop))).result()
            assert (final.status, final.outcome) == ("failed", "step_failed:page")

    run(scenario)
