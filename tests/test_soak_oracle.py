"""The soak's oracle, without any server: it must tell a wrong ending, a doubled action, a
forged note and a lost, doubled or unexpected side effect from a good run."""

from __future__ import annotations

import copy
import random
from collections import Counter
from typing import Any

import pytest

from bench.soak.oracle import Verdicts, check_incident, compare_effects, expected_effects
from bench.soak.scenarios import FAMILIES, Scenario, Sink, escalation_keys, legal, scenarios
from bench.soak.signatures import SignatureChecks
from bench.soak.work import Outcome

pytestmark = pytest.mark.unit


def _produced() -> Scenario:
    rng = random.Random(0)  # noqa: S311 - test data, not a secret
    while (sc := legal(rng, "inc-1")).expect.outcome != "produced":
        pass
    sc.region = "US"
    return sc


def _detail(sc: Scenario) -> dict[str, Any]:
    """What the engine would report for an incident that went exactly as the model says."""
    steps = [{"id": s, "status": "done"} for s in sorted(sc.expect.steps)]
    completed = [
        {"kind": "task.completed", "step": m.step} for m in sc.moves if m.kind == "complete"
    ]
    return {
        "summary": {"status": "completed", "outcome": sc.expect.outcome, "sla_breached": False},
        "steps": steps,
        "timeline": completed,
    }


def test_a_run_as_the_model_says_passes_and_each_difference_is_named() -> None:
    sc, checks = _produced(), SignatureChecks()
    good = _detail(sc)
    assert check_incident(Outcome(sc), good, checks) == []
    wrong_end = copy.deepcopy(good)
    wrong_end["summary"]["outcome"] = "rejected"
    assert "the model says produced" in check_incident(Outcome(sc), wrong_end, checks)[0]
    twice = copy.deepcopy(good)
    twice["timeline"].append({"kind": "task.completed", "step": "produce"})
    assert check_incident(Outcome(sc), twice, checks) == ["produce completed 2 times"]
    skipped = copy.deepcopy(good)
    skipped["steps"] = [s for s in skipped["steps"] if s["id"] != "approve"]
    assert "missing ['approve']" in check_incident(Outcome(sc), skipped, checks)[0]
    forged = copy.deepcopy(good)
    forged["timeline"].append({"kind": "note", "detail": SignatureChecks.forged_text("inc-1")})
    assert check_incident(Outcome(sc), forged, checks) == ["the forged note is on the timeline"]
    assert check_incident(Outcome(sc, stuck="intake"), good, checks) == ["never got past intake"]


def test_effects_lost_doubled_and_unexpected_are_counted_per_key() -> None:
    sc = _produced()
    expected = expected_effects([Outcome(sc)], {})
    assert expected["disclosure"] == {"inc-1/check/1"}
    assert expected["http"] == {"inc-1/tell_requester/1/webhook/0"}
    verdicts = Verdicts()
    arrived: dict[Sink, Counter[str]] = {
        "http": Counter({"inc-1/tell_requester/1/webhook/0": 2, "inc-9/x/1/webhook/0": 1}),
        "email": Counter[str](),
        "disclosure": Counter({"inc-1/check/1": 2}),
    }
    compare_effects(verdicts, expected, arrived)
    assert verdicts.unexpected["http"] == ["inc-9/x/1/webhook/0"]
    assert verdicts.redelivered["http"] == 1  # a receiver drops it by its key
    assert verdicts.doubled["disclosure"] == ["inc-1/check/1"]  # the log must hold it once
    nothing: dict[Sink, Counter[str]] = {
        "http": Counter(),
        "email": Counter(),
        "disclosure": Counter(),
    }
    compare_effects(verdicts, expected, nothing)
    assert verdicts.lost["http"] == ["inc-1/tell_requester/1/webhook/0"]


def test_scenarios_cover_every_family_and_region_and_repeat_by_seed() -> None:
    runs = scenarios(24, seed=5, run="t")
    assert {(s.sop, s.region) for s in runs} == {
        (f, r) for f in FAMILIES for r in ("US", "UK", "AU")
    }
    again = scenarios(24, seed=5, run="t")
    assert [(s.name, s.input) for s in runs] == [(s.name, s.input) for s in again]


def test_escalation_pages_skip_the_breach_that_finds_the_chain_spent() -> None:
    assert escalation_keys("i", "s", 1) == {"i/s/1/escalation/1"}
    assert escalation_keys("i", "s", 4) == {f"i/s/1/escalation/{k}" for k in (1, 3, 4)}
