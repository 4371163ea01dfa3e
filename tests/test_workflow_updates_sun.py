"""Stakeholder updates whose cadence follows the sun, on the time-skipping server with the
real Rota activities: a US incident whose lead is on call only at the UK desk is asked of the
UK desk, which posts it; the US lead is refused (and leaves no trace, on the real dev
server); a missed update pages the escalation role at the UK desk. The console offers the
form to the desk asked."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from temporalio.client import WorkflowHandle

from activities.desks import DeskActivities
from sopflow.client.incidents import ActionRefused, Refusal
from sopflow.contract.messages import (
    Actor,
    CompleteTask,
    IncidentState,
    NotifyRequest,
    PostUpdate,
    StakeholderUpdate,
    UpdatesState,
)
from sopflow.contract.names import ESCALATION_CHANNEL
from sopflow.contract.plan import Plan
from sopflow.contract.updates import UPDATE_DUE
from sopflow.language.models.rota import RotaDoc
from sopflow.language.validation import validate_document
from sopflow.language.yaml_source import parse_text
from sopflow.web.pages import updates as updates_page
from sopflow.web.visits import Visit
from tests.harness import Bench, bench, compile_text, run

pytestmark = pytest.mark.e2e

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: sun-updates
version: 1
title: Updates that follow the sun
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Incident lead}
  commander: {description: Commander}
  stakeholders: {description: Stakeholders}
updates:
  SEV0:
    every: 30m
    to: stakeholders
    channel: email
    escalate_after: 10m
    escalate: [commander]
    follow_the_sun: true
defaults:
  sla: 24h
steps:
  - id: triage
    type: triage
    rules:
      - severity: SEV0
  - id: work
    type: task
    assignee: responder
  - id: done
    type: end
    outcome: resolved
"""

# Whenever the test runs: the US desk never has a lead on call, the UK desk always has.
ROTA = """\
apiVersion: sopflow/v1
kind: Rota
desks:
  US:
    timezone: America/New_York
    shifts:
      - {name: always, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "24:00"}
    oncall:
      - {role: responder, shift: always, people: [amoreno]}
  UK:
    timezone: Europe/London
    shifts:
      - {name: always, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "24:00"}
    oncall:
      - {role: lead, shift: always, people: [tbrennan]}
      - {role: commander, shift: always, people: [okhan]}
"""

RESPONDER = Actor(id="amoreno", roles=["responder"], region="US")
UK_LEAD = Actor(id="tbrennan", roles=["lead"], region="UK")
US_LEAD = Actor(id="dokafor", roles=["lead"], region="US")
PLAN = compile_text(SOP, ROTA)


def rota() -> RotaDoc:
    source, problems = parse_text(textwrap.dedent(ROTA), "rota.yaml")
    assert source is not None and problems == []
    model, problems = validate_document(source)
    assert problems == [] and isinstance(model, RotaDoc)
    return model


def desks() -> list[Callable[..., object]]:
    doc = rota()
    return DeskActivities(lambda: doc).activities()


def sent(b: Bench, purpose: str) -> list[NotifyRequest]:
    return [n for n in b.fakes.notifications if n.idempotency_key.endswith(f"/{purpose}")]


def notified(state: IncidentState, number: int) -> int:
    """How many notifications about update ``number`` have gone out (the timeline says so
    once each is delivered)."""
    return sum(e.kind == "notified" and f"(update {number})" in e.detail for e in state.timeline)


def records(state: IncidentState) -> list[tuple[int, str, str | None]]:
    assert state.updates is not None
    return [(r.number, r.status, r.desk) for r in state.updates.records]


async def first_ask(b: Bench, plan: Plan = PLAN) -> WorkflowHandle[Any, Any]:
    h = await b.start(plan)
    await b.until(h, lambda s: s.steps["work"].status == "active")
    await b.env.sleep(timedelta(minutes=31))
    await b.until(h, lambda s: records(s) == [(1, "due", "UK")] and notified(s, 1) == 1)
    return h


def test_the_plan_carries_follow_the_sun() -> None:
    assert PLAN.updates is not None and PLAN.updates["SEV0"].follow_the_sun
    assert '"follow_the_sun":true' in PLAN.canonical_json()
    plain = compile_text(SOP.replace("    follow_the_sun: true\n", ""))
    assert plain.updates is not None and not plain.updates["SEV0"].follow_the_sun
    assert "follow_the_sun" not in plain.canonical_json()


def test_the_desk_on_shift_is_asked_posts_and_is_paged() -> None:
    async def scenario() -> None:
        async with bench(activities=desks()) as b:
            h = await first_ask(b)
            [ask] = sent(b, "due")
            assert (ask.channel, ask.to, ask.to_is_role) == (ESCALATION_CHANNEL, "lead", True)
            assert ask.region == "UK"
            state = await b.state(h)
            [due] = [e for e in state.timeline if e.kind == UPDATE_DUE]
            assert "asked of lead on the UK desk (US is off shift; UK is on shift" in due.detail
            # The incident's own desk holds the role, but the update is asked of the UK desk.
            with pytest.raises(ActionRefused) as caught:
                await b.act(h, PostUpdate(actor=US_LEAD, text="from the US"))
            assert caught.value.kind == Refusal.FORBIDDEN
            assert caught.value.reason == (
                "dokafor works on the US desk; this update is asked of the UK desk"
            )
            assert records(await b.state(h)) == [(1, "due", "UK")]
            result = await b.act(h, PostUpdate(actor=UK_LEAD, text="Agency acknowledged."))
            assert result.detail == "update 1 posted"
            await b.until(h, lambda s: notified(s, 1) == 2)
            [out] = sent(b, "posted")
            assert (out.channel, out.to, out.region) == ("email", "stakeholders", "US")
            # The second is asked of the UK desk too, and its miss pages the UK commander.
            await b.env.sleep(timedelta(minutes=30 + 11))
            await b.until(
                h,
                lambda s: (
                    [r[1] for r in records(s)] == ["posted", "missed"] and notified(s, 2) == 2
                ),
            )
            [page] = sent(b, "missed")
            assert (page.channel, page.to, page.to_is_role) == (
                ESCALATION_CHANNEL,
                "commander",
                True,
            )
            assert page.region == "UK"
            await b.act(h, CompleteTask(step="work", actor=RESPONDER))
            final: IncidentState = await h.result()
            assert records(final) == [(1, "posted", "UK"), (2, "missed", "UK")]
            assert final.updates is not None
            assert final.updates.records[0].posted_by == "tbrennan"

    run(scenario)


def test_a_refused_post_leaves_the_history_unchanged() -> None:
    # On the real dev server, where time does not skip: the first ask a second after the
    # start, and a grace of an hour so nothing else happens while the refusal is checked.
    assert PLAN.updates is not None
    quick = PLAN.updates["SEV0"].model_copy(update={"every_s": 1, "escalate_after_s": 3600})
    plan = PLAN.model_copy(update={"updates": {"SEV0": quick}}).with_hash()

    async def scenario() -> None:
        async with bench(dev_server=True, activities=desks()) as b:
            h = await b.start(plan)
            # Asked, and the ask delivered: the clock then waits out the grace, quietly.
            await b.until(h, lambda s: s.updates is not None and notified(s, 1) == 1)
            assert records(await b.state(h)) == [(1, "due", "UK")]
            before = await b.history_length(h)
            with pytest.raises(ActionRefused) as caught:
                await b.act(h, PostUpdate(actor=US_LEAD, text="from the US"))
            assert "this update is asked of the UK desk" in caught.value.reason
            assert await b.history_length(h) == before

    run(scenario)


class _Visit:
    """What the console's updates section reads of a visit: who it is."""

    roles_on = Visit.roles_on

    def __init__(self, actor: Actor) -> None:
        self.person = SimpleNamespace(actor=lambda: actor)


def test_the_console_offers_the_form_to_the_desk_asked() -> None:
    now = datetime(2030, 1, 15, 3, tzinfo=UTC)
    state = IncidentState(
        incident_id="inc-1",
        sop="sun-updates",
        version=1,
        region="US",
        plan_hash=PLAN.plan_hash,
        opened_by="amoreno",
        opened_at=now,
        updates=UpdatesState(
            records=[StakeholderUpdate(number=1, severity="SEV0", asked="lead", asked_at=now)]
        ),
    )
    assert state.updates is not None
    detail = SimpleNamespace(
        summary=SimpleNamespace(id="inc-1", status="running"),
        unavailable=None,
        updates=state.updates.records,  # as the API's incident answer carries them
    )

    def form_for(actor: Actor) -> bool:
        found = updates_page.section(cast(Any, _Visit(actor)), cast(Any, detail), PLAN, None)
        assert found is not None
        return found.form is not None

    # Asked of the incident's own desk (no desk recorded): its lead posts, not the UK's.
    assert form_for(US_LEAD) and not form_for(UK_LEAD)
    state.updates.records[0].desk = "UK"
    assert form_for(UK_LEAD) and not form_for(US_LEAD)
