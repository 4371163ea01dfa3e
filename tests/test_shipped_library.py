"""The shipped library: clean, published, compiled in every region, schema up to date."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sopflow.compile.lint import LintResult, lint_library
from sopflow.language.docs_gen import diagnostics_doc
from sopflow.language.library import document_files
from sopflow.language.schema import SCHEMA_PATH, schema_text
from sopflow.language.yaml_source import parse_text
from sopflow.rehearsal.coverage import coverage
from tests.conftest import REPO, SHIPPED

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def result() -> LintResult:
    return lint_library(SHIPPED)


# Published versions never change: what later lint rules find in them stays until corrected
# versions replace them (the library review). Every other warning is a regression.
KNOWN_IN_PUBLISHED = {
    ("csea-report/v1.yaml", "W308"),
    ("csea-report/v1.yaml", "W309"),  # review F1: counsel review never consulted
    ("csea-report/v1-au.yaml", "W308"),
    ("csea-report/v1-au.yaml", "W309"),  # review F2: AU refusal unreachable
    ("csea-report/v1-uk.yaml", "W308"),
    ("csea-report/v1-uk.yaml", "W309"),  # review F2: UK counsel review unreachable
    ("emergency-disclosure/v1.yaml", "W308"),
    ("emergency-disclosure/v2.yaml", "W308"),
    ("threat-to-life/v1.yaml", "W308"),
    ("threat-to-life/v1.yaml", "W309"),  # review F7: referral check never refuses
}


def test_shipped_library_has_no_errors_or_warnings(result: LintResult) -> None:
    unknown = [
        d.format()
        for d in result.diagnostics
        if (d.path.removeprefix("sop_definitions/"), d.code) not in KNOWN_IN_PUBLISHED
    ]
    assert unknown == []
    found = {(d.path.removeprefix("sop_definitions/"), d.code) for d in result.diagnostics}
    assert found == KNOWN_IN_PUBLISHED  # a finding fixed: take it off the list


def test_four_families_in_three_regions(result: LintResult) -> None:
    families = {sop_id for sop_id, _, _ in result.plans}
    assert {"emergency-disclosure", "csea-report", "legal-process", "threat-to-life"} <= families
    for family in families:
        latest = max(v for i, v, _ in result.plans if i == family)
        assert {r for i, v, r in result.plans if (i, v) == (family, latest)} == {"US", "UK", "AU"}
    assert len({v for i, v, _ in result.plans if i == "emergency-disclosure"}) >= 2


def test_every_plan_is_published(result: LintResult) -> None:
    for (sop_id, version, region), plan in result.plans.items():
        assert result.lock.published[f"{sop_id}@{version}"][region] == plan.plan_hash


def test_every_step_type_is_used(result: LintResult) -> None:
    used: set[str] = set()

    def walk(steps: list[Any]) -> None:
        for step in steps:
            used.add(step.type)
            for branch in getattr(step, "branches", []):
                walk(getattr(branch, "steps", []))

    for plan in result.plans.values():
        walk(plan.steps)
    assert used == {
        "triage",
        "task",
        "approval",
        "decision",
        "disclosure_check",
        "notify",
        "wait",
        "parallel",
        "postmortem",
        "open_incident",
        "end",
    }


def test_each_sop_says_it_is_not_legal_advice(result: LintResult) -> None:
    for loaded in result.library.sops.values():
        assert "not legal advice" in loaded.model.description.lower(), loaded.source.path


def test_published_schema_is_current() -> None:
    published = (SHIPPED / SCHEMA_PATH).read_text(encoding="utf-8")
    assert published == schema_text(), "run `sopflow schema --write`"


def test_shipped_files_carry_the_modeline_and_match_the_schema() -> None:
    schema = json.loads((SHIPPED / SCHEMA_PATH).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for file in document_files(SHIPPED):
        first = file.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), file
        target = (file.parent / first.split("$schema=", 1)[1].strip()).resolve()
        assert target == (SHIPPED / SCHEMA_PATH).resolve(), file
        # sopflow reads YAML 1.2 (as editors do): `on:` is a key, not the boolean PyYAML makes it.
        doc, problems = parse_text(file.read_text(encoding="utf-8"), str(file))
        assert doc is not None, problems
        errors = list(validator.iter_errors(doc.data))
        assert errors == [], (file, errors[0].message if errors else None)


def test_diagnostics_doc_lists_every_code() -> None:
    doc = (REPO / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert doc == diagnostics_doc(), "run `python -m sopflow.language.docs_gen`"


def test_lint_time_paths_are_relative_to_the_library(result: LintResult) -> None:
    for loaded in result.library.sops.values():
        assert (
            not Path(loaded.source.path).is_absolute()
            or REPO not in Path(loaded.source.path).parents
        )


def test_a_branch_not_rehearsed_on_purpose_is_listed_with_its_reason(result: LintResult) -> None:
    key = ("legal-process", 2, "US")
    [entry] = coverage({key: result.plans[key]}, [])
    exempt = {(step, branch) for step, branch, _ in entry.exempt}
    assert exempt == {
        ("disclosure_error_route", "-> ndo_hold"),
        ("disclosure_error_route", "-> user_notice"),
    }
    assert not exempt & set(entry.untaken)
    assert all("moved from version 1" in why for _, _, why in entry.exempt)
    assert entry.as_json()["branches"]["not_rehearsed"] == 2  # type: ignore[index]


def test_each_current_legal_basis_is_traceable_to_the_policy_description(
    result: LintResult,
) -> None:
    """Every section, article or schedule number a current policy rule's `legal_basis` cites
    appears in the policy's description, which lists the sources (counsel checks them)."""
    retired = set(result.lock.retired)
    current = {
        policy_id
        for (sop, version, _), plan in result.plans.items()
        if f"{sop}@{version}" not in retired
        for policy_id in plan.policies
    }
    assert current
    untraced = []
    for path in sorted((SHIPPED / "policies").glob("*.yaml")):
        policy = yaml.safe_load(path.read_text(encoding="utf-8"))
        if policy["id"] not in current:
            continue
        for index, rule in enumerate(policy["rules"], start=1):
            cited = re.findall(r"\b\d+[A-Z]?(?:\.\d+)?\b", rule.get("legal_basis") or "")
            untraced += [
                f"{policy['id']} rule {index}: {number}"
                for number in cited
                if number not in policy["description"]
            ]
        assert "http" in policy["description"] or "U.S.C." in policy["description"], path
    assert untraced == []
