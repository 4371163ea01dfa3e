"""``sopflow init`` and ``sopflow new``: what they write lints clean, points the editor at
the schema, never overwrites a file, and refuses what would not lint; ``lint -d``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.cli.scaffold import rehearsal_fields
from sopflow.cli.templates import example_value
from sopflow.compile.lint import lint_library
from sopflow.contract.plan import TaskPlan
from sopflow.language.schema import schema_text
from tests.conftest import SHIPPED

pytestmark = pytest.mark.unit

runner = CliRunner()
UK = "  UK: {timezone: Europe/London, team: risk-response-uk}\n"
UK_PERSON = "  pshah: {name: Priya Shah, region: UK, roles: [responder, lead]}\n"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    code, out, err = run("init", str(root))
    assert code == 0, out + err
    return root


def modeline(path: Path) -> Path:
    """The schema file a document's modeline points at, from its folder."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix), path
    return (path.parent / first.removeprefix(prefix)).resolve()


def lint_clean(root: Path, files: int) -> None:
    code, out, err = run("lint", "-d", str(root))
    assert (code, out) == (0, ""), out + err
    assert f"ok: {files} files, no problems" in err


def test_init_writes_a_library_that_lints_clean(lib: Path) -> None:
    assert sorted(p.relative_to(lib).as_posix() for p in lib.rglob("*") if p.is_file()) == [
        "README.md",
        "regions.yaml",
        "roster.yaml",
        "schema/sop.schema.json",
    ]
    assert (lib / "schema" / "sop.schema.json").read_text(encoding="utf-8") == schema_text()
    for name in ("regions.yaml", "roster.yaml"):
        assert modeline(lib / name) == (lib / "schema" / "sop.schema.json").resolve()
    assert "sopflow new sop" in (lib / "README.md").read_text(encoding="utf-8")
    lint_clean(lib, 2)


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    code, out, err = run("init", str(tmp_path))
    assert code == 1
    assert err == f"error: {tmp_path} exists and is not empty: choose a new folder\n"
    assert out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_every_new_document_lints_clean_where_its_modeline_points(lib: Path) -> None:
    with (lib / "regions.yaml").open("a", encoding="utf-8") as f:
        f.write(UK)
    with (lib / "roster.yaml").open("a", encoding="utf-8") as f:
        f.write(UK_PERSON)
    d = ["-d", str(lib)]
    commands = [
        (["new", "sop", "welfare-check", *d], "welfare-check/v1.yaml"),
        (["new", "variant", "welfare-check@1", "--region", "uk", *d], "welfare-check/v1-uk.yaml"),
        (["new", "policy", "uk-welfare", "--jurisdiction", "UK", *d], "policies/uk-welfare.yaml"),
        (["new", "rehearsal", "welfare-check@1", "happy-path", *d], "welfare-check/rehearsals/"),
        (["new", "rehearsal", "welfare-check", "uk", "-r", "UK", *d], "welfare-check/rehearsals/"),
    ]
    for args, where in commands:
        code, out, err = run(*args)
        assert code == 0, out + err
        written = Path(out.splitlines()[0].removeprefix("wrote "))
        assert where in written.as_posix()
        assert out.splitlines()[1].startswith("next: ")
        assert modeline(written) == (lib / "schema" / "sop.schema.json").resolve()
    lint_clean(lib, 7)
    uk = (lib / "welfare-check" / "rehearsals" / "uk.yaml").read_text(encoding="utf-8")
    assert "region: UK" in uk
    assert "complete: {step: review, as: pshah, data: {action_taken: removed}}" in uk
    assert "outcome: resolved" in uk


@pytest.mark.parametrize(
    "args",
    [
        ["new", "sop", "welfare-check"],
        ["new", "variant", "welfare-check@1", "--region", "UK"],
        ["new", "policy", "uk-welfare", "--jurisdiction", "UK"],
        ["new", "rehearsal", "welfare-check@1", "happy-path"],
    ],
)
def test_new_never_overwrites(lib: Path, args: list[str]) -> None:
    with (lib / "regions.yaml").open("a", encoding="utf-8") as f:
        f.write(UK)
    if args[1] != "sop":
        assert run("new", "sop", "welfare-check", "-d", str(lib))[0] == 0
    code, out, _ = run(*args, "-d", str(lib))
    assert code == 0
    path = Path(out.splitlines()[0].removeprefix("wrote "))
    path.write_text(path.read_text(encoding="utf-8") + "# my edit\n", encoding="utf-8")
    code, out, err = run(*args, "-d", str(lib))
    assert code == 1
    assert out == ""
    assert "already" in err and len(err.splitlines()) == 1
    assert path.read_text(encoding="utf-8").endswith("# my edit\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "sop", "Welfare_Check"], "is not a valid SOP id"),
        (["new", "sop", "xy", "--region", "AU"], "region AU is not in"),
        (["new", "variant", "nope@1", "--region", "US"], "no SOP 'nope'"),
        (["new", "variant", "welfare-check@1", "--region", "US"], "is written for US"),
        (["new", "variant", "welfare-check@2", "--region", "US"], "has versions [1]"),
        (["new", "policy", "p1", "--jurisdiction", "AU"], "region AU is not in"),
        (["new", "rehearsal", "welfare-check@1", "../escape"], "name it with"),
    ],
)
def test_new_refuses_what_would_not_lint(lib: Path, args: list[str], message: str) -> None:
    assert run("new", "sop", "welfare-check", "-d", str(lib))[0] == 0
    code, out, err = run(*args, "-d", str(lib))
    assert code == 1, out
    assert message in err


def test_new_needs_a_library(tmp_path: Path) -> None:
    code, _, err = run("new", "sop", "welfare-check", "-d", str(tmp_path / "missing"))
    assert code == 1
    assert "make one with `sopflow init" in err


def test_lint_takes_d_as_one_more_root(lib: Path, tmp_path: Path) -> None:
    lint_clean(lib, 2)
    code, out, _ = run("lint", "-d", str(tmp_path / "missing"))
    assert code == 1
    assert "E107" in out
    other = tmp_path / "other"
    assert run("init", str(other))[0] == 0
    code, _, err = run("lint", str(lib), "-d", str(other))
    assert code == 0
    assert "ok: 4 files, no problems" in err


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "required": ["a", "b", "c", "d"], "properties": {
            "a": {"type": "string", "minLength": 20},
            "b": {"type": "integer", "exclusiveMinimum": 3},
            "c": {"type": ["null", "number"], "minimum": 2.5},
            "d": {"type": "array", "minItems": 2, "items": {"enum": ["x", "y"]}},
        }},
        {"type": "object", "required": ["when", "who"], "properties": {
            "when": {"type": "string", "format": "date-time"},
            "who": {"type": "object", "required": ["email"],
                    "properties": {"email": {"type": "string", "format": "email"}}},
        }},
        {"type": "object", "required": ["country", "kind"], "properties": {
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "kind": {"anyOf": [{"const": "report"}, {"const": "referral"}]},
        }},
        {"type": "object", "required": ["n"], "properties": {"n": {"type": "string"}},
         "additionalProperties": False},
    ],
)  # fmt: skip
def test_example_values_fit_their_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        example_value(schema)
    )


def test_rehearsal_values_fit_every_shipped_sop() -> None:
    result = lint_library(SHIPPED)
    latest = {}
    for sop_id, version, region in sorted(result.plans):
        latest[(sop_id, region)] = result.plans[(sop_id, version, region)]
    assert latest
    for plan in latest.values():
        fields = rehearsal_fields(plan, result.library, "generated")
        jsonschema.validate(example_value(plan.input_schema), plan.input_schema)
        for task in (s for s in plan.steps if isinstance(s, TaskPlan)):
            jsonschema.validate(example_value(task.form), task.form)
        assert "complete: {step: " in fields["actions"]
        assert fields["region"] == plan.region.code
