"""The programme charts, as server-rendered SVG: pure functions of incidents' facts.

- ``series``: incidents bucketed by the day (or week) they were opened, and time to first
  action per desk and bucket;
- ``svg``: escaping, numbers, text, shapes and the accessible document head;
- ``timeline``: time to first action by desk over time (p50 and p90);
- ``bars``: SLA attainment by step, and volume by SOP and severity.

``render_charts`` draws all three for a window. The same facts and window give the same
bytes, so a chart can be compared exactly and kept as a golden file. See docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sopflow.client.metrics.charts.bars import sla_chart, volume_chart
from sopflow.client.metrics.charts.series import first_action_series
from sopflow.client.metrics.charts.timeline import first_action_chart
from sopflow.client.metrics.compute import compute, in_window
from sopflow.client.metrics.facts import IncidentFacts

FIRST_ACTION_FILE, SLA_FILE, VOLUME_FILE = (
    "time-to-first-action.svg",
    "sla-attainment.svg",
    "volume.svg",
)


@dataclass(frozen=True, slots=True)
class Charts:
    """The three charts of one window, each a standalone SVG document."""

    first_action: str
    sla: str
    volume: str

    def files(self) -> dict[str, str]:
        """Each chart by the file name ``sopflow metrics --chart DIR`` gives it."""
        return {
            FIRST_ACTION_FILE: self.first_action,
            SLA_FILE: self.sla,
            VOLUME_FILE: self.volume,
        }


def span_of(since: datetime, until: datetime) -> str:
    """The window in words: ``2026-03-01 to 2026-03-31`` (``until`` is exclusive, so the
    last day named is the one before it when it falls on midnight)."""
    last = until - timedelta(microseconds=1)
    return f"{since.astimezone(UTC):%Y-%m-%d} to {last.astimezone(UTC):%Y-%m-%d} (UTC)"


def render_charts(
    facts: Iterable[IncidentFacts], since: datetime, until: datetime, prefix: str = ""
) -> Charts:
    """The three charts over the incidents opened in [since, until). ``prefix`` starts
    every id in them (charts embedded in one page must not share ids)."""
    chosen = [f for f in facts if in_window(f.opened_at, since, until)]
    span = span_of(since, until)
    per_step = compute(chosen, ("sop",), since=since, until=until).steps
    per_severity = compute(chosen, ("sop", "severity"), since=since, until=until).groups
    return Charts(
        first_action=first_action_chart(
            first_action_series(chosen, since, until), span, f"{prefix}ttfa"
        ),
        sla=sla_chart(per_step, span, f"{prefix}sla"),
        volume=volume_chart(per_severity, span, f"{prefix}volume"),
    )
