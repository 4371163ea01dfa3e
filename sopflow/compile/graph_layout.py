"""A layered layout of `graph.build`'s nodes and edges, in pure Python, for `graph_svg`.

Edges that close a loop (a depth-first search finds them) are turned round; each node's row is
its longest path from the start. Between two rows of nodes lies a row for the edges, where an
edge's label is a box of its own and a long edge has a narrow run in every row it crosses, so
no edge is drawn under a box. Rows are ordered to cross fewer edges (each sorted by its
neighbours' mean place, the best order kept), then every box is pulled over its neighbours
without overlapping the next one. Sizes come from the text: about 7 px a character at 12 px.
Deterministic: the same nodes and edges give the same numbers.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import pairwise

from sopflow.compile.graph import Edge, Node

FONT, SMALL, CHAR_W = 12.0, 10.5, 7.0  # CHAR_W: a character's width at FONT, estimated
LINE, SMALL_LINE, LABEL_LINE, WRAP, MAX_LINES = 15.0, 13.0, 12.5, 28, 3
MARGIN, HEADER, MIN_W, SLANT, PORT_GAP = 24.0, 56.0, 132.0, 14.0, 14.0
NODE_GAP, RUN_W, RUN_GAP, ROW_GAP = 40.0, 14.0, 12.0, 18.0
_PAD = {"hexagon": 48, "parallelogram": 48, "fork": 48, "flag": 42, "subroutine": 36}
Point = tuple[float, float]


def text_w(text: str, size: float = FONT) -> float:
    units = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return units * CHAR_W * size / FONT


def wrap(text: str, width: int, max_lines: int) -> list[str]:
    """Lines of at most ``width`` characters, broken at spaces or after dots (expressions
    are long words); the last of ``max_lines`` ends in … when the text goes on."""
    lines = [""]
    for piece in re.findall(r"[^\s.]*[.\s]*", " ".join(text.split())):
        if lines[-1] and len(lines[-1]) + len(piece.rstrip()) > width:
            lines.append("")
        lines[-1] += piece
        while len(lines[-1].rstrip()) > width:
            lines[-1:] = [lines[-1][:width], lines[-1][width:]]
    lines = [line.strip() for line in lines if line.strip()] or [""]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: width - 1].rstrip() + "…"]
    return lines


@dataclass(slots=True)
class Vertex:
    """A node, or an edge's run through a row (``node`` None), with its label if any."""

    key: str
    node: Node | None
    lines: list[tuple[str, bool]]  # (text, is the title)
    w: float
    h: float
    rank: int = 0
    x: float = 0.0
    y: float = 0.0
    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)

    @property
    def weight(self) -> float:
        """How hard it resists moving: runs most (edges stay straight), labels least."""
        return 1.0 if self.node else 0.5 if self.lines else 4.0


def _sized(node: Node) -> Vertex:
    """The node's box, its text wrapped: the title on up to three lines, the rest smaller."""
    title, *rest = node.label.split("\n")
    lines = [(t, True) for t in wrap(title, WRAP, MAX_LINES)]
    lines += [(t, False) for part in rest for t in wrap(part, WRAP + 4, 2)]
    tw = max(text_w(t, FONT if big else SMALL) for t, big in lines)
    th = sum(LINE if big else SMALL_LINE for _, big in lines)
    if node.shape == "diamond":  # the text's box fits inside the diamond
        half_h = th / 2 + 18
        w, h = max(tw / (1 - th / 2 / half_h) + 12, 96), 2 * half_h
    elif node.shape == "circle":  # ... and inside the ellipse
        w, h = max(tw * 1.42 + 16, 72), th * 1.42 + 16
    elif node.shape in ("start", "join"):
        w, h = tw + 52, th + 14
    else:
        h = th + 18
        w = max(tw + (h + 8 if node.shape == "stadium" else _PAD.get(node.shape, 32)), MIN_W)
    return Vertex(node.id, node, lines, w, h)


def _back_edges(order: list[str], edges: list[Edge]) -> set[int]:
    """The edges that close a loop: to a node still on the depth-first search's stack."""
    out: dict[str, list[int]] = {k: [] for k in order}
    for i, edge in enumerate(edges):
        out[edge.src].append(i)
    state: dict[str, int] = {}  # 1: on the stack, 2: finished
    back: set[int] = set()
    for root in (k for k in order if k not in state):
        state[root], stack = 1, [(root, iter(out[root]))]
        while stack:
            key, todo = stack[-1]
            for i in todo:
                dst = edges[i].dst
                if dst not in state:
                    state[dst] = 1
                    stack.append((dst, iter(out[dst])))
                    break
                if state[dst] == 1:
                    back.add(i)
            else:
                state[key] = 2
                stack.pop()
    return back


def _longest_path(order: list[str], pairs: list[tuple[str, str]]) -> dict[str, int]:
    succ: dict[str, list[str]] = {k: [] for k in order}
    waiting, rank = dict.fromkeys(order, 0), dict.fromkeys(order, 0)
    for u, v in pairs:
        succ[u].append(v)
        waiting[v] += 1
    ready = [k for k in order if not waiting[k]]
    for u in ready:  # grows as it is read: a topological order
        for v in succ[u]:
            rank[v], waiting[v] = max(rank[v], rank[u] + 1), waiting[v] - 1
            ready += [] if waiting[v] else [v]
    return rank


def _crossings(rows: list[list[str]], verts: dict[str, Vertex]) -> int:
    total = 0
    for upper, lower in pairwise(rows):
        pos = {k: i for i, k in enumerate(lower)}
        links = [(i, pos[d]) for i, k in enumerate(upper) for d in verts[k].down]
        for j, (a, b) in enumerate(links):
            total += sum((a - c) * (b - d) < 0 for c, d in links[j + 1 :])
    return total


def _gap(a: Vertex, b: Vertex) -> float:
    return (a.w + b.w) / 2 + (NODE_GAP if a.node and b.node else RUN_GAP)


def _place(row: list[Vertex], wanted: list[float]) -> None:
    """Put each vertex as near ``wanted`` as the row allows, in order and without overlap:
    weighted least squares, by pooling adjacent violators."""
    offsets = [0.0]
    for a, b in pairwise(row):
        offsets.append(offsets[-1] + _gap(a, b))
    blocks: list[tuple[float, float, int]] = []  # mean, weight, count
    for vertex, want, off in zip(row, wanted, offsets, strict=True):
        mean, weight, count = want - off, vertex.weight, 1
        while blocks and blocks[-1][0] > mean:
            m, w, c = blocks.pop()
            mean, weight, count = (m * w + mean * weight) / (w + weight), w + weight, c + count
        blocks.append((mean, weight, count))
    xs = [m for m, _, c in blocks for _ in range(c)]
    for vertex, x, off in zip(row, xs, offsets, strict=True):
        vertex.x = x + off


class Layout:
    """Nodes on the even rows; edges' labels and runs on the odd rows between them."""

    def __init__(self, nodes: list[Node], edges: list[Edge]) -> None:
        self.verts, self.edges = {n.id: _sized(n) for n in nodes}, edges
        order = [n.id for n in nodes]
        self.back = _back_edges(order, edges)
        self.ends = [
            (e.dst, e.src) if i in self.back else (e.src, e.dst) for i, e in enumerate(edges)
        ]
        ranks = _longest_path(order, [(u, v) for u, v in self.ends if u != v])
        for key, rank in ranks.items():
            self.verts[key].rank = 2 * rank
        self.chains = [self._chain(i) for i in range(len(edges))]
        rows: list[list[str]] = [[] for _ in range(2 * max(ranks.values()) + 1)]
        for key, vertex in self.verts.items():
            rows[vertex.rank].append(key)
        self.rows = self._order(rows)
        self._xs()
        self.heights = [max(self.verts[k].h for k in row) for row in self.rows]
        self.tops = [HEADER + sum(self.heights[:r]) + ROW_GAP * r for r in range(len(rows) + 1)]
        for vertex in self.verts.values():
            vertex.y = self.tops[vertex.rank] + self.heights[vertex.rank] / 2
        self.ports = _ports(self)

    def _chain(self, i: int) -> list[str]:
        """The edge's vertices, top row first, one in each row it crosses; the one next to
        its source carries its label. A step's edge to itself has none."""
        (u, v), label = self.ends[i], self.edges[i].label
        if u == v:
            return []
        ranks = range(self.verts[u].rank + 1, self.verts[v].rank)
        chain = [u]
        for r in ranks:
            near = r == (ranks[-1] if i in self.back else ranks[0])
            lines = [(t, False) for t in wrap(label, 30, 2)] if label and near else []
            w = max([RUN_W, *(text_w(t, SMALL) + 10 for t, _ in lines)])
            h = len(lines) * LABEL_LINE + 4 if lines else 0.0
            key = f"~{i}.{r}"  # never a node's id: those are step ids and upper-case words
            self.verts[key] = Vertex(key, None, lines, w, h, rank=r)
            chain.append(key)
        chain.append(v)
        for a, b in pairwise(chain):
            self.verts[a].down.append(b)
            self.verts[b].up.append(a)
        return chain

    def _order(self, rows: list[list[str]]) -> list[list[str]]:
        """Sweep down and up, sorting each row by its neighbours' mean place; keep the order
        with the fewest crossings."""
        best, fewest = [list(r) for r in rows], _crossings(rows, self.verts)
        for sweep in range(12):
            down = sweep % 2 == 0
            for r in range(1, len(rows)) if down else range(len(rows) - 2, -1, -1):
                pos = {k: i for i, k in enumerate(rows[r - 1] if down else rows[r + 1])}
                keyed = []
                for i, key in enumerate(rows[r]):
                    near = self.verts[key].up if down else self.verts[key].down
                    keyed.append((sum(pos[k] for k in near) / len(near) if near else i, i, key))
                rows[r] = [key for *_, key in sorted(keyed)]
            if (crossings := _crossings(rows, self.verts)) < fewest:
                best, fewest = [list(r) for r in rows], crossings
        return best

    def _xs(self) -> None:
        rows = [[self.verts[k] for k in row] for row in self.rows]
        for row in rows:
            _place(row, [0.0] * len(row))

        def pull(row: list[Vertex], up: bool, down: bool) -> None:
            wanted = []
            for v in row:
                near = [self.verts[k] for k in (v.up if up else []) + (v.down if down else [])]
                total = sum(n.weight for n in near)
                wanted.append(sum(n.weight * n.x for n in near) / total if near else v.x)
            _place(row, wanted)

        for _ in range(8):
            for row in rows[1:]:
                pull(row, True, False)
            for row in reversed(rows[:-1]):
                pull(row, False, True)
        for row in rows:
            pull(row, True, True)
        for chain in self.chains:
            self._straighten(chain[1:-1])
        left = min(v.x - v.w / 2 for v in self.verts.values())
        for v in self.verts.values():
            v.x += MARGIN - left

    def _straighten(self, run: list[str]) -> None:
        """Line up a long edge's runs, at the first place every row it crosses has room."""
        xs = sorted(self.verts[k].x for k in run)
        for x in sorted(xs, key=lambda x: abs(x - xs[len(xs) // 2])):
            if all(self._fits(key, x) for key in run):
                for key in run:
                    self.verts[key].x = x
                return

    def _fits(self, key: str, x: float) -> bool:
        vertex, row = self.verts[key], self.rows[self.verts[key].rank]
        i = row.index(key)
        left = [self.verts[row[i - 1]]] if i else []
        right = [self.verts[row[i + 1]]] if i + 1 < len(row) else []
        return all(o.x + _gap(o, vertex) <= x for o in left) and all(
            x + _gap(o, vertex) <= o.x for o in right
        )

    def span(self, key: str) -> Point:
        """The top and bottom of the vertex's row."""
        rank = self.verts[key].rank
        return self.tops[rank], self.tops[rank] + self.heights[rank]


def boundary(v: Vertex, dx: float, side: int) -> float:
    """The y where the vertex's outline meets the vertical at ``dx``; side -1 top, +1 bottom."""
    half_w, half_h = v.w / 2, v.h / 2
    shape = v.node.shape if v.node else ""
    if shape == "diamond":
        return v.y + side * half_h * (1 - min(abs(dx) / half_w, 1))
    if shape == "circle":
        return v.y + side * half_h * math.sqrt(max(0.0, 1 - (dx / half_w) ** 2))
    return v.y + side * half_h


def _ports(lay: Layout) -> dict[tuple[int, int], float]:
    """Where each edge meets its top vertex (side 1) and its bottom one (side -1), off the
    vertex's centre: spread along the side, in the order of the edges' other ends."""
    sides: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
    verts = lay.verts
    for i, chain in ((i, c) for i, c in enumerate(lay.chains) if c):
        sides.setdefault((chain[0], 1), []).append((verts[chain[1]].x, verts[chain[-1]].x, i))
        sides.setdefault((chain[-1], -1), []).append((verts[chain[-2]].x, verts[chain[0]].x, i))
    ports = {}
    for (key, side), items in sides.items():
        vertex = verts[key]
        narrow = vertex.node is not None and vertex.node.shape in ("diamond", "circle")
        span = min(vertex.w * (0.45 if narrow else 0.7), PORT_GAP * (len(items) - 1))
        for j, (*_, i) in enumerate(sorted(items)):
            ports[(i, side)] = -span / 2 + (j * span / (len(items) - 1) if len(items) > 1 else 0)
    return ports


def edge_points(lay: Layout, i: int) -> list[Point]:
    """Edge ``i`` from its source to its target: where it leaves, then the top and bottom of
    each row it crosses, then where it arrives (between those: curves, then runs)."""
    chain, verts = lay.chains[i], lay.verts
    top, bottom = verts[chain[0]], verts[chain[-1]]
    dx0, dx1 = lay.ports[(i, 1)], lay.ports[(i, -1)]
    out = [(top.x + dx0, boundary(top, dx0, 1))]
    for key in chain[1:-1]:
        out += [(verts[key].x, y) for y in lay.span(key)]
    out.append((bottom.x + dx1, boundary(bottom, dx1, -1)))
    return out[::-1] if i in lay.back else out
