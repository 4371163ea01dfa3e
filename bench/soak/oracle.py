"""The comparison: what the model says each incident must end with against what the engine
reports through the API, and what had to arrive against what the receivers counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.soak.people import step_of
from bench.soak.scenarios import Sink, escalation_keys
from bench.soak.signatures import SignatureChecks
from bench.soak.work import Outcome


@dataclass
class Verdicts:
    """Every disagreement, by kind, with enough to find it."""

    finished: int = 0
    mismatched: list[str] = field(default_factory=list)  # "<incident>: <what differs>"
    lost: dict[Sink, list[str]] = field(default_factory=dict)  # expected keys never arrived
    doubled: dict[Sink, list[str]] = field(default_factory=dict)  # effects applied twice
    unexpected: dict[Sink, list[str]] = field(default_factory=dict)  # keys nobody expected
    redelivered: dict[Sink, int] = field(default_factory=dict)  # dropped by key at the sink
    postmortems_missing: list[str] = field(default_factory=list)
    postmortems_unexpected: list[str] = field(default_factory=list)


def _done_steps(detail: dict[str, Any]) -> set[str]:
    return {s["id"] for s in detail.get("steps", []) if s.get("status") == "done"}


def _timeline(detail: dict[str, Any], kind: str, step: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in detail.get("timeline", [])
        if e.get("kind") == kind and (step is None or e.get("step") == step)
    ]


def check_incident(
    outcome: Outcome, detail: dict[str, Any] | None, checks: SignatureChecks
) -> list[str]:
    """What differs between the model's expectation and the engine's report (empty: none)."""
    sc = outcome.scenario
    if outcome.stuck is not None:
        return [f"never got past {outcome.stuck}"]
    if detail is None:
        return ["no answer from the API"]
    summary = detail["summary"]
    problems: list[str] = []
    if summary["status"] != "completed" or summary["outcome"] != sc.expect.outcome:
        problems.append(
            f"ended {summary['status']}/{summary['outcome']}, the model says {sc.expect.outcome}"
        )
    done = _done_steps(detail)
    if done != sc.expect.steps:
        missing, extra = sorted(sc.expect.steps - done), sorted(done - sc.expect.steps)
        problems.append(f"steps done differ: missing {missing}, extra {extra}")
    slow = [m.step for m in sc.moves if m.after_breach]
    if bool(slow) != bool(summary["sla_breached"]):
        problems.append(f"SLA breached {summary['sla_breached']}, the model says {bool(slow)}")
    for step in {m.step for m in sc.moves if m.kind == "complete"}:
        completions = len(_timeline(detail, "task.completed", step))
        if completions != 1:
            problems.append(f"{step} completed {completions} times")
    notes = [e.get("detail", "") for e in _timeline(detail, "note")]
    if any(SignatureChecks.forged_text(sc.incident_id) in n for n in notes):
        problems.append("the forged note is on the timeline")
    if sc.incident_id in checks.replayed:
        replays = sum(SignatureChecks.replayed_text(sc.incident_id) in n for n in notes)
        if replays != 1:
            problems.append(f"the replayed note is on the timeline {replays} times")
    return problems


def expected_effects(
    outcomes: list[Outcome], details: dict[str, dict[str, Any]]
) -> dict[Sink, set[str]]:
    """Every key the model says must arrive, with the escalation pages of each breached step
    (as many as the breaches the engine reports; at least one is checked per incident)."""
    expected: dict[Sink, set[str]] = {"http": set(), "email": set(), "disclosure": set()}
    for outcome in outcomes:
        sc = outcome.scenario
        for sink, keys in sc.expect.effects.items():
            expected[sink] |= keys
        detail = details.get(sc.incident_id)
        for move in sc.moves:
            if move.after_breach and detail is not None:
                breaches = int(step_of(detail, move.step).get("breaches", 0))
                expected["http"] |= escalation_keys(sc.incident_id, move.step, breaches)
    return expected


def compare_effects(
    verdicts: Verdicts,
    expected: dict[Sink, set[str]],
    arrived: dict[Sink, Counter[str]],
) -> None:
    """Lost, doubled, unexpected and redelivered keys per sink. The disclosure log must hold
    each record once (its writer drops a repeated key); the channels' receivers drop
    repeated keys, so a repeat there is a redelivery, not a second effect."""
    for sink, keys in expected.items():
        got = arrived[sink]
        verdicts.lost[sink] = sorted(keys - set(got))
        verdicts.unexpected[sink] = sorted(set(got) - keys)
        repeats = {k: n for k, n in got.items() if n > 1}
        if sink == "disclosure":
            verdicts.doubled[sink] = sorted(repeats)
        else:
            verdicts.doubled[sink] = []
            verdicts.redelivered[sink] = sum(n - 1 for n in repeats.values())


def compare_postmortems(verdicts: Verdicts, outcomes: list[Outcome], drafted: set[str]) -> None:
    wanted = {o.scenario.incident_id for o in outcomes if o.scenario.expect.postmortem}
    verdicts.postmortems_missing = sorted(wanted - drafted)
    verdicts.postmortems_unexpected = sorted(drafted - wanted)
