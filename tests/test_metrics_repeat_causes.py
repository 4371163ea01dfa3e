"""Repeat causes in ``sopflow metrics``: reviews' facts (codes only), counted over all the
window's incidents' reviews, per SOP and per group; in the tidy CSV rows and the table; and
closed reviews' facts cached by run id beside incidents'. Pure, no server."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.cli import metrics as metrics_cli
from sopflow.cli.app import app
from sopflow.client.metrics.cache import FactsCache
from sopflow.client.metrics.causes import count_causes, review_facts
from sopflow.client.metrics.compute import Dimension, Metrics, compute
from sopflow.client.metrics.facts import IncidentFacts
from sopflow.client.metrics.rows import tidy_rows
from sopflow.client.metrics.window import Window
from tests.test_metrics_causes import review

pytestmark = pytest.mark.unit

T0 = datetime(2031, 3, 1, tzinfo=UTC)


def incident(n: int, sop: str = "threat-to-life", region: str = "US") -> IncidentFacts:
    return IncidentFacts(
        id=f"inc-{n}",
        run_id=f"run-{n}",
        sop=sop,
        version=2,
        region=region,
        severity="SEV1",
        status="completed",
        outcome="resolved",
        opened_at=T0 + timedelta(days=n) - timedelta(hours=1),
    )


INCIDENTS = [incident(1), incident(2, region="UK"), incident(3, sop="legal-process"), incident(4)]


def reviews() -> list[Any]:
    """inc-1 and inc-2 (threat-to-life, US and UK) name late-signal and the assess step;
    inc-3 (legal-process) late-signal and a policy; inc-4 has none yet; inc-9's incident is
    not in the window."""
    third = review(3, ["Late signal"]).model_copy(update={"sop": "legal-process"})
    assert third.root_cause is not None
    third = third.model_copy(
        update={"root_cause": third.root_cause.model_copy(update={"policy": "us-emergency"})}
    )
    states = [
        review(1, ["late-signal", "no-runbook"], step="assess"),
        review(2, ["late_signal"], step="assess"),
        third,
        review(4, None),
        review(9, ["late-signal"]),
    ]
    return [review_facts(s, run_id=f"rev-{s.incident_id}") for s in states]


def test_review_facts_hold_codes_only() -> None:
    facts = review_facts(review(1, ["Late signal", "late-signal", " No runbook "], step="x"))
    assert facts.factors == ["late-signal", "no-runbook"]
    assert (facts.cause, facts.step, facts.policy, facts.status) == (True, "x", None, "open")
    dumped = facts.model_dump()
    assert "changes" not in dumped and "recorded_by" not in dumped  # no text, no person
    assert not review_facts(review(2, None)).cause
    counted = count_causes(reviews())
    assert (counted.reviews, counted.with_cause) == (5, 4)


def test_causes_are_counted_over_all_per_sop_and_per_group() -> None:
    m = compute(INCIDENTS, ["sop", "region"], reviews=reviews())
    assert (m.reviews, m.reviews_with_cause) == (4, 3)  # inc-9 is not among the incidents
    every = [(c.kind, c.cause, c.count, c.incidents) for c in m.causes if c.scope == "all"]
    assert every == [
        ("factor", "late-signal", 3, ["inc-1", "inc-2", "inc-3"]),
        ("step", "threat-to-life/assess", 2, ["inc-1", "inc-2"]),
        ("factor", "no-runbook", 1, ["inc-1"]),
        ("policy", "us-emergency", 1, ["inc-3"]),
    ]
    per_sop = {(c.key["sop"], c.cause): c.count for c in m.causes if c.scope == "sop"}
    assert per_sop[("threat-to-life", "late-signal")] == 2
    assert per_sop[("legal-process", "late-signal")] == 1
    per_group = {
        (c.key["sop"], c.key["region"], c.cause): c.count for c in m.causes if c.scope == "group"
    }
    assert per_group[("threat-to-life", "US", "late-signal")] == 1
    assert per_group[("threat-to-life", "UK", "late-signal")] == 1
    # Grouped by SOP alone (or not at all), the per-group counts would repeat the others.
    assert {c.scope for c in compute(INCIDENTS, ["sop"], reviews=reviews()).causes} == {
        "all",
        "sop",
    }
    assert compute(INCIDENTS, ["sop"]).causes == []


def test_csv_rows_carry_the_causes_and_their_scope() -> None:
    m = compute(INCIDENTS, ["sop"], reviews=reviews())
    rows = [r for r in tidy_rows(m) if r["section"] == "causes"]
    totals = {r["metric"]: r["value"] for r in rows if not r["item"]}
    assert totals == {"reviews_read": "4", "reviews_with_cause": "3", "reviews_unreadable": "0"}
    assert {
        "item": "factor:late-signal",
        "metric": "reviews",
        "value": "3",
        "sop": "",
    }.items() <= next(r for r in rows if r["metric"] == "reviews").items()
    assert any(
        r["metric"] == "reviews_per_sop"
        and r["sop"] == "threat-to-life"
        and r["item"] == "step:threat-to-life/assess"
        and r["value"] == "2"
        for r in rows
    )
    assert not [r for r in tidy_rows(compute(INCIDENTS, ["sop"])) if r["section"] == "causes"]


def test_closed_reviews_are_cached_beside_incidents(tmp_path: Path) -> None:
    cache = FactsCache(tmp_path)
    open_review, closed = reviews()[0], reviews()[1].model_copy(update={"status": "closed"})
    cache.put_review(open_review)  # open: it still changes
    cache.put_review(closed)
    cache.put(INCIDENTS[0])
    assert cache.get_review(open_review.run_id) is None
    assert cache.get_review(closed.run_id) == closed
    # Each reads back only as its own kind.
    assert cache.get(closed.run_id) is None
    assert cache.get_review(INCIDENTS[0].run_id) is None
    assert cache.get(INCIDENTS[0].run_id) == INCIDENTS[0]


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace Temporal: ``collect`` computes the incidents above and their reviews."""

    async def collect(client: Any, window: Window, by: list[Dimension], **kw: Any) -> Metrics:
        return compute(INCIDENTS, by, reviews=reviews())

    def with_incidents(action: Any) -> Any:
        import asyncio

        return asyncio.run(action(type("Service", (), {"client": None})()))

    monkeypatch.setattr(metrics_cli, "collect", collect)
    monkeypatch.setattr(metrics_cli, "with_incidents", with_incidents)


def test_the_command_shows_repeat_causes(collected: None, tmp_path: Path) -> None:
    def metrics(*args: str) -> str:
        result = CliRunner().invoke(app, ["metrics", "--by", "sop", "--no-cache", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    table = metrics("--format", "table")
    assert "Repeat causes (sop): 4 post-mortem review(s), 3 with a root cause" in table
    assert "late-signal" in table and "inc-1, inc-2, inc-3" in table
    out = json.loads(metrics("--format", "json"))
    assert out["reviews"] == 4 and out["causes"][0]["cause"] == "late-signal"
    rows = list(csv.DictReader(io.StringIO(metrics("--format", "csv"))))
    assert any(r["section"] == "causes" and r["item"] == "factor:late-signal" for r in rows)
