"""Repeat causes over post-mortem reviews' states: a pure count, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sopflow.client.metrics.causes import factor_key, repeat_causes
from sopflow.contract.reviews import ReviewState, RootCause

pytestmark = pytest.mark.unit

T0 = datetime(2031, 3, 1, tzinfo=UTC)


def review(n: int, factors: list[str] | None, step: str | None = None) -> ReviewState:
    at = T0 + timedelta(days=n)
    cause = None
    if factors is not None:
        cause = RootCause(
            factors=factors, step=step, changes="c", recorded_by="lead", recorded_at=at
        )
    return ReviewState(
        review_id=f"inc-{n}/postmortem",
        incident_id=f"inc-{n}",
        sop="threat-to-life",
        version=2,
        region="US",
        title="t",
        document="d.md",
        owner="lead",
        due_at=at + timedelta(days=5),
        escalate_to="lead",
        opened_at=at,
        root_cause=cause,
    )


def test_factors_are_counted_once_per_review_however_they_are_typed() -> None:
    counted = repeat_causes(
        [
            review(2, ["Late signal", "no runbook"], step="assess"),
            review(1, ["late-signal", "late_signal"], step="assess"),
            review(3, None),
            review(4, ["tooling"]),
        ]
    )
    assert (counted.reviews, counted.with_cause) == (4, 3)
    assert [(c.kind, c.cause, c.count, c.incidents) for c in counted.repeats] == [
        ("factor", "late-signal", 2, ("inc-1", "inc-2")),
        ("step", "threat-to-life/assess", 2, ("inc-1", "inc-2")),
    ]
    assert {c.cause for c in counted.counts if c.count == 1} == {"no-runbook", "tooling"}
    assert factor_key("  Missing_Location data ") == "missing-location-data"
