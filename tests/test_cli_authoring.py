"""The authoring commands as a person runs them: exit codes, output, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from tests.conftest import MINIMAL_SOP, REGIONS, WriteLib

pytestmark = pytest.mark.e2e

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def lib(write_lib: WriteLib) -> Path:
    v2 = MINIMAL_SOP.replace("version: 1", "version: 2").replace(
        "    escalate: [lead]\n", "    escalate: [lead]\n    sla: 10m\n"
    )
    return write_lib(
        {
            "mini/v1.yaml": MINIMAL_SOP,
            "mini/v2.yaml": v2,
            "mini/v2-uk.yaml": "apiVersion: sopflow/v1\nkind: Variant\nid: mini\nversion: 2\n"
            "region: UK\nchanges:\n  - set: {step: approve, sla: 20m}\n",
            "regions.yaml": REGIONS,
        }
    )


def test_lint_clean_and_dirty(lib: Path) -> None:
    code, out, err = run("lint", str(lib))
    assert (code, out) == (0, "") and "ok: 4 files" in err
    (lib / "mini" / "v1.yaml").write_text(MINIMAL_SOP.replace("type: end", "type: ending", 1))
    code, out, _ = run("lint", str(lib))
    assert code == 1 and out.startswith("lib/mini/v1.yaml:33:11: error[E205]: unknown step type")
    code, out, _ = run("lint", str(lib), "--format", "json")
    [problem] = json.loads(out)
    assert (problem["code"], problem["line"], problem["severity"]) == ("E205", 33, "error")


def test_definitions_default_from_environment(lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPFLOW_DEFINITIONS", str(lib))
    code, out, _ = run("compile", "mini@1")
    assert code == 0 and json.loads(out)["sop"]["version"] == 1


def test_compile_latest_base_region_and_variant(lib: Path) -> None:
    code, out, _ = run("compile", "mini", "-d", str(lib))
    us = json.loads(out)
    assert code == 0 and (us["sop"]["version"], us["region"]["code"]) == (2, "US")
    code, out, _ = run("compile", "mini", "--region", "UK", "-d", str(lib))
    uk = json.loads(out)
    assert code == 0 and uk["region"]["code"] == "UK" and uk["plan_hash"] != us["plan_hash"]


@pytest.mark.parametrize(
    ("ref", "region", "expected"),
    [
        ("nope", None, "no SOP 'nope'"),
        ("mini@7", None, "no version 7"),
        ("mini@x", None, "positive whole number"),
        ("mini@1", "UK", "has no UK variant"),
    ],
)
def test_compile_refusals(lib: Path, ref: str, region: str | None, expected: str) -> None:
    args = ["compile", ref, "-d", str(lib)] + (["--region", region] if region else [])
    code, out, err = run(*args)
    assert code == 1 and out == "" and expected in err


def test_compile_refuses_an_sop_with_errors(lib: Path) -> None:
    (lib / "mini" / "v1.yaml").write_text(MINIMAL_SOP.replace("assignee: responder", "assignee: x"))
    code, _, err = run("compile", "mini@1", "-d", str(lib))
    assert code == 1 and "error[E302]" in err and "does not compile" in err


def test_graph_formats(lib: Path) -> None:
    code, out, _ = run("graph", "mini", "-d", str(lib))
    assert code == 0 and out.startswith("flowchart TD")
    assert "n_approve -->|rejected| n_refused" in out
    code, out, _ = run("graph", "mini", "-d", str(lib), "--format", "dot")
    assert code == 0 and out.startswith('digraph "mini"')
    assert '"approve" -> "refused" [label="rejected"]' in out


def test_diff_between_versions(lib: Path) -> None:
    code, out, _ = run("diff", "mini@1", "mini@2", "-d", str(lib))
    assert code == 0
    assert "~ step verify" in out and "sla_s: 1800 -> 600" in out
    code, out, _ = run("diff", "mini@2", "mini@2", "-d", str(lib))
    assert "compile to the same procedure" in out


def test_publish_then_editing_a_published_version_fails(lib: Path) -> None:
    code, out, _ = run("publish", "-d", str(lib))
    assert code == 0 and out.count("published") == 3
    lock = json.loads((lib / "sopflow.lock").read_text())
    assert set(lock["published"]) == {"mini@1", "mini@2"}
    assert run("lint", str(lib))[0] == 0
    (lib / "mini" / "v1.yaml").write_text(MINIMAL_SOP.replace("sla: 30m", "sla: 45m"))
    code, out, _ = run("lint", str(lib))
    assert code == 1 and "lib/mini/v1.yaml:4:10: error[E600]" in out
    # Publishing does not paper over the change.
    assert run("publish", "-d", str(lib))[0] == 1


def test_a_variant_changed_by_its_base_is_caught(lib: Path) -> None:
    assert run("publish", "-d", str(lib))[0] == 0
    v2 = (lib / "mini" / "v2.yaml").read_text()
    (lib / "mini" / "v2.yaml").write_text(v2.replace("sla: 10m", "sla: 12m"))
    _, out, _ = run("lint", str(lib))
    assert (
        "lib/mini/v2.yaml:4:10: error[E600]" in out
        and "lib/mini/v2-uk.yaml:4:10: error[E600]" in out
    )


def test_schema_command_prints_the_published_schema() -> None:
    code, out, _ = run("schema")
    assert code == 0 and json.loads(out)["$schema"].endswith("2020-12/schema")


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("a: [\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sopflow.cli.app", "lint", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error[E101]" in proc.stdout
