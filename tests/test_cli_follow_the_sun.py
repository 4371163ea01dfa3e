"""Follow the sun on the real dev server through the CLI: the example library's drill,
started, handed to whichever desk has counsel on shift now, approved by counsel and a lead
of the incident's desk (a UK lead and a second lead refused), and listed by `sopflow
handoff` under the desk that holds it, with its business-hours due time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sopflow.language.desk_time import desk_turn
from sopflow.language.library import load_library
from tests.test_cli_incidents import (
    Stack,
    active,
    cli,
    held,
    ok,
    refused,
    serving,
    start,
    step,
    until,
)
from tests.test_cli_incidents import complete as complete_task

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "follow-the-sun"
COUNSEL = {"US": ["rhalvorsen", "kowusu"], "UK": ["ewhitfield", "okhan"]}


class ExampleStack(Stack):
    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "SOPFLOW_DEFINITIONS": str(EXAMPLE)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The dev server and a worker with the real activities, reading the example's Rota."""
    tmp = tmp_path_factory.mktemp("cli-follow-the-sun")
    stack = ExampleStack(tmp=tmp, log=tmp / "worker.jsonl")
    with serving(stack, {"SOPFLOW_DEFINITIONS": str(EXAMPLE)}) as running:
        yield running


def test_the_drill_on_the_dev_server_through_the_cli(stack: Stack) -> None:
    due = "2030-01-25T17:00:00Z"
    incident = start(
        stack, "desk-drill@1", "US", {"request_id": "LP-1", "response_due": due}, "amoreno"
    )
    view = until(stack, incident, held("counsel_check"))  # the Rota has answered
    desk = step(view, "counsel_check").get("desk")
    # Whoever holds it is the desk the Rota has counsel on shift at now (or US overnight).
    rota = load_library(EXAMPLE).rota
    assert rota is not None
    opened = next(e for e in view["timeline"] if e["kind"] == "incident.opened")["at"]
    expected = desk_turn(
        rota.model, ["legal"], every=True, holder="US", at=datetime.fromisoformat(opened)
    ).desk
    assert desk == expected
    other = "UK" if desk == "US" else "US"
    wrong = cli(
        stack,
        "task",
        "complete",
        incident,
        "counsel_check",
        "--as",
        COUNSEL[other][0],
        "--data",
        json.dumps({"valid": True}),
    )
    assert wrong.exit_code == 1 and f"works on the {other} desk" in wrong.stderr
    complete_task(stack, incident, "counsel_check", COUNSEL[desk][0], {"valid": True})

    until(stack, incident, active("approve_production"))
    approve = ("task", "approve", incident, "approve_production")
    uk_lead = cli(stack, *approve, "--as", "tbrennan", "--reason", "fine")
    refused(uk_lead, "tbrennan works on the UK desk; this is a US incident")
    ok(stack, *approve, "--as", "dokafor", "--reason", "records located")
    second_lead = cli(stack, *approve, "--as", "slee", "--reason", "agreed")
    refused(second_lead, "slee's approval fills no open place")
    counsel = "kowusu" if COUNSEL[desk][0] != "kowusu" else "rhalvorsen"
    ok(stack, *approve, "--as", counsel, "--reason", "within the warrant")

    view = until(stack, incident, held("response_letter"))  # its business-hours due time too
    letter_due = step(view, "response_letter")["due_at"]
    assert letter_due is not None
    assert datetime.fromisoformat(letter_due) > datetime.now(UTC)
    clock = [e for e in view["timeline"] if e["kind"] == "sla.clock"]
    assert clock and "business hours of the US desk" in clock[-1]["detail"]

    def listed() -> list[dict[str, object]]:
        out = json.loads(ok(stack, "handoff", "--desk", "US", "--format", "json"))
        return list(out[0]["incidents"])

    deadline = datetime.now(UTC).timestamp() + 20
    while not any(i["id"] == incident for i in listed()):  # visibility lags a little
        assert datetime.now(UTC).timestamp() < deadline, "handoff never listed the incident"
        time.sleep(0.05)
    [mine] = [i for i in listed() if i["id"] == incident]
    assert mine["waiting"] == [{"step": "response_letter", "due_at": letter_due}]
    other_desk = json.loads(ok(stack, "handoff", "--desk", "UK", "--format", "json"))
    assert incident not in [i["id"] for i in other_desk[0]["incidents"]]

    # The audit report reads the Rota's answers from the history: who held the step, and
    # when the business clock makes the letter due.
    report = json.loads(ok(stack, "audit", "report", incident, "--format", "json"))
    kinds = {item["kind"]: item for item in report["timeline"]}
    turn = kinds.get("step.handed_off") or kinds["desk.kept"]
    assert turn["step"] == "counsel_check" and "rota " in turn["detail"]
    assert kinds["sla.clock"]["step"] == "response_letter"
    assert "business hours of US" in kinds["sla.clock"]["detail"]
