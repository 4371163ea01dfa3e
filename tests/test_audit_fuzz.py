"""Broken audit exports given to `audit verify`, `audit report` and `audit replay`: whatever
is changed in the file (a key removed, a value of another type, a list cut short), each
command answers with a clear error or a result, never a traceback. The digest is recomputed
on half the examples so the change reaches past the digest check into the history itself,
as someone editing the file on purpose would do."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import traceback
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sopflow.audit.envelope import compute_digest, dump_envelope
from sopflow.audit.export import envelope_from_runs
from sopflow.audit.history_io import load_file, order_runs
from sopflow.audit.payloads import Decoder
from sopflow.cli.app import app
from tests.conftest import SHIPPED, UNSIGNED_HISTORIES

pytestmark = pytest.mark.unit

SLA = UNSIGNED_HISTORIES / "emergency-disclosure-v2-US-sla-breach.json"
runner = CliRunner()
# Examples per run: 60 in `make test`; SOPFLOW_FUZZ_EXAMPLES=1000 for a longer search.
EXAMPLES = int(os.environ.get("SOPFLOW_FUZZ_EXAMPLES", "60"))
FIXTURES = [HealthCheck.function_scoped_fixture]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    runs = order_runs([load_file(SLA).runs[0]], "test")
    return asyncio.run(envelope_from_runs(runs, Decoder()))


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _nodes(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            out += _nodes(inner, (*path, index))
    return out


@st.composite
def broken(draw: st.DrawFn, export: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(export)
    paths = [p for p in _nodes(data) if p]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            last = path[-1]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(last, None)
            elif isinstance(parent, list) and draw(st.booleans()):
                del parent[last:]
            else:
                parent[last] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the way there
    if draw(st.booleans()):
        with contextlib.suppress(Exception):  # a tree the digest cannot cover stays as it is
            data["digest"] = compute_digest(data)
    return data


def _run(args: list[str]) -> None:
    result = runner.invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception)[-6:])
        raise AssertionError(f"{args[:2]} raised {result.exception!r}\n{trace}")
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.exit_code == 1:
        assert result.stderr.strip(), "a failure says why"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_verify_and_report_never_trace_back(
    export: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "export.json"
    path.write_text(dump_envelope(data.draw(broken(export))), encoding="utf-8")
    _run(["audit", "verify", str(path), "-d", str(SHIPPED), "--allow-unsigned"])
    _run(["audit", "report", str(path)])


@settings(max_examples=EXAMPLES // 4 + 1, deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_replay_never_traces_back(
    export: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "export.json"
    path.write_text(dump_envelope(data.draw(broken(export))), encoding="utf-8")
    _run(["audit", "replay", str(path)])


def test_the_unbroken_export_passes(export: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(dump_envelope(export), encoding="utf-8")
    assert runner.invoke(app, ["audit", "report", str(path)]).exit_code == 0
    assert runner.invoke(app, ["audit", "replay", str(path)]).exit_code == 0


def test_a_start_event_without_a_workflow_type_fails_instead_of_hanging(
    export: dict[str, Any], tmp_path: Path
) -> None:
    """Temporal's replayer aborts a poller on such a history and never returns; replay
    checks the shape first and names what is wrong."""
    data = copy.deepcopy(export)
    first = data["runs"][0]["history"]["events"][0]
    first["workflowExecutionStartedEventAttributes"].pop("workflowType")
    path = tmp_path / "export.json"
    path.write_text(dump_envelope(data), encoding="utf-8")
    result = runner.invoke(app, ["audit", "replay", str(path)])
    assert result.exit_code == 1
    assert "event 1 names no workflow type" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("event_type", "says"),
    [
        ("EVENT_TYPE_UNSPECIFIED", "is of type UNSPECIFIED but carries the attributes of"),
        ("EVENT_TYPE_TIMER_FIRED", "is of type TIMER_FIRED but carries the attributes of"),
    ],
)
def test_an_event_whose_type_is_not_its_attributes_fails_instead_of_hanging(
    export: dict[str, Any], tmp_path: Path, event_type: str, says: str
) -> None:
    """Core panics in a poller on such an event and the replay never ends (found by this
    file's fuzzing, seed 5): replay names the event instead."""
    data = copy.deepcopy(export)
    events = data["runs"][0]["history"]["events"]
    third = next(e for e in events if e.get("eventId") in ("3", 3))
    third["eventType"] = event_type
    path = tmp_path / "export.json"
    path.write_text(dump_envelope(data), encoding="utf-8")
    result = runner.invoke(app, ["audit", "replay", str(path)])
    assert result.exit_code == 1
    assert f"event 3 {says}" in result.stdout + result.stderr
