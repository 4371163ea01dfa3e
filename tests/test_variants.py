"""Regional variants: each change kind, and problems attributed to the variant file."""

from __future__ import annotations

import pytest

from sopflow.compile.lint import lint_library
from sopflow.contract.plan import ApprovalPlan, TaskPlan
from tests.conftest import MINIMAL_SOP, REGIONS, WriteLib

pytestmark = pytest.mark.unit

VARIANT_HEAD = """\
apiVersion: sopflow/v1
kind: Variant
id: mini
version: 1
region: UK
changes:
"""


def lib_with(write_lib: WriteLib, changes: str) -> object:
    return write_lib(
        {
            "mini/v1.yaml": MINIMAL_SOP,
            "mini/v1-uk.yaml": VARIANT_HEAD + changes,
            "regions.yaml": REGIONS,
        }
    )


def test_each_change_kind_applies_in_order(write_lib: WriteLib) -> None:
    root = lib_with(
        write_lib,
        """\
  - set: {step: approve, sla: 20m, quorum: 1}
  - insert:
      after: verify
      steps:
        - {id: spoc-check, type: task, assignee: privacy, form: {type: object}}
  - add_roles: {privacy: {description: UK privacy counsel}}
  - remove: {step: triage}
  - insert:
      before: verify
      steps:
        - {id: triage-uk, type: triage, rules: [{severity: SEV2}]}
  - set_defaults: {sla: 45m}
""",
    )
    result = lint_library(root)  # type: ignore[arg-type]
    assert result.diagnostics == []
    plan = result.plans[("mini", 1, "UK")]
    assert [s.id for s in plan.steps] == [
        "triage-uk",
        "verify",
        "spoc-check",
        "approve",
        "done",
        "refused",
    ]
    approve = plan.steps[3]
    assert isinstance(approve, ApprovalPlan) and approve.sla_s == 1200
    spoc = plan.steps[2]
    assert isinstance(spoc, TaskPlan) and spoc.sla_s == 45 * 60 and spoc.assignee == "privacy"
    assert "privacy" in plan.roles and plan.region.timezone == "Europe/London"
    base = result.plans[("mini", 1, "US")]
    assert base.plan_hash != plan.plan_hash


def test_missing_step_in_a_change(write_lib: WriteLib) -> None:
    root = lib_with(write_lib, "  - set: {step: aprove, sla: 20m}\n")
    [diag] = lint_library(root).diagnostics  # type: ignore[arg-type]
    assert (diag.path, diag.line, diag.code) == ("lib/mini/v1-uk.yaml", 7, "E501")
    assert "did you mean `approve`" in diag.message


def test_removing_a_referenced_step_is_reported_at_the_change(write_lib: WriteLib) -> None:
    root = lib_with(write_lib, "  - remove: {step: refused}\n")
    diags = lint_library(root).diagnostics  # type: ignore[arg-type]
    assert [(d.path, d.line, d.code) for d in diags] == [("lib/mini/v1-uk.yaml", 7, "E503")]
    assert "`approve`" in diags[0].message


def test_invalid_inserted_step_is_reported_in_the_variant(write_lib: WriteLib) -> None:
    root = lib_with(
        write_lib,
        "  - insert: {after: verify, steps: [{id: x, type: task, asignee: responder}]}\n",
    )
    codes = {(d.path, d.code) for d in lint_library(root).diagnostics}  # type: ignore[arg-type]
    assert codes == {("lib/mini/v1-uk.yaml", "E202"), ("lib/mini/v1-uk.yaml", "E204")}


def test_variant_that_breaks_a_base_reference_names_itself(write_lib: WriteLib) -> None:
    root = lib_with(
        write_lib,
        "  - set: {step: verify, assignee: privacy}\n",
    )
    [diag] = lint_library(root).diagnostics  # type: ignore[arg-type]
    assert (diag.path, diag.code) == ("lib/mini/v1-uk.yaml", "E302")


def test_variant_of_a_missing_version(write_lib: WriteLib) -> None:
    root = write_lib(
        {
            "mini/v1.yaml": MINIMAL_SOP,
            "mini/v2-uk.yaml": VARIANT_HEAD.replace("version: 1", "version: 2")
            + "  - remove: {step: done}\n",
        }
    )
    [diag] = lint_library(root).diagnostics
    assert (diag.code, diag.line) == ("E500", 4)


def test_two_variants_for_one_region(write_lib: WriteLib) -> None:
    root = write_lib(
        {
            "mini/v1.yaml": MINIMAL_SOP,
            "mini/v1-uk.yaml": VARIANT_HEAD + "  - set: {step: approve, sla: 20m}\n",
            "mini/v1-uk-again.yaml": VARIANT_HEAD + "  - set: {step: approve, sla: 25m}\n",
        }
    )
    assert [d.code for d in lint_library(root).diagnostics] == ["E502"]
