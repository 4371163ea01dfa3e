"""Need-to-know incidents without a server: `restricted_to` in the language (lint, variants),
in the plan (and the hashes of plans that do not use it), the `Audience` search attribute,
and the visibility clause a person's reads are narrowed by."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter

from sopflow.api.identity import Person, may_read
from sopflow.client.connection import SEARCH_ATTRIBUTES
from sopflow.client.incidents import admits, visible_query
from sopflow.client.views import summary_of
from sopflow.compile.lint import lint_library
from sopflow.contract import search
from sopflow.contract.messages import IncidentInput
from sopflow.contract.plan import PROCEDURE_PART, Plan
from tests.conftest import MINIMAL_SOP, REGIONS, SHIPPED, WriteLib
from tests.harness import compile_text

pytestmark = pytest.mark.unit

# MINIMAL_SOP with a `legal` role nobody's steps use, restricted to the two that act.
RESTRICTED = MINIMAL_SOP.replace(
    "  lead: {description: Incident lead}\n",
    "  lead: {description: Incident lead}\n"
    "  legal: {description: Counsel}\n"
    "restricted_to: [responder, lead]\n",
)
RESTRICTED_LINE = 12  # the line of `restricted_to:` in RESTRICTED

VARIANT_HEAD = """\
apiVersion: sopflow/v1
kind: Variant
id: mini
version: 1
region: UK
changes:
"""


def found(root: object) -> list[tuple[str, int, int, str]]:
    return [(d.path, d.line, d.col, d.code) for d in lint_library(root).diagnostics]  # type: ignore[arg-type]


# --- the language


def test_a_good_restricted_to_lints_clean_and_reaches_the_plan(write_lib: WriteLib) -> None:
    assert RESTRICTED.splitlines()[RESTRICTED_LINE - 1].startswith("restricted_to:")
    root = write_lib({"mini/v1.yaml": RESTRICTED, "regions.yaml": REGIONS})
    result = lint_library(root)
    assert result.diagnostics == []
    plan = result.plans[("mini", 1, "US")]
    assert plan.restricted_to == ["lead", "responder"]  # sorted: the order does not matter
    assert '"restricted_to":["lead","responder"]' in plan.canonical_json()


def test_an_unknown_role_is_e308_at_the_role_with_a_hint(write_lib: WriteLib) -> None:
    text = RESTRICTED.replace("[responder, lead]", "[responder, laed, auditor]")
    root = write_lib({"mini/v1.yaml": text})
    diags = lint_library(root).diagnostics
    assert [(d.path, d.line, d.col, d.code) for d in diags] == [
        ("lib/mini/v1.yaml", RESTRICTED_LINE, 28, "E308"),
        ("lib/mini/v1.yaml", RESTRICTED_LINE, 34, "E308"),
    ]
    assert diags[0].message == (
        "role `laed` in `restricted_to` is not declared in `roles` (did you mean `lead`?)"
    )
    assert "did you mean" not in diags[1].message


@pytest.mark.parametrize(
    ("written", "col"),
    [("restricted_to: []", 16), ("restricted_to:", 15), ("restricted_to: null", 16)],
)
def test_an_empty_restricted_to_is_e309_never_everyone(
    write_lib: WriteLib, written: str, col: int
) -> None:
    """An empty value, or `restricted_to:` with its roles commented out, is no role, never
    "absent" (which would let everyone see)."""
    text = RESTRICTED.replace("restricted_to: [responder, lead]", written)
    root = write_lib({"mini/v1.yaml": text})
    result = lint_library(root)
    assert [(d.line, d.col, d.code) for d in result.diagnostics] == [(RESTRICTED_LINE, col, "E309")]
    assert "nobody could see" in result.diagnostics[0].message
    assert result.plans == {}


def test_a_role_the_steps_need_left_out_is_w305(write_lib: WriteLib) -> None:
    text = RESTRICTED.replace("[responder, lead]", "[lead, legal]")
    root = write_lib({"mini/v1.yaml": text})
    result = lint_library(root)
    assert [(d.line, d.col, d.code) for d in result.diagnostics] == [(RESTRICTED_LINE, 16, "W305")]
    assert "leaves out `responder`" in result.diagnostics[0].message
    assert result.ok and ("mini", 1, "US") in result.plans  # a warning: it still runs


def test_a_variant_sets_restricted_to_and_is_checked_where_it_wrote_it(
    write_lib: WriteLib,
) -> None:
    changes = """\
  - add_roles: {privacy: {description: UK privacy counsel}}
  - set_restricted_to: [responder, lead, privacy]
"""
    root = write_lib(
        {
            "mini/v1.yaml": RESTRICTED,
            "mini/v1-uk.yaml": VARIANT_HEAD + changes,
            "regions.yaml": REGIONS,
        }
    )
    result = lint_library(root)
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].restricted_to == ["lead", "privacy", "responder"]
    assert result.plans[("mini", 1, "US")].restricted_to == ["lead", "responder"]

    write_lib({"mini/v1-uk.yaml": VARIANT_HEAD + changes.replace("privacy]", "privcy]")})
    diags = lint_library(root).diagnostics
    assert [(d.path, d.line, d.col, d.code) for d in diags] == [
        ("lib/mini/v1-uk.yaml", 8, 42, "E308")  # in the variant, where it wrote the role
    ]
    assert "(did you mean `privacy`?)" in diags[0].message
    # Changes apply in order: the last `set_restricted_to` wins, and is the one checked.
    write_lib({"mini/v1-uk.yaml": VARIANT_HEAD + changes + "  - set_restricted_to: []\n"})
    assert found(root) == [("lib/mini/v1-uk.yaml", 9, 24, "E309")]


def test_a_variant_can_restrict_an_unrestricted_base(write_lib: WriteLib) -> None:
    changes = "  - set_restricted_to: [lead, responder, lead]\n"
    root = write_lib(
        {
            "mini/v1.yaml": MINIMAL_SOP,
            "mini/v1-uk.yaml": VARIANT_HEAD + changes,
            "regions.yaml": REGIONS,
        }
    )
    result = lint_library(root)
    assert result.diagnostics == []
    assert result.plans[("mini", 1, "UK")].restricted_to == ["lead", "responder"]
    assert result.plans[("mini", 1, "US")].restricted_to is None
    typo = changes.replace("responder, lead]", "respnder]")
    write_lib({"mini/v1-uk.yaml": VARIANT_HEAD + typo})
    diags = lint_library(root).diagnostics
    assert [(d.path, d.line, d.col, d.code) for d in diags] == [
        ("lib/mini/v1-uk.yaml", 7, 31, "E308")
    ]
    assert "(did you mean `responder`?)" in diags[0].message


# --- the plan and its hash


def test_a_plan_without_restricted_to_keeps_its_canonical_form_and_hash() -> None:
    plan = compile_text(MINIMAL_SOP)
    assert plan.restricted_to is None
    assert "restricted_to" not in plan.canonical_json()
    assert "restricted_to" not in plan.model_dump(mode="json")
    # The same plan as a model that never heard of the field would have hashed it.
    body = plan.model_dump(mode="json", exclude={"plan_hash"})
    assert set(body) == {
        "format",
        "sop",
        "region",
        "input_schema",
        "roles",
        "defaults",
        "steps",
        "policies",
    }
    assert plan.plan_hash == plan.compute_hash()
    restricted = compile_text(RESTRICTED.replace("  legal: {description: Counsel}\n", ""))
    assert restricted.plan_hash != plan.plan_hash
    assert restricted.part_hashes()[PROCEDURE_PART] != plan.part_hashes()[PROCEDURE_PART]


# Findings of later rules in published versions (tests/test_shipped_library.py lists them).
KNOWN_WARNINGS = ("W308", "W309")


def test_the_shipped_library_still_lints_clean_against_its_lock() -> None:
    result = lint_library(SHIPPED)
    assert [d.format() for d in result.diagnostics if d.code not in KNOWN_WARNINGS] == []
    for (sop_id, version, region), plan in result.plans.items():
        assert plan.restricted_to is None
        assert result.lock.published[f"{sop_id}@{version}"][region] == plan.plan_hash


def test_the_workflow_input_carries_it_only_when_set() -> None:
    """An unrestricted plan's payload is what it was (a worker that predates the field still
    decodes it); a restricted one round-trips."""
    converter = pydantic_data_converter.payload_converter
    for plan in (compile_text(MINIMAL_SOP), compile_text(RESTRICTED)):
        inp = IncidentInput(incident_id="i", plan=plan, input={}, opened_by="a")
        payload = converter.to_payloads([inp])[0]
        assert (b"restricted_to" in payload.data) == (plan.restricted_to is not None)
        [back] = converter.from_payloads([payload], [IncidentInput])
        assert back == inp and Plan.model_validate(back.plan.model_dump()) == plan


# --- search attributes and the visibility clause


def test_audience_is_set_at_start_and_registered() -> None:
    attrs = search.start_attributes("mini", 1, "US", None)
    assert attrs.get(search.AUDIENCE) == ["*"]
    attrs = search.start_attributes("mini", 1, "US", ["responder", "lead"])
    assert attrs.get(search.AUDIENCE) == ["lead", "responder"]
    assert SEARCH_ATTRIBUTES["Audience"] == search.AUDIENCE.indexed_value_type.value
    assert set(SEARCH_ATTRIBUTES) == {k.name for k in search.ALL_KEYS}
    assert search.AUDIENCE not in search.WORKFLOW_KEYS  # the workflow never writes it
    assert search.updates({"Audience": ["x"]}, {}) == []


def test_the_visibility_clause_quotes_every_role() -> None:
    assert visible_query(["lead", "responder", "lead"]) == (
        "(Audience = '*' OR Audience IN ('lead', 'responder') OR Audience IS NULL)"
    )
    assert visible_query([]) == "(Audience = '*' OR Audience IS NULL)"
    # A role is data, never query text: quotes and backslashes are escaped.
    assert visible_query(["o'brien", "a\\b"]) == (
        "(Audience = '*' OR Audience IN ('a\\\\b', 'o\\'brien') OR Audience IS NULL)"
    )


def test_who_may_see_what() -> None:
    assert admits(None, [])  # unrestricted: everyone
    assert admits(["lead", "specialist"], ["responder", "lead"])
    assert not admits(["lead", "specialist"], ["responder", "legal"])
    assert not admits(["lead"], [])

    def summary(audience: list[str] | None) -> object:
        pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(search.SOP_ID, "mini")]
        if audience is not None:
            pairs.append(SearchAttributePair(search.AUDIENCE, audience))
        return summary_of(
            "inc-1",
            WorkflowExecutionStatus.RUNNING,
            TypedSearchAttributes(pairs),
            datetime.now(UTC),
        )

    legal = Person("rh", ("legal",), "token")
    lead = Person("do", ("lead",), "token")
    old, everyone, secret = summary(None), summary(["*"]), summary(["lead", "specialist"])
    assert [may_read(legal, s) for s in (old, everyone, secret)] == [True, True, False]  # type: ignore[arg-type]
    assert [may_read(lead, s) for s in (old, everyone, secret)] == [True, True, True]  # type: ignore[arg-type]
    assert secret.restricted_to == ("lead", "specialist")  # type: ignore[attr-defined]
    assert old.restricted_to is None and everyone.restricted_to is None  # type: ignore[attr-defined]
