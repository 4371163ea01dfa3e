"""`sopflow metrics` through typer's CliRunner on a small known set: the command's reading
(``collect``) replaced by the recorded facts of tests/test_metrics_unit.py, so what is
checked is the options, the window handed down, and the JSON and CSV output."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.cli import metrics as metrics_cli
from sopflow.cli.app import app
from sopflow.client.metrics.compute import Dimension, Metrics, compute
from sopflow.client.metrics.rows import COLUMNS
from sopflow.client.metrics.window import Window
from tests.test_metrics_unit import all_facts

pytestmark = pytest.mark.unit


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace Temporal: ``with_incidents`` runs the action on no service, and ``collect``
    computes the recorded facts for the window it is given (and records how it was called)."""
    seen: list[dict[str, Any]] = []

    async def collect(client: Any, window: Window, by: list[Dimension], **kw: Any) -> Metrics:
        seen.append({"window": window, "by": by, **kw})
        return compute(all_facts(), by, since=window.since, until=window.until)

    def with_incidents(action: Any) -> Any:
        import asyncio

        return asyncio.run(action(type("Service", (), {"client": None})()))

    monkeypatch.setattr(metrics_cli, "collect", collect)
    monkeypatch.setattr(metrics_cli, "with_incidents", with_incidents)
    return seen


WINDOW = ["--since", "2026-03-02T08:00Z", "--until", "2026-03-03T00:00Z"]


def test_json_has_every_section(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["metrics", *WINDOW, "--format", "json", "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["incidents"] == 5 and out["by"] == ["sop", "version", "region", "severity"]
    us = next(g for g in out["groups"] if g["key"]["region"] == "US")
    assert us["outcomes"] == {"rejected": 1, "resolved": 2, "running": 1}
    assert us["first_action"] == {"n": 2, "p50": 300.0, "p90": 2700.0, "max": 2700.0}
    assert [a["time_to_quorum"]["p50"] for a in out["approvals"]] == [1800.0]
    assert [(d["policy"], d["decision"], d["basis"]) for d in out["disclosures"]] == [
        ("pol-us", "allowed", "legal_process"),
        ("pol-us", "denied", ""),
    ]
    [call] = calls
    assert call["window"].since == datetime.fromisoformat("2026-03-02T08:00:00+00:00")
    assert call["window"].until == datetime.fromisoformat("2026-03-03T00:00:00+00:00")
    assert call["state_dir"] == tmp_path and call["concurrency"] == 16
    assert "5 incident(s) opened 2026-03-02T08:00:00Z .. 2026-03-03T00:00:00Z" in result.stderr


def test_csv_is_one_tidy_table(calls: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(app, ["metrics", *WINDOW, "-f", "csv", "--by", "sop,region"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and tuple(rows[0]) == COLUMNS
    assert calls[0]["by"] == ["sop", "region"]
    closes = {
        (r["region"], r["metric"]): r["value"]
        for r in rows
        if r["section"] == "incidents" and r["metric"].startswith("close_")
    }
    assert closes[("US", "close_p90_s")] == "7200" and closes[("EU", "close_max_s")] == "200"
    assert all(r["version"] == "" and r["severity"] == "" for r in rows)  # not grouped by
    verify = [r for r in rows if r["step"] == "verify" and r["metric"] == "breached"]
    assert [r["value"] for r in verify] == ["2"]


def test_table_and_cache_option(calls: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(app, ["metrics", *WINDOW, "--no-cache"])
    assert result.exit_code == 0, result.output
    assert calls[0]["state_dir"] is None
    for text in ("people 1 US SEV2", "5m / 45m / 45m", "33%", "pol-us", "legal_process"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "neither an ISO date"),
        (["--since", "2026-03-02", "--until", "2026-03-01"], "must be later"),
        (["--by", "sop,desk"], "--by: give some of sop, version, region, severity"),
    ],
)
def test_bad_options_exit_1(calls: list[dict[str, Any]], args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["metrics", *args])
    assert result.exit_code == 1 and message in result.stderr
    assert calls == []
