"""The time-series chart: time to first action by desk over time, one panel per desk.

Small multiples, not one tangle of coloured lines: each desk has its own panel, named in
words, on a shared time axis and a shared duration scale (so panels compare at a glance).
In each, p50 is a solid line with round markers and p90 a lighter dashed line with square
markers, so the two differ by more than colour. A bucket nobody acted on in has no point
and breaks the line (there is nothing to draw, and a line across it would invent values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sopflow.client.metrics.charts.series import DeskSeries, Point, Series
from sopflow.client.metrics.charts.svg import (
    HEADER,
    INK,
    MARGIN,
    MUTED,
    SMALL_SIZE,
    document,
    duration,
    line,
    num,
    rect,
    text,
    titled,
)

WIDTH = 760.0
LEFT = MARGIN + 56.0  # room for the duration labels
PLOT_H, PANEL_GAP, FIRST_PANEL = 110.0, 52.0, HEADER + 56.0
P50_INK, P90_INK = "#1d4ed8", "#6b7fa8"
MAX_X_LABELS = 8
# Tick steps in seconds: the first that splits the largest value into at most 4 steps.
NICE_STEPS = (
    *(1, 2, 5, 10, 15, 30),
    *(60, 120, 300, 600, 900, 1800),
    *(3600, 7200, 10800, 21600, 43200),
    *(86400, 172800, 432000, 604800, 1209600, 2592000),
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_label(at: datetime) -> str:
    """``2 Mar`` (no locale: the same bytes on every machine)."""
    return f"{at.day} {_MONTHS[at.month - 1]}"


def bucket_label(at: datetime, size: str) -> str:
    """A bucket's name in words: ``2 Mar``, or ``week of 2 Mar``."""
    return f"week of {day_label(at)}" if size == "week" else day_label(at)


def scale(top: float) -> tuple[float, int]:
    """A tick step (seconds) and how many steps reach ``top`` (at least one)."""
    step = next((s for s in NICE_STEPS if top / s <= 4), float(NICE_STEPS[-1]))
    return float(step), max(1, math.ceil(top / step))


def _largest(series: Series) -> float:
    values = [v for d in series.desks for p in d.points for v in (p.p50, p.p90) if v is not None]
    return max(values, default=0.0)


def _segments(xs: Sequence[float], values: Sequence[float | None], y0: float, unit: float) -> str:
    """A path through the values, broken where a value is missing."""
    parts, pen_down = [], False
    for x, v in zip(xs, values, strict=True):
        if v is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{num(x)},{num(y0 - v * unit)}")
        pen_down = True
    return " ".join(parts)


def _point_title(desk: str, label: str, p: Point) -> str:
    said = f"{desk} desk, {label}: {p.opened} opened, {p.acted} acted on"
    return f"{said}; p50 {duration(p.p50)}, p90 {duration(p.p90)}" if p.acted else said


def _panel(d: DeskSeries, series: Series, top: float, ticks: tuple[float, int]) -> list[str]:
    step, count = ticks
    plot_w = WIDTH - LEFT - MARGIN
    y0, unit = top + PLOT_H, PLOT_H / (step * count)
    slot = plot_w / max(1, len(series.buckets))
    xs = [LEFT + (i + 0.5) * slot for i in range(len(series.buckets))]
    heading = f"{d.desk} desk: {d.opened} opened, {d.acted} acted on"
    out = [text(MARGIN, top - 16, heading, bold=True)]
    for k in range(count + 1):
        y = y0 - k * step * unit
        out += [
            line(LEFT, y, WIDTH - MARGIN, y),
            text(LEFT - 6, y + 4, duration(k * step), size=SMALL_SIZE, anchor="end", fill=MUTED),
        ]
    every = max(1, math.ceil(len(xs) / MAX_X_LABELS))
    for i in range(0, len(xs), every):
        label = day_label(series.buckets[i])
        out.append(text(xs[i], y0 + 15, label, size=SMALL_SIZE, anchor="middle", fill=MUTED))
    for values, ink, dash in (
        ([p.p90 for p in d.points], P90_INK, ' stroke-dasharray="5 3"'),
        ([p.p50 for p in d.points], P50_INK, ""),
    ):
        if path := _segments(xs, values, y0, unit):
            width = "1.5" if dash else "2"
            out.append(
                f'<path class="{"p90" if dash else "p50"}" d="{path}" fill="none"'
                f' stroke="{ink}" stroke-width="{width}"{dash}/>'
            )
    for x, p in zip(xs, d.points, strict=True):
        if p.p50 is None or p.p90 is None:
            continue
        y50, y90 = y0 - p.p50 * unit, y0 - p.p90 * unit
        out.append(
            titled(
                _point_title(d.desk, bucket_label(p.start, series.size), p),
                rect(x - 3, y90 - 3, 6, 6, P90_INK, cls="p90-mark"),
                f'<circle cx="{num(x)}" cy="{num(y50)}" r="3.5" fill="{P50_INK}"/>',
                cls="point",
            )
        )
    return out


def _legend(y: float) -> list[str]:
    return [
        f'<path d="M{num(LEFT)},{num(y)} h28" stroke="{P50_INK}" stroke-width="2"/>',
        f'<circle cx="{num(LEFT + 14)}" cy="{num(y)}" r="3.5" fill="{P50_INK}"/>',
        text(LEFT + 34, y + 4, "p50: half were acted on within this", size=SMALL_SIZE, fill=INK),
        f'<path d="M{num(LEFT + 280)},{num(y)} h28" stroke="{P90_INK}" stroke-width="1.5"'
        ' stroke-dasharray="5 3"/>',
        rect(LEFT + 291, y - 3, 6, 6, P90_INK),
        text(LEFT + 314, y + 4, "p90: nine in ten within this", size=SMALL_SIZE, fill=INK),
    ]


def _desc(series: Series, span: str) -> str:
    said = [f"Time to first action by desk, per {series.size}, {span}."]
    if not series.desks:
        said.append("No incidents were opened in this window.")
    for d in series.desks:
        said.append(f"{d.desk} desk: {d.opened} opened, {d.acted} acted on.")
        said += [
            f"{bucket_label(p.start, series.size)}: p50 {duration(p.p50)}, "
            f"p90 {duration(p.p90)} ({p.acted} of {p.opened} acted on)."
            for p in d.points
            if p.acted
        ]
    return " ".join(said)


def first_action_chart(series: Series, span: str, prefix: str = "ttfa") -> str:
    """The chart of ``series`` as an SVG document; ``span`` says the window in words."""
    ticks = scale(_largest(series))
    body = _legend(HEADER + 12)
    top = FIRST_PANEL
    for d in series.desks:
        body += _panel(d, series, top, ticks)
        top += PLOT_H + PANEL_GAP
    if not series.desks:
        body.append(text(MARGIN, top, "No incidents were opened in this window.", fill=MUTED))
        top += PANEL_GAP
    subtitle = f"Per {series.size} an incident was opened, by desk (the incident's region); {span}"
    title = "Time to first action by desk"
    return document(prefix, WIDTH, top, title, subtitle, _desc(series, span), body)
