"""`sopflow postmortem` through the HTTP API and directly (the stack of tests/test_api_e2e.py,
the modes of tests/test_cli_api_mode.py): a review whose open action item keeps it open
until it is closed, then done; refusals print `refused: <reason>` and exit 1."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.test_api_e2e import Stack, stack
from tests.test_cli_api_mode import Modes, cli, failed, modes, ok

pytestmark = pytest.mark.e2e

__all__ = ["modes", "stack"]  # the fixtures, used below


def review(env: dict[str, str | None], incident: str) -> dict[str, Any]:
    """The review as `postmortem show --json` prints it, once it exists."""
    stop = time.monotonic() + 30
    while True:
        result = cli(env, "postmortem", "show", incident, "--json")
        if result.exit_code == 0:
            body: dict[str, Any] = json.loads(result.stdout)
            return body
        assert "has no post-mortem review" in result.stderr, result.stderr
        if time.monotonic() > stop:
            raise AssertionError(f"no review for {incident}")
        time.sleep(0.05)


def test_a_review_through_the_cli(modes: Modes, stack: Stack) -> None:
    incident = stack.start("dokafor", sop="api-reviewed", input={})
    stack.until(incident, lambda v: any(s["status"] == "active" for s in v["steps"]))
    lead = modes.with_token("dokafor")
    responder = modes.with_token("amoreno")
    ok(responder, "task", "complete", incident, "respond", "--data", "{}")
    body = review(lead, incident)
    assert body["owner"] == "lead" and body["status"] == "open"
    assert review(modes.direct, incident) == body  # direct mode reads the same review

    added = ok(
        lead,
        "postmortem",
        "item",
        "add",
        incident,
        "--title",
        "Page at once",
        "--owner",
        "amoreno",
        "--due",
        "3d",
    )
    assert "A1 added" in added
    failed(cli(responder, "postmortem", "done", incident), "refused: only the review's owner")
    failed(cli(lead, "postmortem", "done", incident), "refused: 1 action item(s) still open: A1")
    failed(
        cli(
            lead,
            "postmortem",
            "item",
            "add",
            incident,
            "--title",
            "x",
            "--owner",
            "lead",
            "--due",
            "soon",
        ),
        "neither a duration",
        code=2,
    )
    ok(
        lead,
        "postmortem",
        "root-cause",
        incident,
        "--factor",
        "late-signal",
        "--factor",
        "no-runbook",
        "--step",
        "respond",
        "--changes",
        "A runbook for the desk.",
    )
    ok(responder, "postmortem", "item", "close", incident, "A1", "--note", "paging rule changed")
    ok(lead, "postmortem", "done", incident, "--note", "reviewed")
    final = review(lead, incident)
    assert final["status"] == "closed" and final["closed_by"] == "dokafor"
    assert final["root_cause"]["factors"] == ["late-signal", "no-runbook"]
    shown = ok(lead, "postmortem", "show", incident)
    assert "status closed" in shown and "late-signal, no-runbook (step respond)" in shown
    failed(cli(lead, "postmortem", "show", "inc-nope"), "no incident 'inc-nope'")
    # The operator's repeat-cause count reads every review (visibility may lag a moment).
    stop = time.monotonic() + 30
    while True:
        counted = json.loads(ok(modes.direct, "postmortem", "causes", "--json"))
        named = {(c["kind"], c["cause"]) for c in counted["counts"]}
        if ("factor", "late-signal") in named or time.monotonic() > stop:
            break
        time.sleep(0.1)
    assert {("factor", "late-signal"), ("step", "api-reviewed/respond")} <= named
