"""``sopflow audit replay``: today's interpreter against recorded histories (the checked-in
real histories, an export of the three-run continue-as-new incident, and runs listed by a
visibility query on the real dev server), and a deliberate interpreter change that must be
reported as non-determinism at the event where it shows."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sopflow.audit.replay as replay_module
from sopflow.audit.envelope import dump_envelope
from sopflow.audit.export import envelope_from_runs
from sopflow.audit.history_io import load_file, order_runs
from sopflow.audit.payloads import Decoder
from sopflow.audit.replay import describe_failure
from sopflow.cli import audit as audit_cli
from sopflow.cli.app import app
from sopflow.contract.messages import Actor, CompleteTask, IncidentState
from tests.conftest import UNSIGNED_HISTORIES
from tests.harness import bench, compile_text, run
from tests.test_replay import UnpatchedChange

# Most of these replay files in process; one lists runs through the real dev server's
# visibility, which makes the module end to end.
pytestmark = pytest.mark.e2e

HISTORIES = UNSIGNED_HISTORIES
FILES = sorted(HISTORIES.glob("*.json"))
CAN = sorted(HISTORIES.glob("legal-process-v1-US-continue-as-new-run*.json"))
runner = CliRunner()


def replay(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["audit", "replay", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_every_checked_in_history_replays_one_line_each_and_no_bar_when_piped() -> None:
    code, out, err = replay(*map(str, FILES))
    assert code == 0, out + err
    lines = out.splitlines()
    # 15 histories is "many", but standard output is not a terminal: plain lines only.
    assert len(lines) == len(FILES) >= audit_cli.PROGRESS_MIN
    assert all(line.startswith("ok    ") for line in lines)
    assert [line.split()[1] for line in lines] == [str(f) for f in FILES]
    assert f"replayed {len(FILES)} histories: {len(FILES)} ok, 0 failed" in err


def test_an_export_replays_each_of_its_runs(tmp_path: Path) -> None:
    runs = order_runs([load_file(f).runs[0] for f in CAN], "can")
    path = tmp_path / "can.json"
    path.write_text(dump_envelope(asyncio.run(envelope_from_runs(runs, Decoder()))))
    code, out, _ = replay(str(path), str(FILES[0]))
    assert code == 0
    assert out.splitlines() == [
        f"ok    {path} run 1/3 (39 events)",
        f"ok    {path} run 2/3 (35 events)",
        f"ok    {path} run 3/3 (14 events)",
        f"ok    {FILES[0]} ({len(load_file(FILES[0]).runs[0].events)} events)",
    ]


def test_an_interpreter_change_is_reported_with_the_event_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The change of tests/test_replay.py: an extra notification before each task's timer.
    monkeypatch.setattr(replay_module, "IncidentWorkflow", UnpatchedChange)
    sample = HISTORIES / "emergency-disclosure-v2-US.json"
    code, out, err = replay(str(sample), "/no/such/history.json")
    assert code == 1
    first, second = out.splitlines()
    assert first.startswith(f"FAIL  {sample}: non-determinism at event 5 ")
    assert "(UpsertWorkflowSearchAttributes)" in first and "[TMPRL1100]" in first
    assert second == "FAIL  /no/such/history.json: no such file"
    assert "2 failed" in err and "Traceback" not in out + err


def test_failure_messages_are_unwrapped_to_core_s_message() -> None:
    wrapped = (
        "Workflow activation completion failed: Failure { failure: Some(Failure { message: "
        '"[TMPRL1100] Nondeterminism error: Timer machine does not handle this event: '
        'HistoryEvent(id: 12, ActivityTaskScheduled)", source: "" }) }'
    )
    message, event_id, event_type = describe_failure(RuntimeError(wrapped))
    assert message.startswith("[TMPRL1100] Nondeterminism error: Timer machine")
    assert (event_id, event_type) == (12, "ActivityTaskScheduled")
    assert describe_failure(RuntimeError("boom at event 7"))[1:] == (7, None)
    assert describe_failure(RuntimeError("no position"))[1:] == (None, None)


def test_the_bar_appears_only_for_many_histories_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert audit_cli._Lines(audit_cli.PROGRESS_MIN).progress is not None
    assert audit_cli._Lines(audit_cli.PROGRESS_MIN - 1).progress is None
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert audit_cli._Lines(1000).progress is None


def test_usage_errors_exit_2() -> None:
    assert replay()[0] == 2
    assert replay(str(FILES[0]), "--query", "x")[0] == 2


TASKS = """\
apiVersion: sopflow/v1
kind: SOP
id: replay-query
version: 1
title: Replay by query
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
defaults:
  sla: 1h
steps:
  - id: first
    type: task
    assignee: responder
    form: {type: object, properties: {ok: {type: boolean}}}
  - id: second
    type: task
    assignee: responder
    form: {type: object, properties: {ok: {type: boolean}}}
  - id: done
    type: end
    outcome: resolved
"""


def _active(step: str) -> Callable[[IncidentState], bool]:
    return lambda s: s.steps[step].status == "active"


def test_query_replays_every_run_that_visibility_lists() -> None:
    """On the dev server (visibility): three incidents, one of which continues as new
    twice; ``--query`` finds every run of them and replays each."""

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            plan = compile_text(TASKS)
            alice = Actor(id="alice", roles=["responder"])
            # The first continues as new before its second task (past 8 events).
            handles = [await b.start(plan, continue_as_new_after=8)]
            handles += [await b.start(plan) for _ in range(2)]
            for h in handles:
                latest = b.incidents.handle(h.id)  # follows continue-as-new
                for step in ("first", "second"):
                    await b.until(latest, _active(step))
                    await b.act(latest, CompleteTask(step=step, actor=alice, data={"ok": True}))
                await latest.result()
            address = b.env.client.service_client.config.target_host
            query = "SopId = 'replay-query'"
            env = {"TEMPORAL_ADDRESS": address}
            code, out, err = await asyncio.to_thread(replay, "--query", query, env=env)
            assert code == 0, out + err
            lines = out.splitlines()
            ids = {h.id for h in handles}
            assert all(line.startswith("ok    ") for line in lines), lines
            assert {line.split()[1] for line in lines} == ids
            runs_of_first = [line for line in lines if line.split()[1] == handles[0].id]
            assert len(runs_of_first) >= 2, lines  # its continue-as-new runs, each replayed
            assert f"replayed {len(lines)} histories: {len(lines)} ok" in err

    run(scenario)
