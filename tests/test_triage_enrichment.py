"""A triage rule reads its own step's enrichment: `enrichment.<name>`, checked by lint."""

from __future__ import annotations

import pytest

from sopflow.compile.lint import lint_library
from sopflow.contract.messages import IncidentState
from tests.conftest import WriteLib
from tests.harness import Fakes, bench, compile_text, run

pytestmark = pytest.mark.workflow

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: enriched
version: 1
title: Enriched triage
owner: tests
region: US
roles:
  lead: {description: Lead}
steps:
  - id: triage
    type: triage
    enrich: [account_history]
    rules:
      - when: has(enrichment.account_history) && enrichment.account_history.prior_reports > 1
        severity: SEV1
        labels: [repeat]
      - severity: SEV3
  - id: done
    type: end
    outcome: resolved
"""


def test_a_rule_reads_what_its_enricher_returned() -> None:
    plan = compile_text(SOP)

    async def scenario() -> None:
        history = {"account_history": {"prior_reports": 2}}
        async with bench(Fakes(enrichment=history)) as b:
            final: IncidentState = await (await b.start(plan)).result()
            assert (final.severity, final.labels) == ("SEV1", ["repeat"])
            triage = final.steps["triage"].output
            assert triage == {"severity": "SEV1", "labels": ["repeat"], "enrichment": history}
            assert any(e.kind == "triage" and e.detail == "SEV1 (rule 0)" for e in final.timeline)

    run(scenario)


def test_a_rule_falls_through_when_the_enricher_returns_nothing() -> None:
    plan = compile_text(SOP)

    async def scenario() -> None:
        async with bench(Fakes()) as b:  # the enricher knows nothing about this account
            final: IncidentState = await (await b.start(plan)).result()
            assert (final.severity, final.outcome) == ("SEV3", "resolved")
            assert final.steps["triage"].output == {
                "severity": "SEV3",
                "labels": [],
                "enrichment": {},
            }

    run(scenario)


def _lint(write_lib: WriteLib, text: str) -> list[tuple[int, int, str, str]]:
    root = write_lib({"enriched/v1.yaml": text})
    return [(d.line, d.col, d.code, d.message) for d in lint_library(root).diagnostics]


def test_lint_accepts_a_rule_reading_enrichment(write_lib: WriteLib) -> None:
    assert _lint(write_lib, SOP) == []


def test_lint_checks_the_name_against_the_steps_enrich_list(write_lib: WriteLib) -> None:
    text = SOP.replace(
        "when: has(enrichment.account_history) && enrichment.account_history.prior_reports",
        "when: enrichment.acount_history.prior_reports",
    )
    [(line, col, code, message)] = _lint(write_lib, text)
    assert (line, col, code) == (15, 26, "E404")
    assert "this step's `enrich` names (account_history), not `acount_history`" in message
    assert "did you mean `account_history`?" in message


def test_only_triage_rules_read_enrichment(write_lib: WriteLib) -> None:
    text = SOP.replace(
        "  - id: done\n",
        "  - id: tell\n"
        "    type: notify\n"
        "    channel: log\n"
        "    to: lead\n"
        "    when: enrichment.account_history.prior_reports > 0\n"
        "    message: repeat\n"
        "  - id: done\n",
    )
    [(line, col, code, message)] = _lint(write_lib, text)
    assert (line, col, code) == (23, 11, "E401")
    assert "only a triage rule's `when` reads `enrichment`" in message
    assert "steps.<triage step id>.output.enrichment" in message
