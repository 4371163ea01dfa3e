"""The short soak: 100 incidents of the four soak families across the three desks, worked
through the real API by simulated people on the real dev server (SQLite file), two workers,
and a worker, the API and the Temporal server each SIGKILLed and restarted once on the way.
Every incident must end as the oracle says and every side effect arrive once
(bench/soak; ``make soak`` runs the 1,000-incident version).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bench.soak.report import details, figures, verdicts
from bench.soak.run import Options, Run, soak
from sopflow.client.metrics.refusals import read_refusals

pytestmark = pytest.mark.e2e


def test_a_hundred_incidents_with_a_kill_of_each_part_lose_and_double_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = asyncio.run(soak(Options(incidents=100, seed=7, keep=tmp_path / "stack")))
    fig = figures(run)
    passed = verdicts(run, fig)
    if not passed:
        details(run, fig)  # the first disagreements of each kind, into the failure message
    assert passed, capsys.readouterr().out
    # Not vacuous: the load did what it says.
    assert fig["finished"] == 100
    assert [f.part for f in run.faults] == ["worker", "api", "temporal"]
    assert fig["wrong_actions"] > 20 and fig["races"] > 10
    assert set(fig["wrong_by_kind"]) >= {"wrong:role", "wrong:desk", "wrong:form"}
    assert sum(fig["effects"].values()) == 0  # lost keys per sink
    assert len(run.checks.forged) >= 3 and len(run.checks.replayed) >= 3
    assert not run.skipped
    refusals_are_in_the_api_log_once_each(run, tmp_path / "stack" / "api.log")


def refusals_are_in_the_api_log_once_each(run: Run, api_log: Path) -> None:
    """Every action the workflow refused is in the API's log, once (what `sopflow metrics
    --api-log` counts): a refusal answered is logged; one logged may have lost its answer
    to the API's kill and been sent again, so be logged twice."""
    assert run.api is not None
    refused = [c for c in run.api.calls if c.status in (403, 409, 422) and c.kind != "start"]
    logged = read_refusals(api_log.read_text(errors="replace").splitlines()).refusals
    by_cause = Counter(r.cause for r in logged if r.action in ("CompleteTask", "Vote"))
    answered = {
        "forbidden": sum(c.status == 403 for c in refused),
        "invalid": sum(c.status == 422 for c in refused),
        "refused or closed": sum(c.status == 409 for c in refused),
    }
    resent = sum(c.transport_errors for c in refused)
    found = {
        "forbidden": by_cause["forbidden"],
        "invalid": by_cause["invalid"],
        "refused or closed": by_cause["refused"] + by_cause["closed"],
    }
    assert all(answered[k] <= found[k] <= answered[k] + resent for k in answered), (
        answered,
        found,
        resent,
    )
    assert answered["forbidden"] > 0 and answered["refused or closed"] > 0
