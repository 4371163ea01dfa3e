"""Follow the sun, played on the time-skipping test server: the example library's
rehearsals (examples/follow-the-sun) pass, and what they leave on the timeline says who held
each step, why, and when the clocks ran out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sopflow.compile.lint import lint_library
from sopflow.contract.messages import TimelineEntry
from sopflow.rehearsal.batch import Result, rehearse_all
from sopflow.rehearsal.cases import collect

pytestmark = pytest.mark.workflow

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "follow-the-sun"


@pytest.fixture(scope="module")
def played() -> dict[str, Result]:
    result = lint_library(EXAMPLE)
    assert not [d for d in result.diagnostics if d.code.startswith(("E", "W"))]
    found = collect([], result)
    assert not found.blocked, found.blocked
    results = asyncio.run(rehearse_all(found.ready, jobs=2))
    return {Path(r.case.name).stem: r for r in results}


def entries(result: Result, kind: str) -> list[TimelineEntry]:
    assert result.observed is not None
    return [e for e in result.observed.state.timeline if e.kind == kind]


def test_every_example_rehearsal_passes(played: dict[str, Result]) -> None:
    failures = {n: r.error or [m.summary for m in r.mismatches] for n, r in played.items()}
    assert {n: f for n, f in failures.items() if f} == {}
    assert set(played) == {
        "handed-to-uk-at-shift-end",
        "business-hours-sla",
        "counsel-and-lead",
        "uk-lead-refused",
    }


def test_the_hand_off_happens_when_london_opens_and_carries_the_note(
    played: dict[str, Result],
) -> None:
    [handoff] = entries(played["handed-to-uk-at-shift-end"], "step.handed_off")
    # Opened 21:00 UTC Tuesday; US counsel's shift ends 23:00; nobody has counsel on shift
    # until London opens at 06:00 UTC Wednesday.
    assert handoff.at.replace(microsecond=0) == datetime(2030, 1, 16, 6, 0, tzinfo=UTC)
    assert handoff.step == "counsel_check"
    assert handoff.detail.startswith("US -> UK at shift change: ")
    assert "open 9h00m" in handoff.detail
    assert "note from rhalvorsen: Warrant checked for jurisdiction" in handoff.detail
    state = played["handed-to-uk-at-shift-end"].observed
    assert state is not None
    assert state.state.steps["counsel_check"].submitted_by == "ewhitfield"


def test_a_business_hours_sla_pauses_over_the_weekend_and_the_holiday(
    played: dict[str, Result],
) -> None:
    result = played["business-hours-sla"]
    clocks = [e for e in entries(result, "sla.clock") if e.step == "response_letter"]
    assert clocks[0].detail.startswith("due 2030-01-22 20:00 UTC, business hours of the US desk")
    assert "2030-01-21 Martin Luther King Jr. Day" in clocks[0].detail
    observed = result.observed
    assert observed is not None
    # The timers fire at the due time; the workflow task that records the breach may run a
    # moment later on a busy machine (the test server's clock runs on in real time).
    late = {
        step: (at - due).total_seconds()
        for step, due in (
            ("response_letter", datetime(2030, 1, 22, 20, tzinfo=UTC)),
            ("produce", datetime(2030, 1, 23, 17, tzinfo=UTC)),  # the request's deadline
        )
        for at in [observed.breached_at[step]]
    }
    assert all(0 <= seconds <= 5 for seconds in late.values()), late
    assert observed.escalations[:2] == ["response_letter -> lead", "produce -> lead"]
    # Its chain spent and nobody answering, the lead is paged again every 2h (`every`).
    assert set(observed.escalations[2:]) == {"produce -> lead"}


def test_two_leads_cannot_approve_what_needs_counsel_and_a_lead(
    played: dict[str, Result],
) -> None:
    observed = played["counsel-and-lead"].observed
    assert observed is not None
    [refused] = observed.refused
    assert "slee's approval fills no open place" in (refused.refused or "")
    assert "needs 1 legal + 1 lead" in (refused.refused or "")
    assert observed.outcome == "produced"


def test_a_uk_lead_is_refused_on_a_us_incident(played: dict[str, Result]) -> None:
    observed = played["uk-lead-refused"].observed
    assert observed is not None
    [refused] = observed.refused
    assert refused.refused == (
        "tbrennan works on the UK desk; this is a US incident, acted on by the US desk"
    )
    votes = observed.state.steps["approve_production"].votes
    assert [v.actor for v in votes] == ["dokafor", "kowusu"]
