"""Retiring a published version: `sopflow retire` records it in the lock; a start of it is
refused naming the version to use (CLI exit 1, API 409), a start without a version takes the
latest that is not retired, and lint warns about rehearsals of it.

The shipped lock already retires the first versions (emergency-disclosure@1 and @2,
threat-to-life@1, csea-report@1, legal-process@1): the last tests check those refusals. The
others retire versions in a copy of the library: ``library`` is the copy as shipped,
``unretired`` the copy with the lock's retired entries dropped, so every published version of
emergency-disclosure (1, 2 and 3) may be started until a test retires one."""

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
# What the shipped lock retires, and the version each names to start instead.
SHIPPED_RETIRED = {
    ("emergency-disclosure", 1): 3,
    ("emergency-disclosure", 2): 3,
    ("threat-to-life", 1): 3,
    ("csea-report", 1): 2,
    ("legal-process", 1): 2,
}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    shutil.copytree(SHIPPED, root)
    return root


@pytest.fixture
def unretired(library: Path) -> Path:
    """The copy with nothing retired: the lock's ``retired`` table dropped."""
    path = library / "sopflow.lock"
    lock = json.loads(path.read_text(encoding="utf-8"))
    assert set(lock.pop("retired")) == {f"{s}@{v}" for s, v in SHIPPED_RETIRED}
    path.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    found, problems = read_lock(library)
    assert problems == [] and found.retired == {}
    return library


def sopflow(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"SOPFLOW_API_URL": ""})
    return result.exit_code, result.stdout, result.stderr


def start_refused(library: Path, ref: str, scratch: Path) -> str:
    """Start ``ref`` (US) from ``library`` with an empty input (written in ``scratch``): the
    CLI's error output, its lines joined, after checking it was refused (exit 1) before
    anything else (no Temporal server runs here)."""
    data = scratch / "input.json"
    data.write_text("{}", encoding="utf-8")
    start = ("incident", "start", ref, "--region", "US", "--input", str(data))
    code, _, err = sopflow(*start, "--as", "amoreno", "-d", str(library))
    assert code == 1, err
    return " ".join(err.split())


async def post_start(library: Path, body: dict[str, object]) -> httpx.Response:
    api = create_app(ApiSettings(definitions=library), tokens=FakeTokens())
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.post("/api/v1/incidents", json=body, headers=auth("amoreno"))


def test_a_retired_version_is_recorded_and_cannot_be_started(unretired: Path) -> None:
    code, out, _ = sopflow(
        "retire", "emergency-disclosure@2", "--reason", REASON, "-d", str(unretired)
    )
    assert code == 0 and out.strip() == (
        "retired emergency-disclosure@2: start emergency-disclosure@3 instead"
    )
    lock, problems = read_lock(unretired)
    assert problems == []
    retired = lock.retirement("emergency-disclosure", 2)
    assert retired is not None and (retired.use, retired.reason) == (3, REASON)
    assert lock.retirement("emergency-disclosure", 1) is None
    assert json.loads(lock.path.read_text())["retired"]["emergency-disclosure@2"]["use"] == 3
    assert lint_library(unretired).ok  # the plan hashes are untouched

    err = start_refused(unretired, "emergency-disclosure@2", unretired)
    assert "refused: emergency-disclosure@2 is retired (approvals did not require counsel); " in err
    assert "start emergency-disclosure@3 instead" in err
    # The newest one retired too (with the one to use named): it is refused the same way.
    code, out, _ = sopflow(
        "retire", "emergency-disclosure@3", "--use", "1", "--reason", REASON, "-d", str(unretired)
    )
    assert code == 0 and out.strip() == (
        "retired emergency-disclosure@3: start emergency-disclosure@1 instead"
    )
    err = start_refused(unretired, "emergency-disclosure@3", unretired)
    assert "refused: emergency-disclosure@3 is retired (approvals did not require counsel); " in err
    assert "start emergency-disclosure@1 instead" in err


def test_the_api_refuses_a_retired_version_with_the_one_to_use(unretired: Path) -> None:
    assert (
        sopflow("retire", "emergency-disclosure@3", "--reason", REASON, "-d", str(unretired))[0]
        == 0
    )
    body = {"sop": "emergency-disclosure", "version": 3, "region": "US", "input": {}}
    answer = asyncio.run(post_start(unretired, body))
    assert answer.status_code == 409, answer.text
    assert "start emergency-disclosure@2 instead" in answer.json()["detail"]


def test_retire_refuses_what_it_cannot_do(library: Path, tmp_path: Path) -> None:
    root = ("-d", str(library))
    # As shipped, csea-report@1 is retired: version 2 is the only one that may be started.
    code, _, err = sopflow("retire", "csea-report@2", "--reason", REASON, *root)
    assert code == 1 and "no other version to start: publish a corrected one first" in err
    code, _, err = sopflow("retire", "emergency-disclosure@3", "--reason", REASON, *root)
    assert code == 1 and "no other version to start: publish a corrected one first" in err
    code, _, err = sopflow("retire", "emergency-disclosure@7", "--reason", REASON, *root)
    assert code == 1 and "emergency-disclosure@7 is not published (published: [1, 2, 3])" in err
    code, _, err = sopflow("retire", "emergency-disclosure", "--reason", REASON, *root)
    assert code == 1 and "name the version to retire" in err
    # Retiring again would silently replace the reason and the version to use.
    code, _, err = sopflow("retire", "emergency-disclosure@2", "--reason", "x", *root)
    assert code == 1 and "emergency-disclosure@2 is already retired (two leads could" in err
    assert "start emergency-disclosure@3 instead): to change that, edit sopflow.lock" in err
    # None of these refusals changed the lock.
    assert (library / "sopflow.lock").read_bytes() == (SHIPPED / "sopflow.lock").read_bytes()


def test_retire_refuses_a_version_to_use_that_cannot_be_started(unretired: Path) -> None:
    root = ("-d", str(unretired))
    code, _, err = sopflow("retire", "emergency-disclosure@2", "--use", "2", "--reason", "x", *root)
    assert code == 1 and "--use 2: not a published version" in err
    assert sopflow("retire", "emergency-disclosure@1", "--reason", REASON, *root)[0] == 0
    # A retired version is not one to use instead.
    code, _, err = sopflow("retire", "emergency-disclosure@2", "--use", "1", "--reason", "x", *root)
    assert code == 1 and "--use 1: not a published version" in err


def test_without_a_version_the_latest_that_is_not_retired_is_started(unretired: Path) -> None:
    code, out, _ = sopflow("compile", "emergency-disclosure", "-d", str(unretired))
    assert code == 0 and json.loads(out)["sop"]["version"] == 3
    assert (
        sopflow(
            "retire", "emergency-disclosure@3", "--use", "1", "--reason", REASON,
            "-d", str(unretired),
        )[0]
        == 0
    )  # fmt: skip
    # The latest that is not retired, not the version `--use` named.
    code, out, _ = sopflow("compile", "emergency-disclosure", "-d", str(unretired))
    assert code == 0 and json.loads(out)["sop"]["version"] == 2
    assert (
        sopflow("retire", "emergency-disclosure@2", "--reason", REASON, "-d", str(unretired))[0]
        == 0
    )
    code, out, _ = sopflow("compile", "emergency-disclosure", "-d", str(unretired))
    assert code == 0 and json.loads(out)["sop"]["version"] == 1


def test_lint_warns_about_a_rehearsal_of_a_retired_version(unretired: Path) -> None:
    [rehearsal] = [
        p
        for p in (unretired / "emergency-disclosure" / "rehearsals").iterdir()
        if "v3-us-happy" in p.name
    ]
    assert not [d for d in lint_library(unretired).diagnostics if d.code == "W600"]
    assert (
        sopflow(
            "retire", "emergency-disclosure@3", "--use", "1", "--reason", REASON,
            "-d", str(unretired),
        )[0]
        == 0
    )  # fmt: skip
    found = [d for d in lint_library(unretired).diagnostics if d.code == "W600"]
    [warning] = [d for d in found if d.path.endswith(rehearsal.name)]
    assert "rehearse emergency-disclosure@1" in warning.message


def test_the_console_offers_no_retired_version(unretired: Path) -> None:
    offered = {c["value"].partition(":")[0] for c in choices(lint_library(unretired))}
    assert {f"emergency-disclosure@{v}" for v in (1, 2, 3)} <= offered
    assert (
        sopflow("retire", "emergency-disclosure@3", "--reason", REASON, "-d", str(unretired))[0]
        == 0
    )
    offered = {c["value"].partition(":")[0] for c in choices(lint_library(unretired))}
    assert {"emergency-disclosure@1", "emergency-disclosure@2"} <= offered
    assert "emergency-disclosure@3" not in offered


# --- the shipped lock


def test_the_shipped_lock_retires_the_first_versions_naming_the_current_one() -> None:
    result = lint_library(SHIPPED)
    assert result.ok
    retired = {key.partition("@"): found.use for key, found in result.lock.retired.items()}
    assert {(s, int(v)): use for (s, _, v), use in retired.items()} == SHIPPED_RETIRED
    for (sop, version), use in SHIPPED_RETIRED.items():
        found = result.lock.retirement(sop, version)
        assert found is not None and found.reason.strip()
        refusal = result.lock.start_refusal(sop, version)
        assert refusal == (
            f"{sop}@{version} is retired ({found.reason}); start {sop}@{use} instead "
            "(running incidents keep their version)"
        )
        # The version to use is the current one: what a start without a version takes.
        assert result.lock.start_refusal(sop, use) is None
        assert result.lock.default_version(sop, result.library.versions(sop)) == use
    # No shipped rehearsal or linked step names a retired version.
    assert not [d for d in result.diagnostics if d.code == "W600"]


def test_the_shipped_retired_versions_are_refused_everywhere(tmp_path: Path) -> None:
    result = lint_library(SHIPPED)
    for (sop, version), use in SHIPPED_RETIRED.items():
        reason = result.lock.retired[f"{sop}@{version}"].reason
        # The CLI (before it reaches Temporal: none runs here).
        err = start_refused(SHIPPED, f"{sop}@{version}", tmp_path)
        assert f"refused: {sop}@{version} is retired ({reason}); " in err
        assert f"start {sop}@{use} instead" in err
        # The API: 409, naming the version to use.
        body = {"sop": sop, "version": version, "region": "US", "input": {}}
        answer = asyncio.run(post_start(SHIPPED, body))
        assert answer.status_code == 409, answer.text
        assert f"start {sop}@{use} instead" in answer.json()["detail"]
        # A start without a version compiles the current one.
        code, out, _ = sopflow("compile", sop, "-d", str(SHIPPED))
        assert code == 0 and json.loads(out)["sop"]["version"] == use
    # The console offers the current versions and none of the retired ones.
    offered = {c["value"].partition(":")[0] for c in choices(result)}
    assert {f"{sop}@{use}" for (sop, _), use in SHIPPED_RETIRED.items()} <= offered
    assert not {f"{sop}@{version}" for sop, version in SHIPPED_RETIRED} & offered
