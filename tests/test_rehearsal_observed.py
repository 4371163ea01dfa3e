"""What a rehearsal observed, read from the incident's state: hand-offs come in order of
time, and those at one instant (parallel branches moving at a shift's end, recorded in
whichever order the branches ran) in the order of their text, so a rehearsal that expects
them passes on every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sopflow.contract.messages import IncidentState, TimelineEntry
from sopflow.rehearsal.observed import Observed

pytestmark = pytest.mark.unit

T0 = datetime(2027, 1, 5, 23, 0, tzinfo=UTC)


def _observed(*entries: tuple[int, str, str]) -> Observed:
    state = IncidentState(
        incident_id="inc",
        sop="s",
        version=1,
        region="US",
        plan_hash="h",
        opened_by="x",
        opened_at=T0,
        timeline=[
            TimelineEntry(
                at=T0 + timedelta(minutes=m),
                actor="system",
                kind="step.handed_off",
                step=step,
                detail=detail,
            )
            for m, step, detail in entries
        ],
    )
    return Observed(state=state, actions=[], elapsed=timedelta(), wall_s=0.0)


def test_handoffs_at_one_instant_come_in_the_order_of_their_text() -> None:
    one = _observed(
        (0, "preserve", "US -> AU at the end of the US shift"),
        (0, "content_action", "US -> AU at the end of the US shift"),
        (5, "assess", "AU -> UK at the end of the AU shift"),
    )
    other = _observed(
        (0, "content_action", "US -> AU at the end of the US shift"),
        (0, "preserve", "US -> AU at the end of the US shift"),
        (5, "assess", "AU -> UK at the end of the AU shift"),
    )
    assert (
        one.handoffs
        == other.handoffs
        == [
            "content_action: US -> AU",
            "preserve: US -> AU",
            "assess: AU -> UK",
        ]
    )
