"""A small, made-up programme of incidents (no randomness: every figure follows from the
arithmetic below) and the charts of docs/metrics.md drawn from it.

Regenerate the docs' images after changing the charts:

    .venv/bin/python -m tests.chart_examples

``tests/test_metrics_charts.py`` fails while an image differs from what this draws.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sopflow.client.metrics.charts import Charts, render_charts
from sopflow.client.metrics.facts import IncidentFacts, StepFacts

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
# The file each chart of the example is kept in (docs/metrics.md shows them).
DOC_IMAGES = {
    "time-to-first-action.svg": IMAGES / "programme-time-to-first-action.svg",
    "sla-attainment.svg": IMAGES / "programme-sla-attainment.svg",
    "volume.svg": IMAGES / "programme-volume.svg",
}
SINCE = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
UNTIL = SINCE + timedelta(days=14)
# (SOP, regions, incidents a day, severities in turn, steps with an SLA)
PROGRAMME = (
    ("emergency-disclosure", ("US", "UK"), 2, ("SEV1", "SEV2"), ("verify", "approve")),
    ("threat-to-life", ("US", "UK", "AU"), 1, ("SEV0", "SEV1"), ("assess",)),
    ("csea-report", ("US",), 1, ("SEV1", "SEV2", "SEV3", None), ("triage", "report")),
)


def _steps(number: int, steps: tuple[str, ...], closed: bool) -> list[StepFacts]:
    out = []
    for k, step in enumerate(steps):
        breached = (number + 3 * k) % 5 == 0  # about one in five misses its SLA
        status = "done" if closed or k < len(steps) - 1 else "active"
        out.append(
            StepFacts(
                id=step,
                type="approval" if step == "approve" else "task",
                status=status,
                has_sla=True,
                breaches=1 if breached else 0,
                escalations=1 if breached else 0,
            )
        )
    return out


def example_facts() -> list[IncidentFacts]:
    """About 150 incidents over two weeks, in three SOPs and three desks. Time to first
    action grows through the second week on the UK desk (a visible trend); a few incidents
    are still open and nobody has acted on some of those."""
    out: list[IncidentFacts] = []
    number = 0
    for day in range(14):
        for sop, regions, per_day, severities, steps in PROGRAMME:
            for region in regions:
                for n in range(per_day):
                    number += 1
                    opened = SINCE + timedelta(days=day, hours=3 + 5 * n + len(region), minutes=7)
                    slow = 3.0 if region == "UK" and day >= 7 else 1.0
                    first = timedelta(minutes=(4 + (number * 7) % 23) * slow)
                    closed = day < 12 or number % 3 != 0
                    acted = closed or number % 2 == 0
                    out.append(
                        IncidentFacts(
                            id=f"inc-{number:04d}",
                            run_id=f"run-{number:04d}",
                            sop=sop,
                            version=1,
                            region=region,
                            severity=severities[(number + day) % len(severities)],
                            status="completed" if closed else "running",
                            outcome="resolved" if closed else None,
                            opened_at=opened,
                            closed_at=opened + timedelta(hours=2 + number % 9) if closed else None,
                            first_action_at=opened + first if acted else None,
                            steps=_steps(number, steps, closed),
                        )
                    )
    return out


def example_charts() -> Charts:
    """The three charts of the example programme."""
    return render_charts(example_facts(), SINCE, UNTIL)


def main() -> None:
    """Write the docs' images."""
    for name, svg in example_charts().files().items():
        DOC_IMAGES[name].write_text(svg, encoding="utf-8")
        print(f"wrote {DOC_IMAGES[name].relative_to(ROOT)}")


if __name__ == "__main__":
    main()
