"""Per-role quorum (`requires`): "counsel and a lead" means one of each, distinct people.

The workflow end to end on the time-skipping server (and the refusal on the dev server,
where a refused update leaves no trace), the matching that decides it, lint's check of the
roster, and that plans not using it keep their hashes."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sopflow.client.incidents import Refusal
from sopflow.contract.messages import Actor, IncidentState, Vote
from sopflow.contract.quorum import max_matching
from tests.harness import bench, compile_text, run
from tests.test_workflow_people import ALICE, PEOPLE, active, complete, refused

COUNSEL_AND_LEAD = PEOPLE.replace(
    "    approvers: [lead, legal]\n    quorum: 2\n",
    "    requires: [{role: legal, count: 1}, {role: lead, count: 1}]\n",
)
LEAD_1, LEAD_2 = Actor(id="bob", roles=["lead"]), Actor(id="dan", roles=["lead"])
COUNSEL = Actor(id="cara", roles=["legal"])
BOTH = Actor(id="eve", roles=["legal", "lead"])


# Two US leads, US counsel, and a second counsel (Ellie) whom each test places elsewhere.
ELLIE_ELSEWHERE = {
    "alice": ["responder"],
    "bob": ["lead"],
    "dan": ["lead"],
    "cara": ["legal"],
    "ellie": ["legal"],
}


def approve(actor: Actor) -> Vote:
    return Vote(step="approve", actor=actor, decision="approve", reason="checked")


@pytest.mark.e2e
def test_two_leads_cannot_make_counsel_and_a_lead_but_counsel_and_a_lead_can() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            plan = compile_text(COUNSEL_AND_LEAD)
            [step] = [s for s in plan.steps if s.id == "approve"]
            assert step.type == "approval" and step.quorum == 2
            h = await b.start(plan)
            await b.until(h, active("verify"))
            await complete(b, h, ALICE, {"verified": True})
            await b.until(h, active("approve"))
            await b.act(h, approve(LEAD_1))
            await refused(
                b,
                h,
                approve(LEAD_2),
                "dan's approval fills no open place on 'approve', which needs 1 legal + "
                "1 lead (distinct people): the places for lead are already filled",
                Refusal.FORBIDDEN,
            )
            await b.act(h, approve(COUNSEL))
            final: IncidentState = await h.result()
            assert final.outcome == "resolved"
            votes = final.steps["approve"].votes
            assert [(v.actor, v.roles) for v in votes] == [("bob", ["lead"]), ("cara", ["legal"])]

    run(scenario)


@pytest.mark.e2e
def test_someone_holding_both_roles_fills_either_place() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(COUNSEL_AND_LEAD))
            await b.until(h, active("verify"))
            await complete(b, h, ALICE, {"verified": True})
            await b.until(h, active("approve"))
            await b.act(h, approve(BOTH))  # takes the legal or the lead place
            still: IncidentState = await b.state(h)
            assert still.steps["approve"].status == "active"
            await b.act(h, approve(LEAD_1))  # the matching gives eve the legal place
            final: IncidentState = await h.result()
            assert final.outcome == "resolved"

    run(scenario)


@pytest.mark.unit
def test_the_matching_counts_people_once_each() -> None:
    places = [["legal"], ["lead"]]
    assert max_matching(places, [["lead"], ["lead"]]) == 1
    assert max_matching(places, [["legal", "lead"], ["lead"]]) == 2
    assert max_matching(places, [["lead"], ["legal", "lead"]]) == 2  # order does not matter
    assert max_matching(places, [["legal", "lead"]]) == 1
    assert max_matching([["lead"], ["lead"]], [["lead"], ["commander"]]) == 1


ROLES = ["legal", "lead", "commander"]


@pytest.mark.unit
@given(
    st.lists(st.sampled_from(ROLES), min_size=1, max_size=4),
    st.lists(st.lists(st.sampled_from(ROLES), max_size=3), max_size=5),
)
def test_the_matching_agrees_with_trying_every_assignment(
    places: list[str], people: list[list[str]]
) -> None:
    """The matching is the best any assignment of distinct people to places achieves."""
    best = 0
    # Each person takes one place they may fill, or none; no place twice.
    for choice in product(*([None, *range(len(places))] for _ in people)):
        taken = [c for c in choice if c is not None]
        fits = all(c is None or places[c] in roles for c, roles in zip(choice, people, strict=True))
        if fits and len(taken) == len(set(taken)):
            best = max(best, len(taken))
    assert max_matching([[p] for p in places], people) == best


def lint_messages(
    sop: str, roster: dict[str, list[str]], tmp: Any, regions: dict[str, str] | None = None
) -> list[str]:
    """Lint one SOP with a roster (handle -> roles; everyone on the US desk unless
    ``regions`` places them elsewhere)."""
    from sopflow.compile.lint import lint_library

    (tmp / "people").mkdir()
    (tmp / "people" / "v1.yaml").write_text(sop, encoding="utf-8")
    where = regions or {}
    people = "\n".join(
        f"  {h}: {{name: {h}, region: {where.get(h, 'US')}, roles: [{', '.join(r)}]}}"
        for h, r in roster.items()
    )
    (tmp / "roster.yaml").write_text(
        f"apiVersion: sopflow/v1\nkind: Roster\npeople:\n{people}\n", encoding="utf-8"
    )
    return [f"{d.code}: {d.message}" for d in lint_library(tmp).diagnostics]


@pytest.mark.unit
def test_lint_names_the_role_the_roster_is_short_of(tmp_path: Any) -> None:
    roster = {"alice": ["responder"], "bob": ["lead"], "dan": ["lead"], "cara": ["legal"]}
    [message] = lint_messages(COUNSEL_AND_LEAD, roster, tmp_path)
    assert message == (
        "E304: on the US desk, `requires` needs 1 legal + 1 lead (distinct people), but the "
        "roster has 0 holding legal once cara is excluded by four-eyes"
    )


@pytest.mark.unit
def test_lint_counts_only_the_incidents_desk(tmp_path: Any) -> None:
    """Counsel on the UK desk cannot vote on a US incident, so they do not make up the US
    desk's shortfall (a UK incident would be theirs)."""
    roster = ELLIE_ELSEWHERE
    [message] = lint_messages(COUNSEL_AND_LEAD, roster, tmp_path, {"ellie": "UK"})
    assert message.startswith("E304: on the US desk, `requires` needs 1 legal + 1 lead")
    assert "0 holding legal once cara is excluded" in message


@pytest.mark.unit
def test_lint_accepts_a_roster_that_can_always_meet_it(tmp_path: Any) -> None:
    roster = {
        "alice": ["responder"],
        "bob": ["lead"],
        "dan": ["lead"],
        "cara": ["legal"],
        "kim": ["legal"],
    }
    assert lint_messages(COUNSEL_AND_LEAD, roster, tmp_path) == []


@pytest.mark.unit
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("    requires: [{role: legal}]\n    approvers: [lead]\n", "exactly one of `approvers`"),
        ("    requires: [{role: legal}]\n    quorum: 2\n", "`quorum` comes from `requires`"),
        ("    requires: [{role: legal}, {role: legal}]\n", "each role appears once"),
        ("    requires: [{role: legal, count: 0}]\n", "greater than or equal to 1"),
        ("    requires: [{role: counsel}]\n", "role `counsel` is not declared"),
    ],
)
def test_lint_refuses_a_malformed_requires(change: str, message: str, tmp_path: Any) -> None:
    sop = PEOPLE.replace("    approvers: [lead, legal]\n    quorum: 2\n", change)
    roster = {"alice": ["responder"], "bob": ["lead"], "cara": ["legal"], "kim": ["legal"]}
    found = lint_messages(sop, roster, tmp_path)
    assert any(message in m for m in found), found


@pytest.mark.unit
def test_an_approval_without_requires_keeps_its_plan_hash() -> None:
    """`requires` is left out of the plan's canonical form when unused, so every published
    plan keeps its hash (test_shipped_library checks the lock)."""
    plan = compile_text(PEOPLE)
    assert '"requires"' not in plan.canonical_json()
    assert '"requires"' in compile_text(COUNSEL_AND_LEAD).canonical_json()


@pytest.mark.unit
def test_lint_counts_other_desks_through_the_sops_global_roles(tmp_path: Any) -> None:
    """With `global_roles: [legal]`, UK counsel may vote on a US incident: no shortfall."""
    roster = ELLIE_ELSEWHERE
    sop = COUNSEL_AND_LEAD.replace("roles:\n", "global_roles: [legal]\nroles:\n", 1)
    assert lint_messages(sop, roster, tmp_path, {"ellie": "UK"}) == []


@pytest.mark.unit
def test_lint_counts_roles_a_person_holds_on_the_desk(tmp_path: Any) -> None:
    """UK counsel who also covers the US desk (`desks: {US: [legal]}`) counts for it."""
    roster = ELLIE_ELSEWHERE
    places = {"ellie": "UK, desks: {US: [legal]}"}
    assert lint_messages(COUNSEL_AND_LEAD, roster, tmp_path, places) == []
