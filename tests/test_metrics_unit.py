"""Programme metrics from hand-built incident states with known timings: every figure
checked exactly (sopflow.client.metrics: facts, compute, rows, window, cache)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sopflow.client.metrics.cache import CACHE_DIR, FactsCache
from sopflow.client.metrics.compute import Spread, compute, nearest_rank, spread
from sopflow.client.metrics.facts import IncidentFacts, facts_of
from sopflow.client.metrics.rows import COLUMNS, tidy_rows
from sopflow.client.metrics.window import WindowError, parse_bound, runs_query, window_of
from sopflow.contract.messages import IncidentState, StepState, TimelineEntry, VoteRecord

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(days=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def entry(
    minutes: float, kind: str, step: str | None = None, detail: str = "", actor: str = "system"
) -> TimelineEntry:
    return TimelineEntry(at=at(minutes), actor=actor, kind=kind, step=step, detail=detail)


def vote(minutes: float, decision: Any) -> VoteRecord:
    return VoteRecord(actor="v", decision=decision, reason="secret reason", at=at(minutes))


def state(
    incident: str, timeline: list[TimelineEntry], steps: list[StepState], **kw: Any
) -> IncidentState:
    fields: dict[str, Any] = {
        "sop": "people",
        "version": 1,
        "region": "US",
        "plan_hash": "h",
        "opened_by": "o",
        "opened_at": T0,
        "severity": "SEV2",
        "status": "completed",
        "outcome": "resolved",
    }
    fields.update(kw)
    opened = entry(0, "incident.opened")
    return IncidentState(
        incident_id=incident, timeline=[opened, *timeline], steps={s.id: s for s in steps}, **fields
    )


def task(step: str, status: Any, start: float, end: float | None, breaches: int = 0) -> StepState:
    return StepState(
        id=step,
        type="task",
        status=status,
        started_at=at(start),
        finished_at=None if end is None else at(end),
        due_at=at(start + 30),
        breaches=breaches,
        output={"account": "user-data-123"},
    )


def approval(
    start: float | None, end: float | None, votes: list[VoteRecord], status: Any = "done"
) -> StepState:
    return StepState(
        id="approve",
        type="approval",
        status=status,
        started_at=None if start is None else at(start),
        finished_at=None if end is None else at(end),
        due_at=None if start is None else at(start + 60),
        votes=votes,
    )


# A: resolved; first action a note at 5m; approved at quorum 30m after the approval began;
# a disclosure allowed on a legal basis; closed at 1h.
A = state(
    "A",
    [
        entry(5, "note", None, "looking", actor="alice"),
        entry(10, "task.completed", "verify", actor="alice"),
        entry(20, "vote.approve", "approve", "ok", actor="bob"),
        entry(40, "vote.approve", "approve", "ok", actor="cara"),
        entry(40, "approval.approved", "approve"),
        entry(41, "disclosure.allowed", "share", "pol-us: legal_process"),
        entry(60, "incident.closed", detail="completed: resolved"),
    ],
    [task("verify", "done", 0, 10), approval(10, 40, [vote(20, "approve"), vote(40, "approve")])],
)

# B: rejected; verify breached once (escalated) and then done at 45m, the first action;
# rejected at 50m; a disclosure denied with no basis; closed at 2h.
B = state(
    "B",
    [
        entry(30, "sla.breached", "verify", "escalated to lead"),
        entry(30, "notified", "verify", "escalation to lead"),
        entry(45, "task.completed", "verify", actor="alice"),
        entry(50, "vote.reject", "approve", "no", actor="bob"),
        entry(50, "approval.rejected", "approve"),
        entry(51, "disclosure.denied", "share", "pol-us: "),
        entry(120, "incident.closed", detail="completed: rejected"),
    ],
    [task("verify", "done", 0, 45, breaches=1), approval(45, 50, [vote(50, "reject")])],
    outcome="rejected",
)

# C: still running: nobody acted (triage raised its severity: the system, not a person);
# verify escalated, its chain spent, then repaged (three breaches); contain open, in time.
C = state(
    "C",
    [
        entry(1, "severity.raised", None, "SEV3 -> SEV2: triage"),
        entry(30, "sla.breached", "verify", "escalated to lead"),
        entry(60, "sla.breached", "verify", "escalation chain spent: wait"),
        entry(90, "sla.repaged", "verify", "still unanswered: paged lead again"),
    ],
    [
        task("verify", "active", 0, None, breaches=3),
        task("contain", "active", 80, None),
        approval(None, None, [], status="pending"),
    ],
    status="running",
    outcome=None,
)

# D: another region and severity, cancelled: first action at 100s, closed at 200s.
D = state(
    "D",
    [
        entry(100 / 60, "note", None, "on it", actor="dan"),
        entry(200 / 60, "incident.cancelled", actor="lead"),
        entry(200 / 60, "incident.closed", detail="cancelled: cancelled"),
    ],
    [],
    region="EU",
    severity="SEV1",
    status="cancelled",
    outcome="cancelled",
)

# E: opened before the window: left out everywhere.
E = state("E", [entry(1, "note", actor="x")], [], opened_at=SINCE - timedelta(minutes=1))

# F: only visibility knew it (no state): counted by outcome, never timed.
F = IncidentFacts(
    id="F",
    sop="people",
    version=1,
    region="US",
    severity="SEV2",
    status="completed",
    outcome="resolved",
    opened_at=at(3),
    closed_at=at(10),
    readable=False,
)

US = {"sop": "people", "version": "1", "region": "US", "severity": "SEV2"}


def all_facts() -> list[IncidentFacts]:
    return [*(facts_of(s, run_id=f"run-{s.incident_id}") for s in (A, B, C, D, E)), F]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(10, 0, -1)]
    assert spread(values) == Spread(n=10, p50=5.0, p90=9.0, max=10.0)
    assert spread([7.0]) == Spread(n=1, p50=7.0, p90=7.0, max=7.0)
    assert spread([]) == Spread(n=0)
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 90) == 4.0


def test_incident_groups_count_outcomes_and_time_first_action_and_close() -> None:
    m = compute(all_facts(), since=SINCE, until=UNTIL)
    assert m.incidents == 5  # E is outside the window
    [us, eu] = sorted(m.groups, key=lambda g: g.key["region"], reverse=True)
    assert us.key == US
    assert us.incidents == 4
    assert us.outcomes == {"rejected": 1, "resolved": 2, "running": 1}
    assert us.unreadable == 1
    assert us.first_action == Spread(n=2, p50=300.0, p90=2700.0, max=2700.0)
    assert us.no_action == 1  # C: triage's severity change is not a person acting
    assert us.close == Spread(n=2, p50=3600.0, p90=7200.0, max=7200.0)
    assert (us.escalations, us.repages) == (2, 1)
    assert eu.key == {**US, "region": "EU", "severity": "SEV1"}
    assert eu.outcomes == {"cancelled": 1}
    assert eu.first_action == Spread(n=1, p50=100.0, p90=100.0, max=100.0)
    assert eu.close == Spread(n=1, p50=200.0, p90=200.0, max=200.0)


def test_sla_attainment_breaches_and_escalations_per_step() -> None:
    m = compute(all_facts(), since=SINCE, until=UNTIL)
    steps = {s.step: s for s in m.steps}
    assert set(steps) == {"verify", "approve", "contain"}  # C's pending approval: no SLA yet
    verify = steps["verify"]
    assert (verify.key, verify.desk) == (US, "US")
    assert (verify.met, verify.breached, verify.open) == (1, 2, 0)
    assert verify.attainment == pytest.approx(1 / 3)
    assert (verify.breaches, verify.escalations, verify.repages, verify.chains_spent) == (
        4,
        2,
        1,
        1,
    )
    approve = steps["approve"]
    assert (approve.met, approve.breached, approve.attainment, approve.breaches) == (2, 0, 1.0, 0)
    contain = steps["contain"]
    assert (contain.met, contain.breached, contain.open, contain.attainment) == (0, 0, 1, None)


def test_approvals_time_to_quorum_and_rejections() -> None:
    [approve] = compute(all_facts(), since=SINCE, until=UNTIL).approvals
    assert approve.key == US and approve.step == "approve"
    assert (approve.decided, approve.approved, approve.rejected, approve.reject_votes) == (
        2,
        1,
        1,
        1,
    )
    assert approve.time_to_quorum == Spread(n=1, p50=1800.0, p90=1800.0, max=1800.0)


def test_disclosures_by_policy_decision_and_basis() -> None:
    got = [(d.policy, d.decision, d.basis, d.count) for d in compute(all_facts()).disclosures]
    assert got == [("pol-us", "allowed", "legal_process", 1), ("pol-us", "denied", "", 1)]


def test_grouping_by_fewer_dimensions_merges_groups() -> None:
    m = compute(all_facts(), ["sop"], since=SINCE, until=UNTIL)
    [people] = m.groups
    assert people.key == {"sop": "people"}
    assert people.outcomes == {"cancelled": 1, "rejected": 1, "resolved": 2, "running": 1}
    assert people.first_action == Spread(n=3, p50=300.0, p90=2700.0, max=2700.0)
    # Without a window E counts too: opened 61m before T0, its note came 62m after it.
    unbounded = compute(all_facts(), ["sop"]).groups[0]
    assert unbounded.first_action == Spread(n=4, p50=300.0, p90=3720.0, max=3720.0)


def test_a_looping_approval_counts_only_passes_its_state_still_holds() -> None:
    looped = state(
        "L",
        [
            entry(5, "approval.rejected", "approve"),  # first pass: its start was overwritten
            entry(70, "approval.approved", "approve"),
            entry(80, "incident.closed"),
        ],
        [approval(60, 70, [vote(70, "approve")])],
    )
    [only] = facts_of(looped).approvals
    assert (only.outcome, (only.decided_at - only.started_at).total_seconds()) == (
        "approved",
        600.0,
    )


def test_facts_hold_no_user_data() -> None:
    dumped = facts_of(A).model_dump_json() + facts_of(B).model_dump_json()
    for secret in ("user-data-123", "secret reason", "alice", "looking"):
        assert secret not in dumped


def test_tidy_rows_carry_every_section() -> None:
    rows = list(tidy_rows(compute(all_facts(), since=SINCE, until=UNTIL)))
    assert all(tuple(r) == COLUMNS for r in rows)

    def value(section: str, metric: str, **match: str) -> str:
        [row] = [
            r
            for r in rows
            if r["section"] == section
            and r["metric"] == metric
            and all(r[k] == v for k, v in match.items())
        ]
        return row["value"]

    assert value("incidents", "count", region="US", item="running") == "1"
    assert value("incidents", "first_action_p90_s", region="US") == "2700"
    assert value("steps", "attainment", step="verify") == "0.3333"
    assert value("approvals", "time_to_quorum_max_s", step="approve") == "1800"
    assert value("disclosures", "count", item="pol-us/allowed/legal_process") == "1"


def test_window_bounds() -> None:
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert parse_bound("30d", now) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_bound("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_bound("2026-03-01T08:30:00+01:00", now) == datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
    assert parse_bound("2026-03-01T08:30Z", now) == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(WindowError):
        parse_bound("last tuesday", now)
    with pytest.raises(WindowError, match="later"):
        window_of("2026-03-02", "2026-03-01", now)
    window = window_of("2026-03-01", "1d", now)
    assert runs_query(window) == (
        "StartTime >= '2026-03-01T00:00:00Z' AND StartTime < '2026-03-30T12:00:00Z'"
    )


def test_cache_keeps_closed_readable_runs_only(tmp_path: Path) -> None:
    cache = FactsCache(tmp_path)
    closed, running = facts_of(A, run_id="run-a"), facts_of(C, run_id="run-c")
    cache.put(closed)
    cache.put(running)
    cache.put(F.model_copy(update={"run_id": "run-f"}))
    assert sorted(p.name for p in (tmp_path / CACHE_DIR).iterdir()) == ["run-a.json"]
    assert FactsCache(tmp_path).get("run-a") == closed
    assert cache.get("run-c") is None and cache.get("../etc/passwd") is None
    (tmp_path / CACHE_DIR / "run-a.json").write_text("{broken", encoding="utf-8")
    assert cache.get("run-a") is None
