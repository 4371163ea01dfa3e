"""The bar charts: SLA attainment by step, and volume by SOP and severity.

Both are horizontal bars (long SOP and step names read on the left, never rotated), and
every bar carries its figures in words at its end, so nothing is told by colour alone: the
percentage and the counts for attainment, the total and the count of each severity for
volume. Names too long for the label column are cut with … and given in full in the row's
``<title>`` and in the ``<desc>``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from sopflow.client.metrics.charts.svg import (
    HEADER,
    INK,
    MARGIN,
    MUTED,
    SMALL_SIZE,
    TRACK,
    clip,
    document,
    line,
    percent,
    rect,
    text,
    titled,
    width_of,
)
from sopflow.client.metrics.compute import NONE, IncidentGroup, StepGroup

ROW_H, BAR_H, GAP = 28.0, 16.0, 10.0
MAX_LABEL, MAX_LABEL_W, TRACK_W = 44, 300.0, 320.0
MET_INK, BREACHED_INK, TRACK_EDGE = "#0f766e", "#fca5a5", "#94a3b8"
SEVERITIES = ("SEV0", "SEV1", "SEV2", "SEV3")
# Fill and text colour of each severity's segment: darkest for the most severe, grey for
# none. Text on each meets 4.5:1.
SEVERITY_LOOKS = {
    "SEV0": ("#7f1d1d", "#ffffff"),
    "SEV1": ("#c2410c", "#ffffff"),
    "SEV2": ("#f59e0b", INK),
    "SEV3": ("#fde68a", INK),
    NONE: ("#cbd5e1", INK),
}
OTHER_LOOK = ("#c7d2fe", INK)  # a severity sopflow does not know (never in practice)


def _label_w(labels: Sequence[str]) -> float:
    return min(MAX_LABEL_W, max((width_of(clip(x, MAX_LABEL)) for x in labels), default=0.0))


def _rows_top() -> float:
    return HEADER + 40.0


def _axis(x0: float, top: float, bottom: float, ticks: Sequence[tuple[float, str]]) -> list[str]:
    """Vertical grid lines at each tick, labelled above the first row."""
    out = []
    for at, label in ticks:
        x = x0 + at
        out += [
            line(x, top - 6, x, bottom),
            text(x, top - 10, label, size=SMALL_SIZE, anchor="middle", fill=MUTED),
        ]
    return out


def step_label(s: StepGroup) -> str:
    """``people · verify (US desk)``: the group, the step and the desk that held it."""
    group = " ".join(v for v in s.key.values())
    return f"{group} · {s.step} ({s.desk} desk)" if group else f"{s.step} ({s.desk} desk)"


def sla_said(s: StepGroup) -> str:
    """The figures of one bar in words: ``67%: 2 met of 3 judged, 1 open``."""
    judged = s.met + s.breached
    opened = f", {s.open} open" if s.open else ""
    if s.attainment is None:
        return f"not judged yet{opened}"
    return f"{percent(s.attainment)}: {s.met} met of {judged} judged{opened}"


def sla_chart(steps: Sequence[StepGroup], span: str, prefix: str = "sla") -> str:
    """SLA attainment, one bar per step (and desk) of ``steps``: the share of judged steps
    done within their SLA, the rest (those that breached) in red."""
    labels = [step_label(s) for s in steps]
    label_w = _label_w(labels)
    x0 = MARGIN + label_w + GAP
    value_x = x0 + TRACK_W + GAP
    said = [sla_said(s) for s in steps]
    # Bold text is about a tenth wider than the estimate.
    width = value_x + max((1.1 * width_of(v) for v in said), default=120.0) + MARGIN
    top = _rows_top()
    bottom = top + ROW_H * max(1, len(steps))
    body = _axis(x0, top, bottom, [(TRACK_W * q / 4, f"{25 * q}%") for q in range(5)])
    for i, (s, label, value) in enumerate(zip(steps, labels, said, strict=True)):
        y = top + i * ROW_H + (ROW_H - BAR_H) / 2
        met_w = TRACK_W * (s.attainment or 0.0)
        bar = [rect(x0, y, TRACK_W, BAR_H, TRACK, stroke=TRACK_EDGE, cls="track")]
        if s.breached:
            bar.append(rect(x0 + met_w, y, TRACK_W - met_w, BAR_H, BREACHED_INK, cls="breached"))
        if s.met:
            bar.append(rect(x0, y, met_w, BAR_H, MET_INK, cls="met"))
        body.append(
            titled(
                f"{label}: {value}",
                text(x0 - GAP, y + 12, clip(label, MAX_LABEL), anchor="end"),
                *bar,
                text(value_x, y + 12, value, bold=s.attainment is not None),
                cls="bar",
            )
        )
    if not steps:
        body.append(text(x0, top + 18, "No step with an SLA in this window.", fill=MUTED))
    subtitle = "Steps done within their SLA, of those judged (met + breached); " + span
    desc = f"SLA attainment by step, {span}. " + (
        " ".join(f"{lab}: {v}." for lab, v in zip(labels, said, strict=True))
        or "No step with an SLA in this window."
    )
    title = "SLA attainment by step"
    return document(prefix, width, bottom + MARGIN, title, subtitle, desc, body)


def severity_order(severities: Sequence[str]) -> list[str]:
    """SEV0..SEV3, then any other severity by name, then ``-`` (none)."""
    known = [s for s in SEVERITIES if s in severities]
    others = sorted(s for s in set(severities) if s not in SEVERITIES and s != NONE)
    return known + others + ([NONE] if NONE in severities else [])


def volume_by_sop(groups: Sequence[IncidentGroup]) -> list[tuple[str, Counter[str]]]:
    """Incidents per SOP and severity from groups keyed by ``sop`` and ``severity``: the
    busiest SOP first (then by name)."""
    per_sop: dict[str, Counter[str]] = {}
    for g in groups:
        sop = g.key.get("sop", NONE)
        per_sop.setdefault(sop, Counter())[g.key.get("severity", NONE)] += g.incidents
    return sorted(per_sop.items(), key=lambda kv: (-kv[1].total(), kv[0]))


def _count_ticks(top: int) -> tuple[int, int]:
    """A step among 1, 2, 5, 10, 20, 50… giving at most 5 steps to ``top``, and how many."""
    step = 1
    while top / step > 5:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return step, max(1, math.ceil(top / step))


def _severity_name(severity: str) -> str:
    return "no severity" if severity == NONE else severity


def _legend(order: Sequence[str], y: float) -> list[str]:
    out, x = [], MARGIN
    for sev in order:
        fill, _ink = SEVERITY_LOOKS.get(sev, OTHER_LOOK)
        name = _severity_name(sev)
        out += [
            rect(x, y - 10, 12, 12, fill, stroke=TRACK_EDGE, cls="swatch"),
            text(x + 16, y, name, size=SMALL_SIZE),
        ]
        x += 16 + width_of(name, SMALL_SIZE) + 18
    return out


def volume_said(total: int, counts: Counter[str], order: Sequence[str]) -> str:
    """``12: SEV1 3 · SEV2 9 · no severity 1``."""
    return f"{total}: " + " · ".join(f"{_severity_name(s)} {counts[s]}" for s in order if counts[s])


def volume_chart(groups: Sequence[IncidentGroup], span: str, prefix: str = "volume") -> str:
    """Incidents opened per SOP, one bar each, stacked by severity (most severe first)."""
    rows = volume_by_sop(groups)
    order = severity_order([s for _sop, c in rows for s in c])
    labels = [sop for sop, _c in rows]
    x0 = MARGIN + _label_w(labels) + GAP
    value_x = x0 + TRACK_W + GAP
    said = [volume_said(c.total(), c, order) for _sop, c in rows]
    width = value_x + max((width_of(v) for v in said), default=120.0) + MARGIN
    step, count = _count_ticks(max((c.total() for _s, c in rows), default=1))
    unit = TRACK_W / (step * count)
    top = _rows_top()
    bottom = top + ROW_H * max(1, len(rows))
    body = _legend(order, HEADER + 14)
    body += _axis(x0, top, bottom, [(k * step * unit, str(k * step)) for k in range(count + 1)])
    for i, ((sop, counts), value) in enumerate(zip(rows, said, strict=True)):
        y = top + i * ROW_H + (ROW_H - BAR_H) / 2
        segments, x = [], x0
        for sev in order:
            if not counts[sev]:
                continue
            fill, ink = SEVERITY_LOOKS.get(sev, OTHER_LOOK)
            w = counts[sev] * unit
            segments.append(rect(x, y, w, BAR_H, fill, stroke="#ffffff", cls=f"segment {sev}"))
            if w >= width_of(str(counts[sev]), SMALL_SIZE) + 6:
                segments.append(
                    text(
                        x + w / 2,
                        y + 12,
                        str(counts[sev]),
                        size=SMALL_SIZE,
                        anchor="middle",
                        fill=ink,
                    )
                )
            x += w
        body.append(
            titled(
                f"{sop}: {value}",
                text(x0 - GAP, y + 12, clip(sop, MAX_LABEL), anchor="end"),
                *segments,
                text(value_x, y + 12, value),
                cls="bar",
            )
        )
    if not rows:
        body.append(text(x0, top + 18, "No incidents were opened in this window.", fill=MUTED))
    subtitle = f"Incidents opened per SOP, by severity (their severity now); {span}"
    desc = f"Volume by SOP and severity, {span}. " + (
        " ".join(f"{sop}: {v}." for (sop, _c), v in zip(rows, said, strict=True))
        or "No incidents were opened in this window."
    )
    return document(
        prefix, width, bottom + MARGIN, "Volume by SOP and severity", subtitle, desc, body
    )
