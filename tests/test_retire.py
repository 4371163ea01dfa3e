"""Retiring a published version: `sopflow retire` records it in the lock; a start of it is
refused naming the version to use (CLI exit 1, API 409), a start without a version takes the
latest that is not retired, and lint warns about rehearsals of it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sopflow.api.app import create_app
from sopflow.api.settings import ApiSettings
from sopflow.cli.app import app
from sopflow.compile.lint import lint_library
from sopflow.language.lockfile import read_lock
from sopflow.web.pages.start import choices
from tests.conftest import SHIPPED
from tests.test_api_unit import FakeTokens, auth

pytestmark = pytest.mark.unit

runner = CliRunner()
REASON = "approvals did not require counsel"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    shutil.copytree(SHIPPED, root)
    return root


def sopflow(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"SOPFLOW_API_URL": ""})
    return result.exit_code, result.stdout, result.stderr


def test_a_retired_version_is_recorded_and_cannot_be_started(library: Path) -> None:
    code, out, _ = sopflow(
        "retire", "emergency-disclosure@1", "--reason", REASON, "-d", str(library)
    )
    assert code == 0 and out.strip() == (
        "retired emergency-disclosure@1: start emergency-disclosure@2 instead"
    )
    lock, problems = read_lock(library)
    assert problems == []
    retired = lock.retirement("emergency-disclosure", 1)
    assert retired is not None and (retired.use, retired.reason) == (2, REASON)
    assert json.loads(lock.path.read_text())["retired"]["emergency-disclosure@1"]["use"] == 2
    assert lint_library(library).ok  # the plan hashes are untouched

    data = library / "input.json"
    data.write_text("{}", encoding="utf-8")
    start = ("incident", "start", "emergency-disclosure@1", "--region", "US", "--input", str(data))
    code, _, err = sopflow(*start, "--as", "amoreno", "-d", str(library))
    assert code == 1
    assert "refused: emergency-disclosure@1 is retired (approvals did not require counsel); " in err
    assert "start emergency-disclosure@2 instead" in err


def test_the_api_refuses_a_retired_version_with_the_one_to_use(library: Path) -> None:
    assert (
        sopflow("retire", "emergency-disclosure@1", "--reason", REASON, "-d", str(library))[0] == 0
    )
    api = create_app(ApiSettings(definitions=library), tokens=FakeTokens())
    body = {"sop": "emergency-disclosure", "version": 1, "region": "US", "input": {}}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.post("/api/v1/incidents", json=body, headers=auth("amoreno"))

    answer = asyncio.run(call())
    assert answer.status_code == 409, answer.text
    assert "start emergency-disclosure@2 instead" in answer.json()["detail"]


def test_retire_refuses_what_it_cannot_do(library: Path) -> None:
    root = ("-d", str(library))
    code, _, err = sopflow("retire", "threat-to-life@1", "--reason", REASON, *root)
    assert code == 1 and "no other version to start: publish a corrected one first" in err
    code, _, err = sopflow("retire", "emergency-disclosure@7", "--reason", REASON, *root)
    assert code == 1 and "emergency-disclosure@7 is not published (published: [1, 2])" in err
    code, _, err = sopflow("retire", "emergency-disclosure", "--reason", REASON, *root)
    assert code == 1 and "name the version to retire" in err
    code, _, err = sopflow("retire", "emergency-disclosure@1", "--use", "1", "--reason", "x", *root)
    assert code == 1 and "--use 1: not a published version" in err


def test_without_a_version_the_latest_that_is_not_retired_is_started(library: Path) -> None:
    assert (
        sopflow(
            "retire", "emergency-disclosure@2", "--use", "1", "--reason", REASON, "-d", str(library)
        )[0]
        == 0
    )
    code, out, _ = sopflow("compile", "emergency-disclosure", "-d", str(library))
    assert code == 0 and json.loads(out)["sop"]["version"] == 1


def test_lint_warns_about_a_rehearsal_of_a_retired_version(library: Path) -> None:
    [rehearsal] = [
        p
        for p in (library / "emergency-disclosure" / "rehearsals").iterdir()
        if "v2-us-happy" in p.name
    ]
    assert (
        sopflow(
            "retire", "emergency-disclosure@2", "--use", "1", "--reason", REASON, "-d", str(library)
        )[0]
        == 0
    )
    found = [d for d in lint_library(library).diagnostics if d.code == "W600"]
    assert any(d.path.endswith(rehearsal.name) for d in found)
    assert "rehearse emergency-disclosure@1" in found[0].message


def test_the_console_offers_no_retired_version(library: Path) -> None:
    assert (
        sopflow("retire", "emergency-disclosure@1", "--reason", REASON, "-d", str(library))[0] == 0
    )
    offered = {c["value"].partition(":")[0] for c in choices(lint_library(library))}
    assert "emergency-disclosure@2" in offered and "emergency-disclosure@1" not in offered
