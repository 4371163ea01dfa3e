"""``sopflow metrics``: programme metrics over a time window, per SOP, version, region,
severity and step (docs/metrics.md).

The figures come from ``sopflow.client.metrics`` (visibility, then each incident's final
state or ``state`` query; closed runs cached under the state dir). This module only reads
the options, shows progress on stderr and formats: a table, JSON or CSV. Direct mode only
(an operator's view of every incident).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sopflow.cli.authoring import fail
from sopflow.cli.incidents import console, iso, table, to_second, with_incidents
from sopflow.cli.metrics_causes import cause_table
from sopflow.client.incidents import IncidentService
from sopflow.client.metrics.charts import render_charts
from sopflow.client.metrics.compute import DIMENSIONS, Dimension, Metrics, Spread
from sopflow.client.metrics.facts import IncidentFacts
from sopflow.client.metrics.read import DEFAULT_CONCURRENCY, Collected, collect, collect_facts
from sopflow.client.metrics.read import Progress as ProgressFn
from sopflow.client.metrics.refusals import RefusalLog, read_refusals, refusal_groups
from sopflow.client.metrics.rows import COLUMNS, tidy_rows
from sopflow.client.metrics.window import Window, WindowError, window_of

STATE_DIR_ENV = "SOPFLOW_STATE_DIR"
# Fewer incidents than this read in a blink: no progress at all.
PROGRESS_MIN = 50


class MetricsFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def metrics(
    since: str = typer.Option("30d", help="Start: an ISO date or time, or a duration back (30d)."),
    until: str | None = typer.Option(None, help="End (exclusive), same forms; default: now."),
    by: str = typer.Option(
        ",".join(DIMENSIONS), help="Group by these, comma-separated: sop,version,region,severity."
    ),
    output: MetricsFormat = typer.Option(MetricsFormat.table, "--format", "-f"),
    concurrency: int = typer.Option(DEFAULT_CONCURRENCY, min=1, max=256, help="Reads at once."),
    state_dir: Path | None = typer.Option(
        None, help="Where the cache of closed runs lives (default $SOPFLOW_STATE_DIR, .sopflow)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Read every run from Temporal."),
    chart: Path | None = typer.Option(
        None,
        "--chart",
        help="Also write the three charts as SVG files into this directory (made if need be).",
    ),
    api_log: list[Path] = typer.Option(
        [],
        "--api-log",
        help="The HTTP API's log (JSON lines; repeat for several): count refused actions by "
        "cause, which no history holds.",
    ),
) -> None:
    """Incidents opened in a window: outcomes, time to first action and to close, SLA
    attainment per step, escalations, disclosure decisions and approvals, and the repeat
    causes named in their post-mortem reviews."""
    now = datetime.now(UTC)
    try:
        window = window_of(since, until, now)
    except WindowError as exc:
        raise fail(str(exc)) from None
    dims = _dimensions(by)
    cache_dir = None if no_cache else state_dir or Path(os.environ.get(STATE_DIR_ENV) or ".sopflow")
    with _progress() as progress:

        async def read(service: IncidentService) -> Collected:
            # The charts need the facts themselves; the figures alone need only the metrics
            # (and `collect` is what the command has always called).
            if chart is None and not api_log:
                found = await collect(
                    service.client,
                    window,
                    dims,
                    state_dir=cache_dir,
                    concurrency=concurrency,
                    progress=progress,
                )
                return Collected(found, [])
            return await collect_facts(
                service.client,
                window,
                dims,
                state_dir=cache_dir,
                concurrency=concurrency,
                progress=progress,
            )

        found = with_incidents(read)
    result = found.metrics
    if api_log:
        result = with_refusals(result, found.facts, _read_logs(api_log), dims, window)
    show(result, output, window)
    if chart is not None:
        write_charts(chart, found.facts, window, now)


def _read_logs(paths: list[Path]) -> RefusalLog:
    """The refusals in the API's log files; exit 1 naming a file that cannot be read."""
    lines: list[str] = []
    for path in paths:
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise fail(f"--api-log: cannot read {path}: {exc.strerror or exc}") from None
    found = read_refusals(lines)
    if found.skipped:
        print(f"metrics: {found.skipped} line(s) of --api-log were not log events", file=sys.stderr)
    return found


def with_refusals(
    result: Metrics,
    facts: list[IncidentFacts],
    log: RefusalLog,
    by: list[Dimension],
    window: Window,
) -> Metrics:
    """``result`` with the refused actions of ``log`` made in ``window``, per group of ``by``
    (an incident not among ``facts`` is counted ungrouped)."""
    groups = refusal_groups(log, facts, by, since=window.since, until=window.until)
    return result.model_copy(update={"refusals": groups, "refusal_logs_read": True})


def write_charts(
    directory: Path, facts: list[IncidentFacts], window: Window, now: datetime
) -> None:
    """The three charts of ``window`` as SVG files in ``directory`` (made if need be); a
    line on stderr names each file written. An open window ends ``now``."""
    charts = render_charts(facts, window.since, window.until or now)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, svg in charts.files().items():
            path = directory / name
            path.write_text(svg, encoding="utf-8")
            print(f"metrics: wrote {path}", file=sys.stderr)
    except OSError as exc:
        raise fail(f"--chart: cannot write the charts into {directory}: {exc}") from None


def _dimensions(by: str) -> list[Dimension]:
    names = [n.strip() for n in by.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown or len(set(names)) != len(names):
        raise fail(f"--by: give some of {', '.join(DIMENSIONS)}, each once (not {by!r})")
    return [cast(Dimension, n) for n in names]


@contextmanager
def _progress() -> Iterator[ProgressFn]:
    """A progress callback for reads: a rich bar when stderr is a terminal, else a line now
    and then; nothing for a short run."""
    bar: Progress | None = None
    shown = [0]

    def update(done: int, total: int) -> None:
        nonlocal bar
        if total < PROGRESS_MIN:
            return
        if sys.stderr.isatty():
            if bar is None:
                bar = Progress(
                    TextColumn("reading incidents"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
                bar.start()
                bar.add_task("read", total=total)
            bar.update(bar.task_ids[0], completed=done)
        elif done == total or done - shown[0] >= max(1, total // 10):
            shown[0] = done  # a line per tenth: a log, not a flood
            print(f"metrics: read {done}/{total} incidents", file=sys.stderr, flush=True)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def show(result: Metrics, output: MetricsFormat, window: Window) -> None:
    """Print ``result`` as ``output``."""
    if output is MetricsFormat.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
    elif output is MetricsFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(tidy_rows(result))
    else:
        _tables(result)
    until = to_second(iso(window.until)) if window.until else "now"
    print(
        f"{result.incidents} incident(s) opened {to_second(iso(window.since))} .. {until}",
        file=sys.stderr,
    )


def human(seconds: float | None) -> str:
    """A duration for people: ``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _spread(s: Spread) -> str:
    return "-" if not s.n else f"{human(s.p50)} / {human(s.p90)} / {human(s.max)}"


def _group(key: dict[str, str]) -> str:
    return " ".join(key.values()) or "all"


def _tables(m: Metrics) -> None:
    """One table per section that has rows (the incidents' always)."""
    out, group = console(), "/".join(m.by) or "all"
    out.print(_incident_table(m, group))
    for has, make in (
        (m.steps, _step_table),
        (m.approvals, _approval_table),
        (m.disclosures, _disclosure_table),
        (m.refusal_logs_read, _refusal_table),
        (m.reviews or m.reviews_unreadable, cause_table),
    ):
        if has:
            out.print(make(m, group))


def _incident_table(m: Metrics, group: str) -> Table:
    t = table(
        group,
        "incidents",
        "outcomes",
        "first action p50/p90/max",
        "close p50/p90/max",
        "escalation pages",
    )
    for g in m.groups:
        outcomes = ", ".join(f"{k} {v}" for k, v in g.outcomes.items())
        unread = f" ({g.unreadable} unreadable)" if g.unreadable else ""
        t.add_row(
            _group(g.key),
            f"{g.incidents}{unread}",
            outcomes,
            _spread(g.first_action),
            _spread(g.close),
            str(g.escalations + g.repages),
        )
    return t


def _step_table(m: Metrics, group: str) -> Table:
    t = table(
        group,
        "step",
        "desk",
        "met",
        "breached",
        "open",
        "SLA attained",
        "breaches",
        "escalation pages",
    )
    for s in m.steps:
        attained = "-" if s.attainment is None else f"{s.attainment:.0%}"
        counts = (s.met, s.breached, s.open)
        t.add_row(
            _group(s.key),
            s.step,
            s.desk,
            *map(str, counts),
            attained,
            str(s.breaches),
            str(s.escalations + s.repages),
        )
    return t


def _approval_table(m: Metrics, group: str) -> Table:
    t = table(group, "approval", "decided", "approved", "rejected", "quorum p50/p90/max")
    for a in m.approvals:
        counts = (a.decided, a.approved, a.rejected)
        t.add_row(_group(a.key), a.step, *map(str, counts), _spread(a.time_to_quorum))
    return t


def _disclosure_table(m: Metrics, group: str) -> Table:
    t = table(group, "policy", "decision", "legal basis", "count")
    for d in m.disclosures:
        t.add_row(_group(d.key), d.policy, d.decision, d.basis or "-", str(d.count))
    return t


def _refusal_table(m: Metrics, group: str) -> Table:
    t = table(group, "refused action", "cause", "count")
    for r in m.refusals:
        t.add_row(_group(r.key), r.action, r.cause, str(r.count))
    if not m.refusals:
        t.add_row("-", "(none in the API's log for this window)", "-", "0")
    return t
