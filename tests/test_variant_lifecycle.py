"""A regional variant changes an SOP's lifecycle: its `on_event` handlers (`set_on_event`)
and its duplicate detection (`set_correlation`). Both are checked as the base's are, and a
problem in what the variant wrote is reported at the variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from sopflow.compile.lint import LintResult, lint_library
from tests.conftest import MINIMAL_SOP, REGIONS, WriteLib

pytestmark = pytest.mark.unit

# MINIMAL_SOP with an input, a correlation and one event handler.
BASE = MINIMAL_SOP.replace(
    "defaults:\n",
    "input:\n"
    "  type: object\n"
    "  properties: {account_id: {type: string}, urgent: {type: boolean}}\n"
    "correlation: input.account_id\n"
    "on_event:\n"
    "  legal-process-served: {goto: verify}\n"
    "defaults:\n",
)

VARIANT_HEAD = """\
apiVersion: sopflow/v1
kind: Variant
id: mini
version: 1
region: UK
changes:
"""
UK = "lib/mini/v1-uk.yaml"

Found = list[tuple[str, int, int, str]]


def lint_with(write_lib: WriteLib, changes: str) -> tuple[LintResult, str]:
    """Lint the base and a UK variant with ``changes``; the variant's text too."""
    variant = VARIANT_HEAD + changes
    root: Path = write_lib(
        {"mini/v1.yaml": BASE, "mini/v1-uk.yaml": variant, "regions.yaml": REGIONS}
    )
    return lint_library(root), variant


def at(text: str, line: int, needle: str) -> tuple[int, int]:
    """The 1-based line and column of ``needle`` on ``line`` of ``text``."""
    return line, text.splitlines()[line - 1].index(needle) + 1


def found(result: LintResult) -> Found:
    return [(d.path, d.line, d.col, d.code) for d in result.diagnostics]


def test_the_base_lints_clean_with_its_handler_and_correlation(write_lib: WriteLib) -> None:
    result, _ = lint_with(write_lib, "  - set_defaults: {sla: 20m}\n")
    assert result.diagnostics == []
    for region in ("US", "UK"):
        plan = result.plans[("mini", 1, region)]
        assert plan.on_event == {"legal-process-served": "verify"}
        assert plan.correlation == "input.account_id"


# --- set_on_event


def test_a_variant_adds_a_handler_and_replaces_one(write_lib: WriteLib) -> None:
    changes = """\
  - set_on_event:
      police-request: {goto: approve}
  - set_on_event:
      legal-process-served: {goto: approve}
"""
    result, _ = lint_with(write_lib, changes)
    assert result.diagnostics == []
    uk = result.plans[("mini", 1, "UK")]
    assert uk.on_event == {"legal-process-served": "approve", "police-request": "approve"}
    assert result.plans[("mini", 1, "US")].on_event == {"legal-process-served": "verify"}
    assert uk.plan_hash != result.plans[("mini", 1, "US")].plan_hash


def test_a_variant_adds_a_handler_to_a_base_without_on_event(write_lib: WriteLib) -> None:
    root = write_lib(
        {
            "mini/v1.yaml": MINIMAL_SOP,
            "mini/v1-uk.yaml": VARIANT_HEAD + "  - set_on_event: {police-request: {goto: done}}\n",
            "regions.yaml": REGIONS,
        }
    )
    result = lint_library(root)
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].on_event == {"police-request": "done"}
    assert result.plans[("mini", 1, "US")].on_event is None


def test_a_variant_handler_makes_its_step_reachable(write_lib: WriteLib) -> None:
    """A step inserted after an end step is reached only by the variant's handler: no W300."""
    changes = """\
  - insert:
      after: done
      steps:
        - {id: police, type: task, assignee: lead}
        - {id: police_done, type: end, outcome: resolved}
  - set_on_event: {police-request: {goto: police}}
"""
    result, _ = lint_with(write_lib, changes)
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].on_event == {
        "legal-process-served": "verify",
        "police-request": "police",
    }
    without, _ = lint_with(write_lib, changes.rsplit("  - set_on_event", 1)[0])
    assert [d.code for d in without.diagnostics] == ["W300", "W300"]  # police, police_done


def test_null_removes_a_handler_and_the_last_one_leaves_no_on_event(
    write_lib: WriteLib,
) -> None:
    changes = """\
  - set_on_event:
      police-request: {goto: approve}
  - set_on_event:
      legal-process-served: null
"""
    result, _ = lint_with(write_lib, changes)
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].on_event == {"police-request": "approve"}

    result, _ = lint_with(write_lib, "  - set_on_event: {legal-process-served: null}\n")
    assert result.diagnostics == []
    uk = result.plans[("mini", 1, "UK")]
    assert uk.on_event is None
    # Exactly the plan of a base that never had a handler (no `"on_event":{}`).
    assert "on_event" not in uk.canonical_json()


def test_a_bad_goto_in_the_variant_is_e301_at_the_variant(write_lib: WriteLib) -> None:
    changes = """\
  - set_on_event:
      police-request: {goto: aprove}
"""
    result, variant = lint_with(write_lib, changes)
    assert found(result) == [(UK, *at(variant, 8, "aprove"), "E301")]
    message = result.diagnostics[0].message
    assert message == (
        "`on_event.police-request.goto` names no step `aprove` (did you mean `approve`?)"
    )
    assert ("mini", 1, "UK") not in result.plans
    assert ("mini", 1, "US") in result.plans  # the base is fine


def test_the_last_change_for_an_event_is_the_one_checked(write_lib: WriteLib) -> None:
    """Changes apply in order: a bad target that a later change replaces is no problem, and a
    bad target written after a removal is reported where it was written."""
    fixed = """\
  - set_on_event: {police-request: {goto: nowhere}}
  - set_on_event: {police-request: {goto: approve}}
"""
    assert lint_with(write_lib, fixed)[0].diagnostics == []
    broken = """\
  - set_on_event: {legal-process-served: null}
  - set_on_event: {legal-process-served: {goto: nowhere}}
"""
    result, variant = lint_with(write_lib, broken)
    assert found(result) == [(UK, *at(variant, 8, "nowhere"), "E301")]


def test_a_goto_into_a_parallel_branch_is_e301_at_the_variant(write_lib: WriteLib) -> None:
    changes = """\
  - insert:
      after: verify
      steps:
        - id: both
          type: parallel
          branches:
            - steps: [{id: check_a, type: task, assignee: responder}]
            - steps: [{id: check_b, type: task, assignee: lead}]
  - set_on_event: {police-request: {goto: check_a}}
"""
    result, variant = lint_with(write_lib, changes)
    assert found(result) == [(UK, *at(variant, 15, "check_a}"), "E301")]
    assert "inside a parallel step" in result.diagnostics[0].message


def test_removing_a_handler_the_sop_does_not_have_is_e505(write_lib: WriteLib) -> None:
    changes = """\
  - set_on_event:
      legal-proces-served: null
"""
    result, variant = lint_with(write_lib, changes)
    assert found(result) == [(UK, *at(variant, 8, "legal-proces-served"), "E505")]
    assert result.diagnostics[0].message == (
        "no `on_event` handler for `legal-proces-served` in mini@1 to remove "
        "(did you mean `legal-process-served`?)"
    )


def test_a_malformed_handler_is_reported_where_the_variant_wrote_it(
    write_lib: WriteLib,
) -> None:
    changes = """\
  - set_on_event:
      police-request: {got: approve}
"""
    result, _ = lint_with(write_lib, changes)
    assert [(d.path, d.line, d.code) for d in result.diagnostics] == [
        (UK, 8, "E204"),
        (UK, 8, "E202"),
    ]
    assert "missing required field `goto`" in result.diagnostics[0].message
    assert "unknown field `got`" in result.diagnostics[1].message
    result, _ = lint_with(write_lib, "  - set_on_event: {}\n")
    assert [(d.path, d.code) for d in result.diagnostics] == [(UK, "E205")]
    result, _ = lint_with(write_lib, "  - set_on_evnt: {police-request: {goto: done}}\n")
    assert [d.code for d in result.diagnostics] == ["E205"]
    assert "(did you mean `set_on_event`?)" in result.diagnostics[0].message


def test_removing_a_step_a_handler_goes_to_is_e503(write_lib: WriteLib) -> None:
    result, variant = lint_with(write_lib, "  - remove: {step: verify}\n")
    assert found(result) == [(UK, *at(variant, 7, "verify"), "E503")]
    assert result.diagnostics[0].message == (
        "removing `verify` leaves `on_event.legal-process-served` referring to it"
    )
    # Pointing the handler elsewhere first lets the step go.
    changes = """\
  - set_on_event: {legal-process-served: {goto: approve}}
  - remove: {step: verify}
"""
    result, _ = lint_with(write_lib, changes)
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].on_event == {"legal-process-served": "approve"}


# --- set_correlation


def test_set_correlation_replaces_the_base_s(write_lib: WriteLib) -> None:
    result, _ = lint_with(write_lib, "  - set_correlation: string(input.urgent)\n")
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].correlation == "string(input.urgent)"
    assert result.plans[("mini", 1, "US")].correlation == "input.account_id"


def test_set_correlation_null_turns_duplicate_detection_off(write_lib: WriteLib) -> None:
    for changes in ("  - set_correlation: null\n", "  - set_correlation:\n"):
        result, _ = lint_with(write_lib, changes)
        assert result.diagnostics == []
        uk = result.plans[("mini", 1, "UK")]
        assert uk.correlation is None
        assert "correlation" not in uk.canonical_json()
        assert result.plans[("mini", 1, "US")].correlation == "input.account_id"


def test_a_variant_adds_a_correlation_to_a_base_without_one(write_lib: WriteLib) -> None:
    root = write_lib(
        {
            "mini/v1.yaml": MINIMAL_SOP,
            "mini/v1-uk.yaml": VARIANT_HEAD + "  - set_correlation: input.urgent\n",
            "regions.yaml": REGIONS,
        }
    )
    result = lint_library(root)
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].correlation == "input.urgent"
    assert result.plans[("mini", 1, "US")].correlation is None


@pytest.mark.parametrize(
    ("expr", "needle", "code"),
    [
        ("steps.verify.output.ok", "steps", "E401"),  # it reads the input alone
        ("input.acount_id", "acount_id", "E404"),  # no such input property
        ("input.account_id ==", "input", "E400"),  # not CEL
    ],
)
def test_the_variant_s_correlation_is_checked_at_the_variant(
    write_lib: WriteLib, expr: str, needle: str, code: str
) -> None:
    result, variant = lint_with(write_lib, f"  - set_correlation: {expr}\n")
    assert [(d.path, d.line, d.code) for d in result.diagnostics] == [(UK, 7, code)]
    if code != "E400":  # a syntax error's column is where the parser gave up
        assert result.diagnostics[0].col == at(variant, 7, needle)[1]
    assert ("mini", 1, "UK") not in result.plans
