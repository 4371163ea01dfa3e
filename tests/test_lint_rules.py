"""Semantic rules on small libraries: each rule reports at the right place, and valid
procedures stay clean."""

from __future__ import annotations

from pathlib import Path

from sopflow.compile.lint import lint_library
from tests.conftest import MINIMAL_SOP, REGIONS, WriteLib


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
