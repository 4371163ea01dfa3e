"""The CLI's JSON inputs, fuzzed: whatever a person pastes as an incident's input, a task's
form data or an event's data (not JSON, JSON of any shape, deep nesting, huge numbers), each
command answers with a clear error and exit 1, never a traceback. Temporal is pointed at a
closed port, so an input that passes every check ends at a one-line connection error."""

from __future__ import annotations

import json
import os
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sopflow.cli.app import app
from tests.conftest import SHIPPED

pytestmark = pytest.mark.unit

runner = CliRunner()
EXAMPLES = int(os.environ.get("SOPFLOW_FUZZ_EXAMPLES", "25"))  # more: a longer search
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)
TEXT = st.one_of(
    JSON.map(json.dumps),
    st.text(max_size=40),  # not JSON at all
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),  # nesting deeper than any form
    st.just('{"a": 1e999999}'),
)


@pytest.fixture(scope="module", autouse=True)
def nowhere() -> Iterator[None]:
    """TEMPORAL_ADDRESS at a port nothing listens on, for the whole module."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    saved = os.environ.get("TEMPORAL_ADDRESS")
    os.environ["TEMPORAL_ADDRESS"] = f"127.0.0.1:{port}"
    os.environ.pop("SOPFLOW_API_URL", None)
    yield
    if saved is None:
        os.environ.pop("TEMPORAL_ADDRESS", None)
    else:
        os.environ["TEMPORAL_ADDRESS"] = saved


def _clear_error(args: list[str], stdin: str | None = None) -> None:
    result = runner.invoke(app, args, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception)[-6:])
        raise AssertionError(f"{args[:3]} raised {result.exception!r}\n{trace}")
    assert result.exit_code in (1, 2), (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.strip(), "a refusal says why"
    assert "Traceback" not in result.stderr + result.stdout


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(text=TEXT)
def test_an_incident_input_is_refused_in_words(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("in") / "input.json"
    path.write_text(text, encoding="utf-8")
    base = ["incident", "start", "emergency-disclosure", "-r", "US", "--as", "dokafor"]
    _clear_error([*base, "--input", str(path), "-d", str(SHIPPED)])
    _clear_error([*base, "--input", "-", "-d", str(SHIPPED)], stdin=text)


@FUZZ
@given(text=TEXT)
def test_form_and_event_data_are_refused_in_words(text: str) -> None:
    _clear_error(
        [
            "task",
            "complete",
            "inc-x",
            "verify",
            "--as",
            "amoreno",
            "--data",
            text,
            "-d",
            str(SHIPPED),
        ]
    )
    _clear_error(["incident", "signal", "inc-x", "legal-process-served", "--data", text])


def test_an_unreadable_input_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    result = runner.invoke(
        app,
        [
            "incident",
            "start",
            "threat-to-life",
            "-r",
            "US",
            "--input",
            str(missing),
            "--as",
            "dokafor",
            "-d",
            str(SHIPPED),
        ],
    )
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
