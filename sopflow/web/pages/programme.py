"""The programme page: ``sopflow metrics`` for people, over the incidents they may see.

Anyone signed in may open it. The figures are those of ``sopflow metrics`` (the same reads,
the same computation, the same charts) with one difference: the incidents are listed with
the person's roles (``incidents_only(query, roles)``, as the API's incident list is), so an
incident restricted to roles they do not hold is never read, drawn or counted. Two people
may therefore see different figures for the same window, and each sees only what their
roles let them see.

The window is the last 7, 30 or 90 days (never longer: a window is read in full on every
visit). Closed runs' facts are kept in the API's state directory (the cache
``sopflow metrics`` uses) and, in front of it, in memory for this process.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from fastapi import Request
from markupsafe import Markup
from starlette.responses import Response

from sopflow.client.metrics.cache import FactsCache
from sopflow.client.metrics.charts import render_charts, span_of
from sopflow.client.metrics.charts.svg import duration
from sopflow.client.metrics.compute import Dimension, IncidentGroup, Spread
from sopflow.client.metrics.facts import IncidentFacts
from sopflow.client.metrics.read import collect_facts
from sopflow.client.metrics.window import Window
from sopflow.web.visits import console_of

log = structlog.get_logger("sopflow.web")

# The windows a person may choose (the form's choices); anything else is the default.
WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_WINDOW = "30d"
GROUP_BY: tuple[Dimension, ...] = ("sop", "region")
# Closed runs' facts kept in memory: a few hundred bytes each, so the bound is a few MB.
MEMORY_BOUND = 20_000
CHART_PREFIX = "programme-"
FIRST_ACTION_CAPTION = (
    "Time to first action per day (per week over 60 days), one panel per desk: p50 solid, "
    "p90 dashed. Hover a point for its figures."
)
SLA_CAPTION = "SLA attainment per step: met of judged (met + breached); open steps are not judged."
VOLUME_CAPTION = "Incidents opened per SOP, stacked by severity, most severe first."


class MemoryFactsCache(FactsCache):
    """The on-disk facts cache with the most recently used closed runs in memory in front
    of it (at most ``bound``), so a page load does not read thousands of small files. Facts
    hold no person and no audience: which incidents a person sees is decided by the list,
    never by the cache, so one cache serves everyone."""

    def __init__(self, state_dir: Path | None, bound: int = MEMORY_BOUND) -> None:
        super().__init__(state_dir)
        self.bound = bound
        self._kept: OrderedDict[str, IncidentFacts] = OrderedDict()

    def get(self, run_id: str | None) -> IncidentFacts | None:
        """The run's facts from memory, else from disk (then kept in memory)."""
        if run_id is not None and run_id in self._kept:
            self._kept.move_to_end(run_id)
            self.hits += 1
            return self._kept[run_id]
        found = super().get(run_id)
        if found is not None:
            self._keep(found)
        return found

    def put(self, facts: IncidentFacts) -> None:
        """Keep a closed run's facts in memory and, when the state dir can be written, on
        disk (a read-only state dir costs the next process a read, never a page)."""
        if facts.run_id is None or facts.status == "running" or not facts.readable:
            return
        self._keep(facts)
        try:
            super().put(facts)
        except OSError as exc:
            log.warning("web.programme_cache_unwritable", error=str(exc))

    def _keep(self, facts: IncidentFacts) -> None:
        assert facts.run_id is not None
        self._kept[facts.run_id] = facts
        self._kept.move_to_end(facts.run_id)
        while len(self._kept) > self.bound:
            self._kept.popitem(last=False)


def facts_cache(request: Request, state_dir: Path) -> MemoryFactsCache:
    """The app's facts cache (one per app, made on first use)."""
    state = request.app.state
    cache: MemoryFactsCache | None = getattr(state, "programme_facts", None)
    if cache is None:
        cache = state.programme_facts = MemoryFactsCache(state_dir)
    return cache


@dataclass(frozen=True, slots=True)
class HeadlineRow:
    """One row of the headline table: a group and its figures, written for people."""

    sop: str
    region: str
    incidents: int
    unreadable: int
    outcomes: str
    first_action: str
    no_action: int
    close: str


def _p50_p90(s: Spread) -> str:
    return "—" if not s.n else f"{duration(s.p50)} / {duration(s.p90)} (n={s.n})"


def headline(group: IncidentGroup) -> HeadlineRow:
    """The table row of one (SOP, region) group."""
    return HeadlineRow(
        sop=group.key.get("sop", "-"),
        region=group.key.get("region", "-"),
        incidents=group.incidents,
        unreadable=group.unreadable,
        outcomes=", ".join(f"{k} {v}" for k, v in group.outcomes.items()),
        first_action=_p50_p90(group.first_action),
        no_action=group.no_action,
        close=_p50_p90(group.close),
    )


def chosen_window(text: str | None) -> str:
    """The window the form chose, or the default for anything else (never over 90 days)."""
    return text if text in WINDOWS else DEFAULT_WINDOW


async def programme_page(request: Request) -> Response:
    """``GET /console/programme?since=7d|30d|90d``: the charts and the headline figures of
    the incidents opened in the window that the signed-in person may see."""
    console = console_of(request)
    visit = await console.visit(request)
    since = chosen_window(request.query_params.get("since"))
    now = datetime.now(UTC)
    window = Window(now - timedelta(days=WINDOWS[since]))
    service = visit.parts.temporal.require()
    found = await collect_facts(
        service.client,
        window,
        GROUP_BY,
        roles=visit.person.roles,  # need-to-know: nothing they may not see is even read
        cache=facts_cache(request, visit.parts.settings.state_dir),
    )
    charts = render_charts(found.facts, window.since, now, prefix=CHART_PREFIX)
    # Each chart escapes every text it draws and uses presentation attributes only (no
    # script, no style, no event handler): safe to embed under the console's CSP.
    figures = [
        (Markup(charts.first_action), FIRST_ACTION_CAPTION),  # noqa: S704
        (Markup(charts.sla), SLA_CAPTION),  # noqa: S704
        (Markup(charts.volume), VOLUME_CAPTION),  # noqa: S704
    ]
    return console.page(
        request,
        visit,
        "programme.html",
        since=since,
        windows=list(WINDOWS),
        span=span_of(window.since, now),
        incidents=found.metrics.incidents,
        rows=[headline(g) for g in found.metrics.groups],
        figures=figures,
    )


ROUTES = (("/programme", programme_page, ("GET",)),)
