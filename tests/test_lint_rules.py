"""Semantic rules on small libraries: each rule reports at the right place, and valid
procedures stay clean."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sopflow.compile.lint import lint_library
from tests.conftest import MINIMAL_SOP, REGIONS, WriteLib

pytestmark = pytest.mark.unit


def found(root: Path) -> list[tuple[str, int, int, str]]:
    return [(d.path, d.line, d.col, d.code) for d in lint_library(root).diagnostics]


def test_minimal_sop_is_clean(write_lib: WriteLib) -> None:
    root = write_lib({"mini/v1.yaml": MINIMAL_SOP, "regions.yaml": REGIONS})
    result = lint_library(root)
    assert result.diagnostics == []
    assert set(result.plans) == {("mini", 1, "US")}


def test_every_problem_is_reported_at_once(write_lib: WriteLib) -> None:
    text = (
        MINIMAL_SOP.replace("assignee: responder", "assignee: respnder")
        .replace("on: {rejected: refused}", "on: {rejected: refusd}")
        .replace("when: input.urgent", "when: inptu.urgent")
    )
    root = write_lib({"mini/v1.yaml": text})
    assert found(root) == [
        ("lib/mini/v1.yaml", 17, 15, "E401"),
        ("lib/mini/v1.yaml", 22, 15, "E302"),
        ("lib/mini/v1.yaml", 31, 20, "E301"),
    ]


def test_unmapped_rejection_fails_closed(write_lib: WriteLib) -> None:
    root = write_lib({"mini/v1.yaml": MINIMAL_SOP.replace("    on: {rejected: refused}\n", "")})
    diags = lint_library(root).diagnostics
    assert [(d.code, d.line) for d in diags if d.code != "W300"] == [("E306", 28)]


def test_missing_sla_without_default(write_lib: WriteLib) -> None:
    root = write_lib({"mini/v1.yaml": MINIMAL_SOP.replace("defaults:\n  sla: 30m\n", "")})
    assert [(c, line) for _, line, _, c in found(root)] == [("E303", 18), ("E303", 26)]


def test_jump_into_a_parallel_branch_is_refused(write_lib: WriteLib) -> None:
    text = MINIMAL_SOP.replace(
        "  - id: done\n",
        "  - id: fan\n    type: parallel\n    branches:\n"
        "      - steps:\n          - {id: a, type: notify, channel: log, to: lead, message: hi}\n"
        "      - steps:\n          - {id: b, type: notify, channel: log, to: lead, message: hi,"
        " next: done}\n"
        "  - id: done\n",
    )
    root = write_lib({"mini/v1.yaml": text})
    assert [c for *_, c in found(root)] == ["E301"]


def test_unreachable_step_is_a_warning(write_lib: WriteLib) -> None:
    text = MINIMAL_SOP.replace(
        "    on: {rejected: refused}\n", "    on: {rejected: refused}\n    next: end\n"
    )
    root = write_lib({"mini/v1.yaml": text})
    result = lint_library(root)
    assert [(d.code, d.line) for d in result.diagnostics] == [("W300", 33)]
    assert result.ok  # warnings do not fail lint


def test_quorum_checked_against_the_roster(write_lib: WriteLib) -> None:
    roster = """\
    apiVersion: sopflow/v1
    kind: Roster
    people:
      ann: {name: Ann, region: US, roles: [lead, responder]}
      bo: {name: Bo, region: US, roles: [lead]}
    """
    text = MINIMAL_SOP.replace("approvers: [lead]", "approvers: [lead]\n    quorum: 2")
    root = write_lib({"mini/v1.yaml": text, "roster.yaml": roster})
    # Two leads, but with four eyes the one who opened the incident cannot vote.
    assert [c for *_, c in found(root)] == ["E304"]
    text = text.replace("quorum: 2", "quorum: 2\n    four_eyes: false")
    root = write_lib({"mini/v1.yaml": text, "roster.yaml": roster})
    assert found(root) == []


def test_policy_needs_default_rule_and_legal_basis(write_lib: WriteLib) -> None:
    policy = """\
    apiVersion: sopflow/v1
    kind: DisclosurePolicy
    id: p1
    jurisdiction: US
    rules:
      - when: request.emergency
        decision: allowed
        allow: [basic_subscriber_info]
      - when: request.other
        decision: denied
        reason: none
    """
    root = write_lib({"policies/p1.yaml": policy})
    assert [(line, c) for _, line, _, c in found(root)] == [(6, "E205")]
    root = write_lib(
        {
            "policies/p1.yaml": policy.replace(
                "decision: allowed", "decision: allowed\n        legal_basis: x"
            )
        }
    )
    assert [(line, c) for _, line, _, c in found(root)] == [(10, "E307")]


def test_unknown_policy_and_unmapped_denial(write_lib: WriteLib) -> None:
    text = MINIMAL_SOP.replace(
        "  - id: approve\n",
        "  - id: check\n    type: disclosure_check\n    policy: nope\n"
        "    request: {emergency: input.urgent}\n  - id: approve\n",
    )
    root = write_lib({"mini/v1.yaml": text})
    assert sorted(c for *_, c in found(root)) == ["E305", "E306"]


def test_a_form_problem_is_judged_by_its_kind_not_its_wording(write_lib: WriteLib) -> None:
    # A bad value whose text reads like another problem's message ("... in a task form") is
    # still an invalid schema, reported at the value, not at its keyword.
    value = '"not supported in a task form"'
    text = MINIMAL_SOP.replace(
        "properties: {ok: {type: boolean}}", f"properties: {{ok: {{type: {value}}}}}"
    )
    root = write_lib({"mini/v1.yaml": text})
    [diag] = lint_library(root).diagnostics
    line = next(i for i, row in enumerate(text.splitlines(), 1) if value in row)
    col = text.splitlines()[line - 1].index(value) + 1
    assert (diag.code, diag.line, diag.col) == ("E207", line, col)
    assert diag.message.startswith("not a valid JSON Schema: ")


def _publish(root: Path) -> None:
    """What `sopflow publish` records: every plan's hash and its parts' hashes."""
    result = lint_library(root)
    lock = result.lock
    for (sop_id, version, region), plan in result.plans.items():
        lock.published.setdefault(f"{sop_id}@{version}", {})[region] = plan.plan_hash
        lock.parts.setdefault(f"{sop_id}@{version}", {})[region] = plan.part_hashes()
    lock.path.write_text(lock.render(), encoding="utf-8")


def test_a_changed_published_plan_names_the_part_and_the_fix(write_lib: WriteLib) -> None:
    policy = """\
    apiVersion: sopflow/v1
    kind: DisclosurePolicy
    id: p1
    jurisdiction: US
    rules:
      - when: request.emergency
        decision: allowed
        legal_basis: x
        allow: [basic_subscriber_info]
      - decision: denied
        reason: none
    """
    sop = MINIMAL_SOP.replace(
        "  - id: approve\n",
        "  - id: check\n    type: disclosure_check\n    policy: p1\n"
        "    request: {emergency: input.urgent}\n    on: {denied: refused}\n  - id: approve\n",
    )
    files = {"mini/v1.yaml": sop, "regions.yaml": REGIONS, "policies/p1.yaml": policy}
    root = write_lib(files)
    _publish(root)
    assert lint_library(root).diagnostics == []

    (root / "regions.yaml").write_text(REGIONS.replace("team: us-desk", "team: us-desk-2"))
    [diag] = lint_library(root).diagnostics
    assert diag.code == "E600"
    assert ": the region's settings in the Regions document changed;" in diag.message
    assert diag.message.endswith("a new desk gets a new region code")

    (root / "regions.yaml").write_text(REGIONS)
    (root / "policies/p1.yaml").write_text(
        textwrap.dedent(policy).replace("legal_basis: x", "legal_basis: y")
    )
    [diag] = lint_library(root).diagnostics
    assert ": disclosure policy p1 changed;" in diag.message
    assert "revert the policy edit; put the new rules under a new policy id" in diag.message
