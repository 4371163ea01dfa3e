"""Compiling: defaults filled, durations in seconds, policies embedded, stable hashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sopflow.compile.lint import lint_library
from sopflow.contract.plan import ApprovalPlan, DisclosureCheckPlan, Plan, TaskPlan, TriagePlan
from tests.conftest import MINIMAL_SOP, REGIONS, WriteLib

pytestmark = pytest.mark.e2e

POLICY = """\
apiVersion: sopflow/v1
kind: DisclosurePolicy
id: us-test
jurisdiction: US
rules:
  - when: request.emergency
    decision: needs_approval
    legal_basis: 18 U.S.C. 2702(b)(8)
    allow: [basic_subscriber_info]
  - decision: denied
    reason: No emergency basis
"""


def compiled(write_lib: WriteLib) -> Plan:
    text = MINIMAL_SOP.replace(
        "  - id: approve\n",
        "  - id: check\n    type: disclosure_check\n    policy: us-test\n"
        "    request: {emergency: input.urgent}\n    on: {denied: refused}\n  - id: approve\n",
    )
    root = write_lib(
        {"mini/v1.yaml": text, "policies/us-test.yaml": POLICY, "regions.yaml": REGIONS}
    )
    result = lint_library(root)
    assert result.diagnostics == []
    return result.plans[("mini", 1, "US")]


def test_defaults_are_filled_and_durations_are_seconds(write_lib: WriteLib) -> None:
    plan = compiled(write_lib)
    by_id = {s.id: s for s in plan.steps}
    verify, approve = by_id["verify"], by_id["approve"]
    assert isinstance(verify, TaskPlan) and verify.sla_s == 1800
    assert verify.on_timeout.action == "escalate" and verify.escalate == ["lead"]
    assert verify.next == "check"
    assert isinstance(approve, ApprovalPlan)
    assert (approve.quorum, approve.distinct, approve.four_eyes) == (1, True, True)
    assert approve.on == {"rejected": "refused"} and approve.next == "done"
    assert plan.defaults.retry.max_attempts == 5 and plan.defaults.retry.initial_interval_s == 1
    triage = by_id["triage"]
    assert isinstance(triage, TriagePlan) and triage.rules[-1].when is None
    assert by_id["refused"].next is None  # the last step ends the incident


def test_policies_used_are_embedded(write_lib: WriteLib) -> None:
    plan = compiled(write_lib)
    check = next(s for s in plan.steps if isinstance(s, DisclosureCheckPlan))
    assert check.policy == "us-test"
    assert plan.policies["us-test"].rules[0].legal_basis == "18 U.S.C. 2702(b)(8)"


def test_hash_covers_the_plan(write_lib: WriteLib) -> None:
    plan = compiled(write_lib)
    assert plan.plan_hash == plan.compute_hash() and len(plan.plan_hash) == 64
    changed = plan.model_copy(update={"roles": {**plan.roles, "x": "y"}})
    assert changed.compute_hash() != plan.plan_hash


def test_hash_is_stable_across_processes(write_lib: WriteLib, tmp_path: Path) -> None:
    compiled(write_lib)
    hashes = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "sopflow.cli.app",
                "compile",
                "mini",
                "-d",
                str(tmp_path / "lib"),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        hashes.add(json.loads(out.stdout)["plan_hash"])
    assert len(hashes) == 1
