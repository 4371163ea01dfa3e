"""W309: a disclosure check's `needs_approval` or `denied` branch that its policy can never
take (the review's findings F1 and F2 on the shipped csea-report@1 are of this kind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sopflow.compile.lint import lint_library
from sopflow.language.checks.policy_outcomes import _never

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).resolve().parent.parent / "sop_definitions"


def test_an_outcome_no_rule_decides_is_dead() -> None:
    rules = [("request.emergency", "allowed"), (None, "denied")]
    assert (
        _never("p", rules, "needs_approval")
        == "policy `p` has no rule that decides `needs_approval`"
    )
    assert _never("p", rules, "denied") is None


def test_a_rule_without_when_decides_before_the_later_ones() -> None:
    rules = [("request.a", "allowed"), (None, "needs_approval"), ("request.b", "denied")]
    why = _never("p", rules, "denied")
    assert why == (
        "policy `p` rule 2 has no `when`: it decides `needs_approval` before any rule that "
        "decides `denied`"
    )


def test_the_review_findings_are_caught_on_the_published_csea_versions() -> None:
    result = lint_library(SHIPPED)
    found = {
        (d.path.rsplit("/", 1)[-1], d.message.split(":")[0])
        for d in result.diagnostics
        if d.code == "W309"
    }
    assert found == {
        ("v1.yaml", "`on.needs_approval` can never be taken"),  # F1, US counsel_review
        ("v1-uk.yaml", "`on.needs_approval` can never be taken"),  # F2, UK nca_counsel
    }
