"""The programme charts (sopflow.client.metrics.charts): bucketing by opened_at, each SVG
parsed and checked (elements, labels, percentages, escaping, accessibility, no script or
style), determinism, the docs' example images, and `sopflow metrics --chart DIR`."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.cli import metrics as metrics_cli
from sopflow.cli.app import app
from sopflow.client.metrics.charts import (
    FIRST_ACTION_FILE,
    SLA_FILE,
    VOLUME_FILE,
    render_charts,
    span_of,
)
from sopflow.client.metrics.charts.bars import sla_chart, volume_chart
from sopflow.client.metrics.charts.series import (
    bucket_start,
    bucket_starts,
    bucketed,
    first_action_series,
    granularity,
)
from sopflow.client.metrics.charts.svg import duration
from sopflow.client.metrics.charts.timeline import first_action_chart
from sopflow.client.metrics.compute import compute
from sopflow.client.metrics.facts import IncidentFacts, StepFacts
from sopflow.client.metrics.read import Collected
from sopflow.client.metrics.window import Window
from tests.chart_examples import DOC_IMAGES, example_charts, example_facts
from tests.test_metrics_unit import SINCE, UNTIL, all_facts

pytestmark = pytest.mark.unit

SVG = "{http://www.w3.org/2000/svg}"
MON = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
HOSTILE = '<script>alert("x")</script>&amp;'


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - sopflow's own output: what is tested


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def title_of(element: ET.Element) -> str:
    found = element.find(f"{SVG}title")
    assert found is not None
    return found.text or ""


def fact(
    n: int,
    opened: datetime,
    first_s: float | None,
    region: str | None = "US",
    *,
    sop: str = "people",
    severity: str | None = "SEV2",
    readable: bool = True,
    steps: list[StepFacts] | None = None,
) -> IncidentFacts:
    return IncidentFacts(
        id=f"i{n}",
        run_id=f"r{n}",
        sop=sop,
        region=region,
        severity=severity,
        status="completed",
        outcome="resolved",
        opened_at=opened,
        first_action_at=None if first_s is None else opened + timedelta(seconds=first_s),
        readable=readable,
        steps=steps or [],
    )


# --- bucketing


def test_a_window_over_60_days_goes_by_week() -> None:
    assert granularity(MON, MON + timedelta(days=60)) == "day"
    assert granularity(MON, MON + timedelta(days=60, seconds=1)) == "week"


def test_bucket_start_is_utc_midnight_or_monday() -> None:
    sunday_late = datetime(2026, 3, 8, 23, 59, tzinfo=UTC)
    assert bucket_start(sunday_late, "day") == datetime(2026, 3, 8, tzinfo=UTC)
    assert bucket_start(sunday_late, "week") == MON
    # 01:00 in UTC+02:00 is still the day before in UTC.
    east = datetime(2026, 3, 9, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert bucket_start(east, "day") == datetime(2026, 3, 8, tzinfo=UTC)
    assert bucket_start(east, "week") == MON


def test_bucket_starts_cover_the_window() -> None:
    since = MON + timedelta(hours=8)
    assert bucket_starts(since, MON + timedelta(days=2), "day") == [MON, MON + timedelta(days=1)]
    assert bucket_starts(since, MON + timedelta(days=2, seconds=1), "day")[-1] == MON + timedelta(
        days=2
    )
    assert bucket_starts(since, since, "day") == []
    weeks = bucket_starts(MON + timedelta(days=3), MON + timedelta(days=15), "week")
    assert weeks == [MON, MON + timedelta(weeks=1), MON + timedelta(weeks=2)]


def test_bucketed_keeps_empty_buckets_and_the_window_bounds() -> None:
    since, until = MON + timedelta(hours=8), MON + timedelta(days=3)
    facts = [
        fact(1, since, 60),  # the first instant of the window: in
        fact(2, since - timedelta(seconds=1), 60),  # before it: out
        fact(3, MON + timedelta(days=2, hours=5), 60),
        fact(4, until, 60),  # until is exclusive: out
        fact(5, MON + timedelta(hours=23), 60),
    ]
    out = bucketed(facts, since, until, "day")
    assert list(out) == [MON, MON + timedelta(days=1), MON + timedelta(days=2)]
    assert [[f.id for f in fs] for fs in out.values()] == [["i1", "i5"], [], ["i3"]]


def test_first_action_series_per_desk_and_bucket() -> None:
    day2 = MON + timedelta(days=1)
    facts = [
        *(fact(i, MON + timedelta(hours=i), 60.0 * i) for i in range(1, 11)),  # 1..10 min
        fact(11, MON, None),  # nobody acted: opened only
        fact(12, MON, 5, readable=False),  # known from visibility only: opened only
        fact(13, day2, 30, region="UK"),
        fact(14, day2, 90, region=None),
    ]
    series = first_action_series(facts, MON, MON + timedelta(days=2))
    assert series.size == "day" and series.buckets == (MON, day2)
    assert [d.desk for d in series.desks] == ["-", "UK", "US"]
    us = series.desks[2]
    first, second = us.points
    assert (first.opened, first.acted, first.p50, first.p90) == (12, 10, 300.0, 540.0)
    assert (second.opened, second.acted, second.p50, second.p90) == (0, 0, None, None)
    assert (us.opened, us.acted) == (12, 10)
    uk = series.desks[1]
    assert [(p.opened, p.p50) for p in uk.points] == [(0, None), (1, 30.0)]


# --- the SVGs


def test_first_action_chart_draws_a_panel_per_desk_and_a_point_per_acted_bucket() -> None:
    facts = [
        fact(1, MON, 120),
        fact(2, MON + timedelta(days=2), 600),  # day 2 has nothing: the line breaks
        fact(3, MON + timedelta(days=1), 3600, region="UK"),
    ]
    series = first_action_series(facts, MON, MON + timedelta(days=3))
    root = parse(first_action_chart(series, "a span"))
    said = texts(root)
    assert "UK desk: 1 opened, 1 acted on" in said and "US desk: 2 opened, 2 acted on" in said
    points = groups(root, "point")
    assert len(points) == 3
    assert title_of(points[-1]) == "US desk, 4 Mar: 1 opened, 1 acted on; p50 10m, p90 10m"
    us_p50 = [p for p in root.iter(f"{SVG}path") if p.get("class") == "p50"][-1]
    assert us_p50.get("d", "").count("M") == 2  # two pieces: a gap where nothing was acted on
    assert "1h" in said  # the shared scale reaches the UK's hour
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "3 Mar: p50 1h, p90 1h (1 of 1 acted on)." in (desc.text or "")


def test_sla_chart_has_a_bar_per_step_with_percent_and_counts() -> None:
    steps = compute(all_facts(), ("sop",), since=SINCE, until=UNTIL).steps
    root = parse(sla_chart(steps, "a span"))
    bars = groups(root, "bar")
    assert len(bars) == len(steps) == 3
    said = texts(root)
    assert "33%: 1 met of 3 judged" in said and "100%: 2 met of 2 judged" in said
    assert "not judged yet, 1 open" in said
    assert title_of(bars[2]) == "people · verify (US desk): 33%: 1 met of 3 judged"
    met = {b.find(f"{SVG}text").text: b for b in bars}  # type: ignore[union-attr]
    verify = [r for r in met["people · verify (US desk)"] if r.get("class") == "met"]
    assert [float(r.get("width", 0)) for r in verify] == [106.7]  # a third of 320
    contain = met["people · contain (US desk)"]
    assert not [r for r in contain if r.get("class") in ("met", "breached")]


def test_volume_chart_stacks_severities_per_sop_with_a_legend() -> None:
    facts = [
        *(fact(i, MON, 60, sop="big", severity="SEV2") for i in range(3)),
        fact(3, MON, 60, sop="big", severity="SEV0"),
        fact(4, MON, 60, sop="big", severity=None),
        fact(5, MON, 60, sop="small", severity="SEV3"),
    ]
    groups_ = compute(facts, ("sop", "severity")).groups
    root = parse(volume_chart(groups_, "a span"))
    bars = groups(root, "bar")
    assert [title_of(b) for b in bars] == [
        "big: 5: SEV0 1 · SEV2 3 · no severity 1",
        "small: 1: SEV3 1",
    ]
    segments = [r.get("class") for r in bars[0] if r.tag == f"{SVG}rect"]
    assert segments == ["segment SEV0", "segment SEV2", "segment -"]  # most severe first
    legend = [t for t in texts(root) if t in ("SEV0", "SEV2", "SEV3", "no severity")]
    assert legend == ["SEV0", "SEV2", "SEV3", "no severity"]


def test_hostile_names_are_escaped_everywhere() -> None:
    facts = [
        fact(1, MON, 60, sop=HOSTILE, region='U"S', severity=HOSTILE),
        fact(
            2,
            MON,
            60,
            sop=HOSTILE,
            steps=[StepFacts(id="<b>", type="task", status="done", has_sla=True)],
        ),
    ]
    charts = render_charts(facts, MON, MON + timedelta(days=1))
    for svg in charts.files().values():
        assert "<script" not in svg and "<b>" not in svg
        root = parse(svg)  # still well-formed
        everything = " ".join(texts(root)) + " ".join(title_of(g) for g in groups(root, "bar"))
        if svg is not charts.first_action:
            assert "<script>" in everything  # shown as text, not as markup
    assert 'U"S desk: 1 opened, 1 acted on' in texts(parse(charts.first_action))
    assert "<b>" in " ".join(texts(parse(charts.sla)))


def test_every_chart_is_accessible_and_has_no_script_or_style() -> None:
    charts = example_charts()
    for svg in charts.files().values():
        root = parse(svg)
        assert root.get("role") == "img"
        title_id, desc_id = (root.get("aria-labelledby") or "").split()
        ids = {e.get("id") for e in root.iter() if e.get("id")}
        assert {title_id, desc_id} <= ids
        assert root[0].tag == f"{SVG}title" and root[1].tag == f"{SVG}desc"
        assert len(root[1].text or "") > 50  # the desc says what is drawn
        tags = {e.tag.removeprefix(SVG) for e in root.iter()}
        assert not tags & {"script", "style", "foreignObject", "image", "a", "use"}
        attrs = {a for e in root.iter() for a in e.attrib}
        assert not {a for a in attrs if a.startswith("on") or a == "style" or "href" in a}
        assert "url(" not in svg and "http://" not in svg.replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        )


def test_same_facts_same_bytes_whatever_their_order() -> None:
    facts = example_facts()
    first = render_charts(facts, MON, MON + timedelta(days=14))
    again = render_charts(list(reversed(facts)), MON, MON + timedelta(days=14))
    assert first == again
    prefixed = render_charts(facts, MON, MON + timedelta(days=14), prefix="p-")
    assert 'id="p-sla-title"' in prefixed.sla and 'id="sla-title"' not in prefixed.sla


def test_a_long_window_is_drawn_by_week() -> None:
    facts = [fact(i, MON + timedelta(days=i), 60.0 * (i + 1)) for i in range(0, 90, 3)]
    root = parse(render_charts(facts, MON, MON + timedelta(days=90)).first_action)
    points = groups(root, "point")
    assert len(points) == 13  # 13 ISO weeks from Monday 2 March, one point each
    assert title_of(points[0]).startswith("US desk, week of 2 Mar: 3 opened, 3 acted on")


def test_an_empty_window_says_so() -> None:
    charts = render_charts([], MON, MON + timedelta(days=7))
    assert "No incidents were opened in this window." in texts(parse(charts.first_action))
    assert "No step with an SLA in this window." in texts(parse(charts.sla))
    assert "No incidents were opened in this window." in texts(parse(charts.volume))


def test_durations_and_span_are_written_for_people() -> None:
    assert [duration(s) for s in (None, 45, 720, 3600, 11100, 86400, 187200)] == [
        "-",
        "45s",
        "12m",
        "1h",
        "3h05m",
        "1d",
        "2d04h",
    ]
    assert span_of(MON, MON + timedelta(days=14)) == "2026-03-02 to 2026-03-15 (UTC)"


def test_the_docs_example_images_are_current() -> None:
    """If this fails after a change to the charts: `.venv/bin/python -m tests.chart_examples`."""
    for name, svg in example_charts().files().items():
        assert DOC_IMAGES[name].read_text(encoding="utf-8") == svg, name


# --- sopflow metrics --chart DIR


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace Temporal, as tests/test_metrics_cli.py does: ``collect_facts`` gives the
    recorded facts of tests/test_metrics_unit.py for the window it is handed."""
    seen: list[dict[str, Any]] = []

    async def collect_facts(client: Any, window: Window, by: Any, **kw: Any) -> Collected:
        seen.append({"window": window, **kw})
        facts = [f for f in all_facts() if window.since <= f.opened_at < (window.until or UNTIL)]
        return Collected(compute(facts, by, since=window.since, until=window.until), facts)

    def with_incidents(action: Any) -> Any:
        import asyncio

        return asyncio.run(action(type("Service", (), {"client": None})()))

    monkeypatch.setattr(metrics_cli, "collect_facts", collect_facts)
    monkeypatch.setattr(metrics_cli, "with_incidents", with_incidents)
    return seen


def test_chart_option_writes_the_three_charts(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "slides" / "march"
    window = ["--since", "2026-03-02T08:00Z", "--until", "2026-03-03T09:00Z"]
    result = CliRunner().invoke(app, ["metrics", *window, "-f", "csv", "--chart", str(out)])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and calls[0]["window"].until == UNTIL
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([FIRST_ACTION_FILE, SLA_FILE, VOLUME_FILE])
    for name in names:
        assert f"metrics: wrote {out / name}" in result.stderr
    expected = render_charts(all_facts(), SINCE, UNTIL)
    assert (out / SLA_FILE).read_text(encoding="utf-8") == expected.sla
    assert "33%: 1 met of 3 judged" in texts(parse((out / SLA_FILE).read_text(encoding="utf-8")))
    assert result.stdout.startswith("section,")  # the figures still go to stdout


def test_chart_option_refuses_a_directory_it_cannot_make(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    result = CliRunner().invoke(app, ["metrics", "--chart", str(blocker / "charts")])
    assert result.exit_code == 1
    assert re.search(r"error: --chart: cannot write the charts into .*a-file/charts", result.stderr)
