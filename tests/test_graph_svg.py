"""The SVG drawing of a plan: well-formed, complete, readable (no box on another), escaped,
deterministic; and `sopflow graph --format svg`."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.compile.graph import build
from sopflow.compile.graph_svg import STATES, to_svg
from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.plan import Plan
from tests.conftest import MINIMAL_SOP, REGIONS, SHIPPED, WriteLib

pytestmark = pytest.mark.unit

SVG = "{http://www.w3.org/2000/svg}"
Box = tuple[float, float, float, float]


@pytest.fixture(scope="module")
def shipped() -> LintResult:
    return lint_library(SHIPPED)


def plans(result: LintResult) -> list[tuple[str, Plan]]:
    return [(f"{s}@{v}-{r}", plan) for (s, v, r), plan in sorted(result.plans.items())]


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - sopflow's own output: what is tested


def nodes_of(root: ET.Element) -> dict[str, ET.Element]:
    groups = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    ids = [g.get("data-id", "") for g in groups]
    assert len(ids) == len(set(ids)), ids
    return dict(zip(ids, groups, strict=True))


def box(group: ET.Element) -> Box:
    """The node's outline in the drawing's coordinates."""
    found = re.fullmatch(r"translate\(([-\d.]+) ([-\d.]+)\)", group.get("transform", ""))
    assert found, group.get("transform")
    cx, cy = float(found[1]), float(found[2])
    shape = next(e for e in group if e.get("class") == "shape")
    match shape.tag.removeprefix(SVG):
        case "rect":
            x, y = float(shape.get("x", 0)), float(shape.get("y", 0))
            w, h = float(shape.get("width", 0)), float(shape.get("height", 0))
        case "ellipse":
            w, h = 2 * float(shape.get("rx", 0)), 2 * float(shape.get("ry", 0))
            x, y = -w / 2, -h / 2
        case "polygon":
            points = [tuple(map(float, p.split(","))) for p in shape.get("points", "").split()]
            x, y = min(p[0] for p in points), min(p[1] for p in points)
            w, h = max(p[0] for p in points) - x, max(p[1] for p in points) - y
        case other:
            raise AssertionError(other)
    return cx + x, cy + y, cx + x + w, cy + y + h


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_every_shipped_plan_draws_completely(shipped: LintResult) -> None:
    assert len(shipped.plans) >= 10
    for name, plan in plans(shipped):
        text = to_svg(plan)
        root = parse(text)
        assert root.get("role") == "img", name
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert title is not None and desc is not None and desc.text
        assert f"{plan.sop.id}@{plan.sop.version} ({plan.region.code})" in (title.text or "")
        assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        groups = nodes_of(root)
        graph_nodes, graph_edges = build(plan)
        assert set(groups) == {n.id for n in graph_nodes}, name
        steps = plan.steps_by_id()
        for step_id, step in steps.items():
            assert groups[step_id].get("data-kind") == step.type
            assert groups[step_id].find(f"{SVG}title") is not None
            assert re.search(rf"\b{re.escape(step_id)}, {step.type}:", desc.text), step_id
        drawn = [g for g in root.iter(f"{SVG}g") if "edge" in g.get("class", "").split()]
        assert len(drawn) == len(graph_edges), name
        for edge in drawn:
            assert edge.get("data-src") in groups and edge.get("data-dst") in groups
        dashed = [e for e in drawn if "dashed" in e.get("class", "")]
        assert len(dashed) == sum(e.dashed for e in graph_edges)
        boxes = {k: box(g) for k, g in groups.items()}
        for a in boxes:
            for b in boxes:
                assert a == b or not overlap(boxes[a], boxes[b]), (name, a, b)


def test_the_same_plan_gives_the_same_bytes(shipped: LintResult) -> None:
    for _, plan in plans(shipped):
        assert to_svg(plan) == to_svg(plan)
        assert to_svg(plan.model_copy(deep=True)) == to_svg(plan)


def test_states_become_classes_and_the_style_is_optional(shipped: LintResult) -> None:
    plan = shipped.plans[("threat-to-life", 1, "US")]
    states = {"triage": "done", "assess": "active", "page_commander": "skipped"}
    states |= {"refer": "failed", "route": "pending", "not_a_step": "done"}
    root = parse(to_svg(plan, states=states))
    groups = nodes_of(root)
    for step_id, state in states.items():
        if step_id in groups:
            assert groups[step_id].get("class") == f"node step-{state}"
    assert groups["contain"].get("class") == "node"
    style = root.find(f"{SVG}style")
    assert style is not None and all(f".step-{s}" in (style.text or "") for s in STATES)
    bare = to_svg(plan, states=states, embed_style=False)
    assert "<style" not in bare and 'class="node step-done"' in bare
    # Without the style the look is still there: presentation attributes.
    shape = next(e for e in nodes_of(parse(bare))["assess"] if e.get("class") == "shape")
    assert shape.get("fill") and shape.get("stroke")
    with pytest.raises(ValueError, match="unknown step states"):
        to_svg(plan, states={"triage": "finished"})


def loop_plan(write_lib: WriteLib, title: str) -> Plan:
    sop = MINIMAL_SOP.replace("title: Minimal procedure", f"title: {title!r}")
    sop = sop.replace("    on: {rejected: refused}\n", "    on: {rejected: verify}\n")
    result = lint_library(write_lib({"mini/v1.yaml": sop, "regions.yaml": REGIONS}))
    return result.plans[("mini", 1, "US")]


def test_text_from_the_sop_is_never_markup(write_lib: WriteLib) -> None:
    plan = loop_plan(write_lib, "Drill <script>alert(1)</script> & <b>co</b>")
    text = to_svg(plan)
    assert "<script" not in text and "<b>" not in text
    assert "Drill &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;co&lt;/b&gt;" in text
    root = parse(text)
    assert not list(root.iter(f"{SVG}script"))
    title = root.find(f"{SVG}title")
    assert title is not None and "<script>alert(1)</script> & <b>co</b>" in (title.text or "")


def test_a_loop_goes_back_up(write_lib: WriteLib) -> None:
    root = parse(to_svg(loop_plan(write_lib, "Loop")))
    groups = nodes_of(root)
    [back] = [g for g in root.iter(f"{SVG}g") if "loop" in g.get("class", "").split()]
    assert (back.get("data-src"), back.get("data-dst")) == ("approve", "verify")
    assert box(groups["verify"])[3] < box(groups["approve"])[1]  # verify is drawn above
    path = back.find(f"{SVG}path")
    assert path is not None
    ys = [float(y) for y in re.findall(r"[-\d.]+,([-\d.]+)", path.get("d", ""))]
    assert ys[0] > ys[-1]  # it starts low, at approve, and ends high, at verify


def test_the_cli_draws_svg(write_lib: WriteLib) -> None:
    lib = write_lib({"mini/v1.yaml": MINIMAL_SOP, "regions.yaml": REGIONS})
    result = CliRunner().invoke(app, ["graph", "mini", "-d", str(lib), "--format", "svg"])
    assert result.exit_code == 0, result.stderr
    root = parse(result.stdout)
    assert root.tag == f"{SVG}svg" and {"triage", "verify", "approve"} <= set(nodes_of(root))
