"""Desks: a person's roles act on incidents of their own region, and on another region's
only through a role the SOP lists in `global_roles`. The region comes from the Roster,
travels in the signed action, and the workflow decides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sopflow.client.incidents import Refusal
from sopflow.contract.assertions import claims
from sopflow.contract.messages import Actor, CompleteTask, IncidentState, Note, Vote
from tests.harness import bench, compile_text, run
from tests.test_per_role_quorum import COUNSEL_AND_LEAD, lint_messages
from tests.test_workflow_people import PEOPLE, active, refused

US_RESPONDER = Actor(id="alice", roles=["responder"], region="US")
UK_RESPONDER = Actor(id="pat", roles=["responder"], region="UK")
US_LEAD = Actor(id="bob", roles=["lead"], region="US")
UK_LEAD = Actor(id="tom", roles=["lead"], region="UK")
US_COUNSEL = Actor(id="cara", roles=["legal"], region="US")
VERIFIED = {"verified": True}
WRONG_DESK = "tom works on the UK desk; this is a US incident, acted on by the US desk"


def vote(actor: Actor) -> Vote:
    return Vote(step="approve", actor=actor, decision="approve", reason="checked")


@pytest.mark.e2e
def test_a_uk_lead_is_refused_on_a_us_incident_and_a_us_lead_is_not() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            h = await b.start(compile_text(PEOPLE))  # region US
            await b.until(h, active("verify"))
            task = CompleteTask(step="verify", actor=UK_RESPONDER, data=VERIFIED)
            await refused(b, h, task, "pat works on the UK desk", Refusal.FORBIDDEN)
            await b.act(h, CompleteTask(step="verify", actor=US_RESPONDER, data=VERIFIED))
            await b.until(h, active("approve"))
            await refused(b, h, vote(UK_LEAD), WRONG_DESK, Refusal.FORBIDDEN)
            note = Note(actor=UK_LEAD, text="can we help?")
            await refused(b, h, note, WRONG_DESK, Refusal.FORBIDDEN)
            await b.act(h, vote(US_LEAD))
            await b.act(h, vote(US_COUNSEL))
            final: IncidentState = await h.result()
            assert final.outcome == "resolved"

    run(scenario)


@pytest.mark.e2e
def test_global_roles_act_from_any_desk() -> None:
    sop = PEOPLE.replace("defaults:", "global_roles: [lead]\ndefaults:")

    async def scenario() -> None:
        async with bench() as b:
            plan = compile_text(sop)
            assert plan.global_roles == ["lead"]
            h = await b.start(plan)
            await b.until(h, active("verify"))
            await b.act(h, CompleteTask(step="verify", actor=US_RESPONDER, data=VERIFIED))
            await b.until(h, active("approve"))
            await b.act(h, vote(UK_LEAD))  # lead is global here
            await b.act(h, vote(US_COUNSEL))
            final: IncidentState = await h.result()
            assert [v.actor for v in final.steps["approve"].votes] == ["tom", "cara"]

    run(scenario)


@pytest.mark.unit
def test_the_region_is_signed_when_named_and_absent_otherwise() -> None:
    action = CompleteTask(step="verify", actor=US_RESPONDER, data=VERIFIED)
    signed = claims(action, "inc-1", "req-1", _at(), "key")
    assert signed["region"] == "US"
    moved = action.model_copy(update={"actor": UK_RESPONDER.model_copy(update={"id": "alice"})})
    assert claims(moved, "inc-1", "req-1", _at(), "key") != signed  # edited: no longer matches
    legacy = CompleteTask(step="verify", actor=Actor(id="alice", roles=["responder"]), data={})
    assert "region" not in claims(legacy, "inc-1", "req-1", _at(), "key")
    assert "region" not in legacy.model_dump(mode="json")["actor"]


def _at() -> datetime:
    return datetime(2026, 12, 3, tzinfo=UTC)


@pytest.mark.unit
def test_lint_checks_global_roles_are_declared(tmp_path: Any) -> None:
    sop = PEOPLE.replace("defaults:", "global_roles: [leed]\ndefaults:")
    roster = {"alice": ["responder"], "bob": ["lead"], "dan": ["lead"], "cara": ["legal"]}
    found = lint_messages(sop, roster, tmp_path)
    assert (
        "E302: role `leed` in `global_roles` is not declared in `roles` (did you mean `lead`?)"
        in found
    )


@pytest.mark.unit
def test_an_sop_without_global_roles_keeps_its_plan_hash() -> None:
    assert '"global_roles"' not in compile_text(PEOPLE).canonical_json()


@pytest.mark.e2e
def test_a_role_held_on_another_desk_acts_there_and_only_with_that_role() -> None:
    """Kwame is US counsel who also covers the UK desk as counsel (`desks: {UK: [legal]}`):
    he votes on a UK incident as counsel. Omar, a UK lead with counsel made global, may vote
    on a US incident as counsel but cannot fill its lead place."""
    covering = Actor(id="kwame", roles=["legal", "lead"], region="US", desks={"UK": ["legal"]})
    uk_both = Actor(id="omar", roles=["legal", "lead"], region="UK")
    uk_sop = COUNSEL_AND_LEAD.replace("region: US", "region: UK")
    global_legal = COUNSEL_AND_LEAD.replace("defaults:", "global_roles: [legal]\ndefaults:")

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            uk = await b.start(compile_text(uk_sop))
            await b.until(uk, active("verify"))
            await b.act(uk, CompleteTask(step="verify", actor=UK_RESPONDER, data=VERIFIED))
            await b.until(uk, active("approve"))
            await b.act(uk, vote(covering))
            votes = (await b.state(uk)).steps["approve"].votes
            assert [(v.actor, v.roles) for v in votes] == [("kwame", ["legal"])]

            us = await b.start(compile_text(global_legal))
            await b.until(us, active("verify"))
            await b.act(us, CompleteTask(step="verify", actor=US_RESPONDER, data=VERIFIED))
            await b.until(us, active("approve"))
            await b.act(us, vote(uk_both))  # as counsel, the global role
            await refused(b, us, vote(UK_LEAD), WRONG_DESK, Refusal.FORBIDDEN)
            await b.act(us, vote(US_LEAD))
            final: IncidentState = await us.result()
            assert [(v.actor, v.roles) for v in final.steps["approve"].votes] == [
                ("omar", ["legal"]),
                ("bob", ["lead"]),
            ]

    run(scenario)


@pytest.mark.unit
def test_roles_on_other_desks_are_signed_when_held() -> None:
    covering = Actor(id="kwame", roles=["legal"], region="US", desks={"UK": ["legal"]})
    action = CompleteTask(step="verify", actor=covering, data=VERIFIED)
    signed = claims(action, "inc-1", "req-1", _at(), "key")
    assert signed["desks"] == {"UK": ["legal"]}
    widened = covering.model_copy(update={"desks": {"UK": ["legal", "lead"]}})
    moved = action.model_copy(update={"actor": widened})
    assert claims(moved, "inc-1", "req-1", _at(), "key") != signed
    assert "desks" not in claims(
        CompleteTask(step="verify", actor=US_RESPONDER, data=VERIFIED), "inc-1", "r", _at(), "k"
    )
