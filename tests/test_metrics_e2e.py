"""`sopflow metrics` end to end on the real dev server (the time-skipping server has no
visibility listing): the CLI lists the window's runs, reads a closed incident's result and a
running one's state from the worker, and caches only the closed run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sopflow.cli.app import app
from sopflow.client.metrics.cache import CACHE_DIR
from sopflow.contract.messages import Cancel, CompleteTask
from tests.harness import bench, compile_text, run
from tests.test_client_visibility import eventually
from tests.test_workflow_people import ALICE, BOB, PEOPLE, active

pytestmark = pytest.mark.e2e


def test_metrics_command_reads_the_window_from_temporal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            monkeypatch.setenv("TEMPORAL_ADDRESS", b.client.service_client.config.target_host)
            monkeypatch.setenv("TEMPORAL_NAMESPACE", b.client.namespace)
            plan = compile_text(PEOPLE)
            cancelled, running = await b.start(plan), await b.start(plan)
            await b.until(running, active("verify"))
            await b.act(running, CompleteTask(step="verify", actor=ALICE, data={"verified": True}))
            await b.act(cancelled, Cancel(actor=BOB, reason="a drill"))
            await cancelled.result()
            await eventually(
                lambda: b.incidents.list(),
                lambda found: sorted(s.status for s in found) == ["cancelled", "running"],
            )

            def metrics(*args: str) -> Result:
                state = ["--state-dir", str(tmp_path), "--format", "json"]
                return CliRunner().invoke(app, ["metrics", *args, *state])

            result = await asyncio.to_thread(metrics, "--since", "1h")
            assert result.exit_code == 0, result.output
            out = json.loads(result.stdout)
            assert out["incidents"] == 2
            [group] = out["groups"]
            assert group["outcomes"] == {"cancelled": 1, "running": 1}
            assert (group["unreadable"], group["no_action"], group["first_action"]["n"]) == (
                0,
                1,
                1,
            )
            assert group["close"]["n"] == 1
            steps = {s["step"]: s for s in out["steps"]}
            assert (steps["verify"]["met"], steps["approve"]["open"]) == (1, 1)

            closed_run = (await cancelled.describe()).run_id
            cached = [p.stem for p in (tmp_path / CACHE_DIR).glob("*.json")]
            assert cached == [closed_run]

            before = await asyncio.to_thread(metrics, "--since", "2000-01-01", "--until", "1d")
            assert before.exit_code == 0, before.output
            assert json.loads(before.stdout)["incidents"] == 0
            await b.incidents.terminate(running.id, "test over")

    run(scenario)
