"""CEL checks: syntax positions, free names, step references, placeholders, evaluation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import cel
import pytest

from sopflow.contract.expressions import (
    Scope,
    check_expression,
    compile_expression,
    evaluate,
    placeholders,
    references,
    render_template,
)

pytestmark = pytest.mark.unit

STEPS = frozenset({"verify", "spoc-check"})


def codes(source: str) -> list[tuple[str, int]]:
    return [(p.code, p.offset) for p in check_expression(source, Scope(step_ids=STEPS))]


def test_valid_expressions_have_no_problems() -> None:
    assert codes('input.imminent && steps.verify.status == "done"') == []
    assert codes('steps["spoc-check"].output.ok') == []
    assert codes('incident.severity in ["SEV0", "SEV1"] && now > incident.opened_at') == []
    assert codes("input.items.all(i, i.size > 0) && input.items.exists(x, x == 1)") == []


def test_syntax_error_offset_points_at_the_character() -> None:
    [(code, offset)] = codes("input.a && ")
    assert code == "E400" and offset == len("input.a && ")
    [(code, offset)] = codes("input.a +* 2")
    assert code == "E400" and offset == 9


def test_unknown_variable() -> None:
    assert codes("inpt.a") == [("E401", 0)]
    # Comprehension variables are bound, not free.
    assert codes("input.xs.map(v, v * 2).size() > 0") == []


def test_hyphenated_step_id_hint() -> None:
    [problem] = check_expression("steps.spoc-check.status", Scope(step_ids=STEPS))
    assert problem.code == "E402" and 'steps["spoc-check"]' in problem.message
    [problem] = check_expression("steps.verify-x.status", Scope(step_ids=STEPS))
    assert problem.code == "E401" and 'steps["a-b"]' in problem.message


def test_unknown_step_and_member() -> None:
    assert codes("steps.verfy.status") == [("E402", 6)]
    assert codes('steps["nope"].output') == [("E402", 7)]
    assert codes("steps.verify.stauts") == [("E404", 13)]
    assert codes("incident.sevrity") == [("E404", 9)]


def test_names_in_strings_are_not_references() -> None:
    assert codes('input.note == "steps.bogus and inpt"') == []
    refs = references('"a" + input.b')
    assert [name for name, _ in refs.variables] == ["input"]


def test_placeholders_and_unclosed() -> None:
    found, unclosed = placeholders("Case {{ incident.id }} at {{input.x}} {{ open")
    assert [src for src, _ in found] == ["incident.id", "input.x"]
    assert unclosed is not None and unclosed == len("Case {{ incident.id }} at {{input.x}} ")


def test_evaluate_and_render() -> None:
    data = {"input": {"agency": "Met Police", "urgent": True}}
    assert evaluate("input.urgent && true", data) is True
    assert render_template("From {{ input.agency }}: {{ input.urgent }}", data) == (
        "From Met Police: true"
    )


@pytest.mark.parametrize(
    "source",
    [
        "input.agency",
        "input.urgent",
        "input.count",
        "input.ratio",
        "input.big",
        "input.edge",
        "input.low",
        "input.nested.deep",
        "input.none",
        "input.items",
        "input.missing",
        "input.agency.x",
        "incident.opened_at",
        "nothing.here",
        "input.true",
    ],
)
def test_a_bare_path_reads_what_cel_would_return(source: str) -> None:
    """``evaluate`` reads a plain value at a bare path without CEL: same value, same errors."""
    data = {
        "input": {
            "agency": "Met Police",
            "urgent": True,
            "count": 3,
            "ratio": 0.5,
            "big": 2**70,
            "edge": 2**63,
            "low": -(2**63),
            "nested": {"deep": "yes"},
            "none": None,
            "items": [1, 2],
        },
        "incident": {"opened_at": datetime(2026, 1, 2, tzinfo=UTC)},
    }

    def outcome(run: Callable[[], object]) -> object:
        try:
            value = run()
        except Exception as exc:
            return type(exc)
        return (type(value), value)

    try:
        program: cel.Program | None = compile_expression(source)
    except ValueError:
        program = None
    want = outcome(lambda: program.execute(data)) if program is not None else ValueError
    assert outcome(lambda: evaluate(source, data)) == want


def test_output_fields_are_checked_when_known() -> None:
    outputs: dict[str, list[str] | None] = {"verify": ["verified", "notes"], "spoc-check": None}
    problems = check_expression(
        "steps.verify.output.verfied && steps['spoc-check'].output.anything",
        Scope(step_ids=STEPS, outputs=outputs),
    )
    assert [(p.code, p.offset) for p in problems] == [("E404", 20)]
    assert "did you mean `verified`" in problems[0].message
