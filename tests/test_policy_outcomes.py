"""W309: a disclosure check's `needs_approval` or `denied` branch that its policy can never
take there, by its rules alone or with the facts known on every way to the step (the review's
findings F1, F2 and F7 on the shipped published versions are of this kind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sopflow.compile.lint import lint_library
from sopflow.contract.conditions import facts_of, negation, normalised
from sopflow.language.checks.policy_outcomes import Facts, decisions, never_decided

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).resolve().parent.parent / "sop_definitions"
REPO = SHIPPED.parent


def test_an_outcome_no_rule_decides_is_dead() -> None:
    rules = [("request.emergency", "allowed"), (None, "denied")]
    assert (
        never_decided("p", rules, "needs_approval", {})
        == "policy `p` has no rule that decides `needs_approval`"
    )
    assert never_decided("p", rules, "denied", {}) is None


def test_a_rule_without_when_decides_before_the_later_ones() -> None:
    rules = [("request.a", "allowed"), (None, "needs_approval"), ("request.b", "denied")]
    why = never_decided("p", rules, "denied", {})
    assert why == (
        "policy `p` rule 2 has no `when`: it decides `needs_approval` before any rule that "
        "decides `denied`"
    )


RULES = [
    ("!request.danger", "denied"),
    ("request.imminent", "allowed"),
    ("request.danger", "needs_approval"),
    (None, "denied"),
]


def test_a_known_fact_decides_the_rules() -> None:
    known: Facts = {"danger": (True, "steps.a.output.credible", "route")}
    found = decisions(RULES, known)
    assert found.reachable == {"allowed", "needs_approval"}
    assert found.first == 3 and found.never == {1: "denied"}
    why = never_decided("p", RULES, "denied", known)
    assert why == (
        "in policy `p`, rule 3 (`request.danger`) always decides `needs_approval` first and "
        "rule 1 (`!request.danger`) never matches, because `request.danger` "
        "(`steps.a.output.credible`) is true on every way to this step (decided at `route`)"
    )


def test_unknown_facts_leave_every_rule_open() -> None:
    assert decisions(RULES, {}).reachable == {"allowed", "needs_approval", "denied"}
    # && and || still decide when the known side does
    rules = [("request.a && request.b", "allowed"), ("request.a || request.b", "denied")]
    found = decisions(rules, {"a": (False, "x", "s")})
    assert found.never == {1: "allowed"} and found.reachable == {"denied"}
    found = decisions(rules, {"b": (True, "x", "s")})
    assert found.reachable == {"allowed", "denied"} and found.first == 2


def test_what_a_condition_tells_about_its_parts() -> None:
    assert dict(facts_of("steps.a.output.x && 'AU' in input.c", True)) == {
        "steps.a.output.x&&'AU' in input.c": True,
        "steps.a.output.x": True,
        "'AU' in input.c": True,
    }
    assert dict(facts_of("!(input.a || input.b)", True)) == {
        "!(input.a||input.b)": True,
        "input.a||input.b": False,
        "input.a": False,
        "input.b": False,
    }
    # a failed && tells nothing about its parts; the severity may change: never a fact
    assert dict(facts_of("input.a && input.b", False)) == {"input.a&&input.b": False}
    assert list(facts_of('incident.severity == "SEV0"', True)) == []
    assert negation("!input.a == input.b") is None
    assert normalised("( input.a )") == "input.a"


def _w309(root: Path, text: str) -> list[str]:
    (root / "referral").mkdir(parents=True)
    (root / "referral" / "v1.yaml").write_text(text)
    result = lint_library(root)
    errors = [d.format() for d in result.diagnostics if d.severity == "error"]
    assert not errors, errors
    return [d.message for d in result.diagnostics if d.code == "W309"]


SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: referral
version: 1
title: F
owner: t
region: US
description: d
roles: {{responder: {{description: r}}, legal: {{description: l}}}}
defaults: {{sla: 1h}}
{extra}steps:
  - id: assess
    type: task
    title: Assess
    assignee: responder
    form:
      type: object
      required: [credible]
      properties: {{credible: {{type: boolean}}}}
  - id: route
    type: decision
    branches:
      - when: steps.assess.output.credible
        goto: check
      - goto: done
  - id: check
    type: disclosure_check
    policy: us-threat-referral
    request:
      danger_to_life: steps.assess.output.credible
      imminent: "false"
      location_country: '"US"'
    on: {{allowed: done, needs_approval: done, denied: done}}
  - id: done
    type: end
    outcome: resolved
"""


def _library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    (root / "policies").mkdir(parents=True)
    policy = (SHIPPED / "policies" / "us-threat-referral.yaml").read_text()
    (root / "policies" / "us-threat-referral.yaml").write_text(policy)
    for name in ("regions.yaml", "roster.yaml"):
        (root / name).write_text((SHIPPED / name).read_text())
    return root


def test_the_route_makes_the_refusal_dead(tmp_path: Path) -> None:
    found = _w309(_library(tmp_path), SOP.format(extra=""))
    assert len(found) == 1 and found[0].startswith("`on.denied` can never be taken")
    assert "(decided at `route`)" in found[0]


def test_an_event_handler_into_the_check_keeps_the_refusal_alive(tmp_path: Path) -> None:
    extra = "on_event:\n  recheck: {goto: check}\n"
    assert _w309(_library(tmp_path), SOP.format(extra=extra)) == []


def test_the_review_findings_are_caught_on_the_published_versions() -> None:
    result = lint_library(SHIPPED)
    found = {
        (d.path.rsplit("/", 2)[-2] + "/" + d.path.rsplit("/", 1)[-1], d.message.split(":")[0])
        for d in result.diagnostics
        if d.code == "W309" and "/v1" in d.path
    }
    assert found >= {
        ("csea-report/v1.yaml", "`on.needs_approval` can never be taken"),  # F1, US
        ("csea-report/v1.yaml", "`on.denied` can never be taken"),  # F1, every region
        ("csea-report/v1-uk.yaml", "`on.needs_approval` can never be taken"),  # F2, UK
        ("csea-report/v1-au.yaml", "`on.denied` can never be taken"),  # F2, AU
        ("threat-to-life/v1.yaml", "`on.denied` can never be taken"),  # F7
    }
