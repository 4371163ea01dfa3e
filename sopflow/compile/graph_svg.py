"""Draw a compiled plan as a standalone SVG, in pure Python: no Graphviz, no JavaScript.

It draws `graph.build`'s nodes and edges, as Mermaid and DOT do, where `graph_layout` puts
them: one row per rank, top to bottom, shapes and colours by kind (as DOT has them), dashed
edges for skips and SLA timeouts, edges that loop back in amber. Same plan, same bytes.

The look is in presentation attributes, which a strict CSP allows. A running incident's step
states are classes on the nodes (``step-done``...), styled by `STATE_CSS`, embedded as a
``<style>`` unless ``embed_style=False`` (serve it from the page's stylesheet instead). Every
text from the SOP is escaped; a ``<title>`` and a ``<desc>`` say in words what is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from itertools import pairwise

from sopflow.compile.graph import DONE, FAILED, START, Edge, Node, build
from sopflow.compile.graph_layout import (
    FONT,
    LABEL_LINE,
    LINE,
    MARGIN,
    ROW_GAP,
    SLANT,
    SMALL,
    SMALL_LINE,
    Layout,
    Vertex,
    edge_points,
    text_w,
    wrap,
)
from sopflow.contract.plan import Plan

STATES = ("done", "active", "skipped", "pending", "failed")
STATE_CSS = """\
.node.step-done .shape{fill:#d1fae5;stroke:#047857;stroke-width:2}
.node.step-active .shape{fill:#fef9c3;stroke:#ea580c;stroke-width:3}
.node.step-skipped{opacity:.45}
.node.step-skipped .shape{stroke-dasharray:5 3}
.node.step-pending .shape{fill:#ffffff}
.node.step-failed .shape{fill:#fee2e2;stroke:#b91c1c;stroke-width:3}
"""
INK, MUTED, EDGE_INK, LOOP_INK = "#0f172a", "#475569", "#64748b", "#b45309"
FONTS = "Helvetica, Arial, 'Liberation Sans', sans-serif"
# Fill and stroke of each of graph.py's shapes.
LOOKS = {
    "start": ("#334155", "#334155"),
    "subroutine": ("#e0f2fe", "#0369a1"),  # triage
    "rect": ("#eef2ff", "#4f46e5"),  # task, post-mortem
    "hexagon": ("#fef3c7", "#b45309"),  # approval
    "diamond": ("#f3e8ff", "#7e22ce"),  # decision
    "parallelogram": ("#ccfbf1", "#0f766e"),  # disclosure check
    "flag": ("#fce7f3", "#be185d"),  # notify
    "stadium": ("#f1f5f9", "#475569"),  # wait
    "fork": ("#e2e8f0", "#334155"),  # parallel
    "join": ("#e2e8f0", "#334155"),
    "circle": ("#dcfce7", "#15803d"),  # end
}
FAILED_LOOK = ("#fee2e2", "#b91c1c")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _esc(text: str) -> str:
    return escape(_NOT_XML.sub("", text), quote=True)


def _n(value: float) -> str:
    return f"{round(value, 1) + 0.0:.1f}".removesuffix(".0")


def _path(lay: Layout, i: int) -> str:
    """Edge ``i``: curves between the rows, straight runs through them."""
    points = edge_points(lay, i)
    d = [f"M{_n(points[0][0])},{_n(points[0][1])}"]
    for j, ((x0, y0), (x1, y1)) in enumerate(pairwise(points)):
        mid = _n((y0 + y1) / 2)
        curve = f"C{_n(x0)},{mid} {_n(x1)},{mid} {_n(x1)},{_n(y1)}"
        d.append(f"L{_n(x1)},{_n(y1)}" if j % 2 else curve)
    return " ".join(d)


def _shape(v: Vertex, fill: str, stroke: str) -> list[str]:
    w, h, s = v.w / 2, v.h / 2, SLANT
    shape = v.node.shape if v.node else ""
    paint = f'class="shape" fill="{fill}" stroke="{stroke}" stroke-width="1.5"'
    corners = {
        "hexagon": [(-w, 0), (-w + s, -h), (w - s, -h), (w, 0), (w - s, h), (-w + s, h)],
        "diamond": [(0, -h), (w, 0), (0, h), (-w, 0)],
        "parallelogram": [(-w + s, -h), (w, -h), (w - s, h), (-w, h)],
        "flag": [(-w, -h), (w - s, -h), (w, 0), (w - s, h), (-w, h)],
        "fork": [(-w + s, -h), (w - s, -h), (w, h), (-w, h)],
        "join": [(-w, -h), (w, -h), (w - s, h), (-w + s, h)],
    }
    if shape in corners:
        return [
            f'<polygon points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in corners[shape])}" {paint}/>'
        ]
    if shape == "circle":  # an end: a double ring
        ring = f'fill="none" stroke="{stroke}" stroke-width="1"'
        return [
            f'<ellipse cx="0" cy="0" rx="{_n(w)}" ry="{_n(h)}" {paint}/>',
            f'<ellipse cx="0" cy="0" rx="{_n(w - 4)}" ry="{_n(h - 4)}" {ring}/>',
        ]
    box = f'x="{_n(-w)}" y="{_n(-h)}" width="{_n(2 * w)}" height="{_n(2 * h)}"'
    radius = h if shape in ("stadium", "start") else 5.0
    sides = [f'<path d="M{_n(x)},{_n(-h)}V{_n(h)}" stroke="{stroke}"/>' for x in (-w + 7, w - 7)]
    return [f'<rect {box} rx="{_n(radius)}" {paint}/>', *(sides if shape == "subroutine" else [])]


def _texts(v: Vertex, x: float, y: float, ink: str = INK, small_ink: str = MUTED) -> list[str]:
    """The vertex's lines, centred on (x, y): a title in bold, the rest smaller."""
    y -= sum(LINE if big else SMALL_LINE for _, big in v.lines) / 2 if v.node else v.h / 2 - 2
    out = []
    for text, big in v.lines:
        size, height = (FONT, LINE) if big else (SMALL, SMALL_LINE if v.node else LABEL_LINE)
        bold = ' font-weight="bold"' if big else ""
        out.append(
            f'<text x="{_n(x)}" y="{_n(y + height / 2 + size * 0.36)}" font-size="{_n(size)}"'
            f'{bold} fill="{ink if big else small_ink}">{_esc(text)}</text>'
        )
        y += height
    return out


def _node(v: Vertex, kind: str, state: str | None, prefix: str) -> str:
    assert v.node is not None
    fill, stroke = FAILED_LOOK if v.node.id == FAILED else LOOKS[v.node.shape]
    said = " — ".join(v.node.label.split("\n")) + f" ({kind}{f', {state}' if state else ''})"
    ink = "#ffffff" if v.node.shape == "start" else INK
    return "\n".join(
        [
            f'<g class="node{f" step-{state}" if state else ""}" id="{prefix}-n-{_esc(v.key)}"'
            f' data-id="{_esc(v.key)}" data-kind="{_esc(kind)}"'
            f' transform="translate({_n(v.x)} {_n(v.y)})">',
            f"<title>{_esc(said)}</title>",
            *_shape(v, fill, stroke),
            *_texts(v, 0, 0, ink),
            "</g>",
        ]
    )


def _label(v: Vertex, ink: str) -> str:
    box = f'x="{_n(v.x - v.w / 2)}" y="{_n(v.y - v.h / 2)}" width="{_n(v.w)}" height="{_n(v.h)}"'
    rect = f'<rect {box} rx="3" fill="#ffffff" fill-opacity="0.9"/>'
    return f'<g class="edge-label">{rect}{"".join(_texts(v, v.x, v.y, ink, ink))}</g>'


def _edges(lay: Layout, prefix: str) -> tuple[list[str], list[str], float]:
    """Every edge (a path with an arrowhead); its label, to draw over everything; and how far
    right a step's edge to itself reaches."""
    paths, labels, reach = [], [], 0.0
    for i, edge in enumerate(lay.edges):
        loop = i in lay.back
        ink = LOOP_INK if loop else EDGE_INK
        if lay.chains[i]:
            d = _path(lay, i)
            runs = [lay.verts[k] for k in lay.chains[i][1:-1]]
            labels += [_label(run, MUTED if not loop else ink) for run in runs if run.lines]
        else:  # a step that goes back to itself: a bow on its right, the label beside it
            v = lay.verts[edge.src]
            x, y = v.x + v.w / 2, v.y
            d = f"M{_n(x)},{_n(y - 8)} C{_n(x + 48)},{_n(y - 30)} {_n(x + 48)},{_n(y + 30)} "
            d += f"{_n(x)},{_n(y + 8)}"
            lines = [(t, False) for t in wrap(edge.label, 30, 2)] if edge.label else []
            w = max([0.0, *(text_w(t, SMALL) + 10 for t, _ in lines)])
            spot = Vertex("", None, lines, w, len(lines) * LABEL_LINE + 4, x=x + 40 + w / 2, y=y)
            labels += [_label(spot, ink)] if lines else []
            reach = max(reach, x + 48 + w)
        kind = "edge" + (" dashed" if edge.dashed else "") + (" loop" if loop else "")
        dash = ' stroke-dasharray="6 4"' if edge.dashed else ""
        said = f"{edge.src} → {edge.dst}" + (f": {edge.label}" if edge.label else "")
        paths.append(
            f'<g class="{kind}" data-src="{_esc(edge.src)}" data-dst="{_esc(edge.dst)}">'
            f'<title>{_esc(said)}</title><path d="{d}" fill="none" stroke="{ink}"'
            f' stroke-width="1.5"{dash} marker-end="url(#{prefix}-{"loop" if loop else "arrow"})"'
            "/></g>"
        )
    return paths, labels, reach


def _name(key: str) -> str:
    if key.endswith("__join"):
        return f"the join of {key.removesuffix('__join')}"
    return {START: "start", DONE: "completed", FAILED: "failed"}.get(key, key)


def _desc(plan: Plan, nodes: list[Node], edges: list[Edge], kinds: dict[str, str]) -> str:
    """The text alternative: every step in order, its kind, and where each way out goes."""
    ways: dict[str, list[str]] = {}
    for e in edges:
        ways.setdefault(e.src, []).append(f"{e.label + ': ' if e.label else ''}to {_name(e.dst)}")
    sop = plan.sop
    said = [
        f"{sop.title} ({sop.id}@{sop.version}, region {plan.region.code}): "
        f"{len(plan.steps_by_id())} steps, drawn top to bottom. It starts, then "
        f"{'; '.join(ways.get(START, []))}."
    ]
    for number, node in enumerate((n for n in nodes if n.id != START), 1):
        text = " — ".join(node.label.split("\n"))
        out = f"Next: {'; '.join(ways[node.id])}." if node.id in ways else "The incident ends."
        said.append(f"{number}. {_name(node.id)}, {kinds[node.id]}: {text}. {out}")
    return " ".join(said)


def _head(plan: Plan, prefix: str, width: float, height: float, desc: str) -> list[str]:
    sop = plan.sop
    name = f"{sop.title} — {sop.id}@{sop.version} ({plan.region.code})"
    size = f'width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}"'
    marker = 'viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9"'
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} role="img" aria-labelledby='
        f'"{prefix}-title {prefix}-desc" font-family="{FONTS}" text-anchor="middle">',
        f'<title id="{prefix}-title">{_esc(name)}</title>',
        f'<desc id="{prefix}-desc">{_esc(desc)}</desc>',
        "<defs>",
        *(
            f'<marker id="{prefix}-{key}" {marker} markerUnits="userSpaceOnUse" orient="auto">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{ink}"/></marker>'
            for key, ink in (("arrow", EDGE_INK), ("loop", LOOP_INK))
        ),
        "</defs>",
    ]


def to_svg(plan: Plan, *, states: Mapping[str, str] | None = None, embed_style: bool = True) -> str:
    """The plan's graph as a standalone SVG document. ``states`` maps a step id to one of
    `STATES`, the class ``step-<state>`` of its node (ids not in the graph are ignored)."""
    states = dict(states or {})
    if wrong := sorted({s for s in states.values() if s not in STATES}):
        raise ValueError(f"unknown step states {wrong}; known: {', '.join(STATES)}")
    nodes, edges = build(plan)
    lay, sop, steps = Layout(nodes, edges), plan.sop, plan.steps_by_id()
    fixed = {START: "start", DONE: "end", FAILED: "end"}
    kinds = {n.id: steps[n.id].type if n.id in steps else fixed.get(n.id, "join") for n in nodes}
    code = plan.region.code
    prefix = "sop-" + re.sub(r"[^a-z0-9]+", "-", f"{sop.id}-{sop.version}-{code}".lower())
    sub = f"{sop.id}@{sop.version} · region {code}"
    sub += f" · plan {plan.plan_hash[:12]}" if plan.plan_hash else ""
    paths, labels, reach = _edges(lay, prefix)
    right = max(reach, *(v.x + v.w / 2 for v in lay.verts.values()))
    width = max(right, MARGIN + text_w(sop.title, 15), MARGIN + text_w(sub, 11)) + MARGIN
    height = lay.tops[-1] - ROW_GAP + MARGIN
    caption = f'x="{_n(MARGIN)}" text-anchor="start"'
    return "\n".join(
        [
            *_head(plan, prefix, width, height, _desc(plan, nodes, edges, kinds)),
            *([f"<style>\n{STATE_CSS}</style>"] if embed_style else []),
            '<rect class="background" width="100%" height="100%" fill="#ffffff"/>',
            f'<text {caption} y="24" font-size="15" font-weight="bold" fill="{INK}">'
            f"{_esc(sop.title)}</text>",
            f'<text {caption} y="41" font-size="11" fill="{MUTED}">{_esc(sub)}</text>',
            '<g class="edges">',
            *paths,
            '</g>\n<g class="nodes">',
            *(
                _node(v, kinds[v.key], states.get(v.key), prefix)
                for v in lay.verts.values()
                if v.node
            ),
            '</g>\n<g class="edge-labels">',
            *labels,
            "</g>\n</svg>\n",
        ]
    )
