"""The incident and task commands through the HTTP API (``SOPFLOW_API_URL``), as responders
run them: the real dev server, a worker trusting the API's signing key, and the API served by
uvicorn (the stack of tests/test_api_e2e.py), with tokens in a temporary store and dev
tokens in a temporary state directory. The CLI runs through typer's CliRunner.

In API mode ``TEMPORAL_ADDRESS`` points nowhere, so a command that reached for Temporal
would fail. Where both modes can run a command, its output and exit code are compared with
direct mode's. Every wait polls ``incident show --json`` with a deadline.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

from sopflow.api.tokens import DEV_TOKENS_DIR, TokenStore, ensure_dev_tokens
from sopflow.cli.app import app
from sopflow.client.testing import TEST_SIGNER
from tests.test_api_e2e import DRILL_INPUT, Stack, stack

pytestmark = pytest.mark.e2e
__all__ = ["stack"]  # the API stack fixture, shared with tests/test_api_e2e.py

DEADLINE_S = 30.0
DEV_PEOPLE = ("amoreno", "dokafor", "slee", "tbrennan")
runner = CliRunner()


@dataclass
class Modes:
    """The environment of each mode."""

    direct: dict[str, str | None]
    api: dict[str, str | None]
    tmp: Path
    stack: Stack

    def with_token(self, who: str, **extra: str) -> dict[str, str | None]:
        return self.api | {"SOPFLOW_TOKEN": self.stack.tokens[who]} | extra


@pytest.fixture(scope="module")
def modes(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modes]:
    """Direct mode (Temporal, the operator key the worker trusts) and API mode (the API's
    URL, dev tokens for four people, no Temporal) over the same dev server and worker."""
    tmp = tmp_path_factory.mktemp("cli-api")
    ensure_dev_tokens(stack.store, DEV_PEOPLE, tmp / "state" / DEV_TOKENS_DIR)
    TEST_SIGNER.write(tmp / "keys")
    service = stack.apps["main"].state.parts.temporal.service
    unset: dict[str, str | None] = dict.fromkeys(
        ("SOPFLOW_TOKEN", "SOPFLOW_USER", "SOPFLOW_DATA_ROUTING", "TEMPORAL_NAMESPACE")
    )
    direct = unset | {
        "SOPFLOW_API_URL": None,
        "TEMPORAL_ADDRESS": service.client.service_client.config.target_host,
        "SOPFLOW_TASK_QUEUE": service.task_queue,
        "SOPFLOW_DEFINITIONS": str(stack.library),
        "SOPFLOW_SIGNING_KEY": str(tmp / "keys" / "test.key"),
    }
    api = unset | {
        "SOPFLOW_API_URL": stack.urls["main"],
        "SOPFLOW_STATE_DIR": str(tmp / "state"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # API mode never connects to it
        "SOPFLOW_DEFINITIONS": str(tmp / "no-library-here"),
        "SOPFLOW_SIGNING_KEY": str(tmp / "no-key-here"),
    }
    # The API logs each action; keep it out of the output CliRunner captures.
    with (tmp / "api.jsonl").open("w") as log:
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(log))
        try:
            yield Modes(direct, api, tmp, stack)
        finally:
            structlog.reset_defaults()


# --- helpers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def cli(env: dict[str, str | None], *args: str) -> Result:
    """Run one command; whatever happens, no traceback escapes."""
    result = runner.invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def ok(env: dict[str, str | None], *args: str) -> str:
    result = cli(env, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def failed(result: Result, message: str, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    return result.stderr


def start(modes: Modes, env: dict[str, str | None], who: str, data: Any = None) -> Result:
    path = modes.tmp / f"input-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(DRILL_INPUT if data is None else data), encoding="utf-8")
    return cli(env, "incident", "start", "api-drill", "-r", "US", "-i", str(path), "--as", who)


def opened(modes: Modes, env: dict[str, str | None], who: str) -> str:
    result = start(modes, env, who)
    assert result.exit_code == 0, result.stderr
    incident = result.stdout.strip().splitlines()[-1]
    until(modes, incident, active("verify"))
    return incident


def show(env: dict[str, str | None], incident: str) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(ok(env, "incident", "show", incident, "--json"))
    return view


def until(modes: Modes, incident: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    stop = time.monotonic() + DEADLINE_S
    while True:
        view = show(modes.api | {"SOPFLOW_USER": "amoreno"}, incident)
        if ready(view):
            return view
        if time.monotonic() > stop:
            raise AssertionError(f"not reached before the deadline: {json.dumps(view)[:2000]}")
        time.sleep(0.05)


def status(view: dict[str, Any], step: str) -> str | None:
    return next((s["status"] for s in view["steps"] if s["id"] == step), None)


def active(step: str) -> Callable[[dict[str, Any]], bool]:
    return lambda view: status(view, step) == "active"


def notes(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["actor"], e["detail"]) for e in view["timeline"] if e["kind"] == "note"]


# --- tests


def test_an_incident_through_the_api_prints_what_direct_mode_prints(modes: Modes) -> None:
    api, direct = modes.api, modes.direct
    # Opened with the dev token of the person --as names, by them.
    through_api = start(modes, api, "dokafor")
    assert through_api.exit_code == 0, through_api.stderr
    first, incident = through_api.stdout.strip().splitlines()
    assert first == start(modes, direct, "dokafor").stdout.splitlines()[0]
    assert first == "opened api-drill@1 (US) by dokafor: API drill"
    until(modes, incident, active("verify"))
    reader = api | {"SOPFLOW_USER": "amoreno"}

    for command in (
        ("incident", "show", incident, "--json"),
        ("incident", "show", incident),
        ("incident", "list", "--query", f"WorkflowId = '{incident}'", "--json"),
        ("incident", "list", "--query", f"WorkflowId = '{incident}'"),
    ):
        assert ok(reader, *command) == ok(direct, *command), command
    queue = ("task", "list", "--as", "amoreno", "--json")
    mine = [r for r in json.loads(ok(api, *queue)) if r["incident"] == incident]
    assert mine == [r for r in json.loads(ok(direct, *queue)) if r["incident"] == incident]
    assert [(r["step"], r["role"]) for r in mine] == [("verify", "responder")]

    complete = ("task", "complete", incident, "verify", "--as", "amoreno", "--data", '{"ok": true}')
    assert ok(api, *complete) == f"{incident} verify: completed\n"
    until(modes, incident, active("signoff"))
    sent = ok(reader, "incident", "signal", incident, "ping", "--data", '{"n": 1}')
    assert sent == f"sent 'ping' to {incident}\n"
    for lead in ("slee", "tbrennan"):
        vote = ("task", "approve", incident, "signoff", "--as", lead, "--reason", "checked")
        assert ok(api, *vote).startswith(f"{incident} signoff: ")
    view = until(modes, incident, lambda v: v["status"] != "running")
    assert (view["status"], view["outcome"]) == ("completed", "resolved")
    assert ("amoreno", "event.received", "ping") in [
        (e["actor"], e["kind"], e["detail"]) for e in view["timeline"]
    ]
    assert view == show(direct, incident)


def test_refusals_and_errors_are_worded_as_in_direct_mode(modes: Modes) -> None:
    api, direct = modes.api, modes.direct
    incident = opened(modes, api, "dokafor")

    def same(args: tuple[str, ...], message: str) -> None:
        through_api = cli(api | {"SOPFLOW_USER": "amoreno"}, *args)  # --as wins where given
        directly = cli(direct, *args)
        failed(through_api, message)
        assert (through_api.stdout, through_api.stderr) == (directly.stdout, directly.stderr)

    complete = ("task", "complete", incident, "verify", "--data")
    same(
        (*complete, '{"ok": true}', "--as", "dokafor"),
        "refused: dokafor does not hold role 'responder', which 'verify' needs",
    )
    same((*complete, '{"ok": "yes"}', "--as", "amoreno"), "refused: the form is not valid")
    cancel = ("incident", "cancel", incident, "--reason", "duplicate")
    same((*cancel, "--as", "amoreno"), "refused: only the 'lead' role can cancel")
    same(("incident", "show", "inc-nope", "--json"), "error: no incident 'inc-nope'")
    same(("task", "note", "inc-nope", "--as", "amoreno", "--text", "hi"), "error: no incident")

    # The API checks the input: each problem on its line, as direct mode prints them.
    bad = {"count": "many"}
    header = "error: the input does not fit api-drill@1 (US)'s input schema (2 problems):"
    for env, missing in ((api, "$.ref"), (direct, "$")):
        lines = failed(start(modes, env, "dokafor", bad), header).splitlines()
        assert sorted(lines[1:]) == sorted(
            [
                "  $.count: 'many' is not of type 'integer'",
                f"  {missing}: 'ref' is a required property",
            ]
        )

    ok(api, *cancel, "--as", "dokafor")
    until(modes, incident, lambda v: v["status"] == "cancelled")
    same(
        ("task", "note", incident, "--as", "amoreno", "--text", "late"),
        f"refused: incident {incident} is closed",
    )


def test_tokens_decide_who_acts(modes: Modes) -> None:
    api = modes.api
    incident = opened(modes, api, "dokafor")
    note = ("task", "note", incident, "--text", "on it")
    # A token acts only as its person: naming someone else is refused before anything is sent.
    failed(
        cli(modes.with_token("amoreno"), *note, "--as", "dokafor"),
        "error: your token is for amoreno, not dokafor",
    )
    failed(
        cli(modes.with_token("amoreno", SOPFLOW_USER="slee"), "incident", "list"),
        "error: your token is for amoreno, not slee",
    )
    assert ok(modes.with_token("amoreno"), *note) == f"{incident}: noted\n"
    assert notes(until(modes, incident, lambda v: bool(notes(v)))) == [("amoreno", "on it")]
    # The caller's own queue, with the token alone.
    queue = json.loads(ok(modes.with_token("amoreno"), "task", "list", "--json"))
    assert any(r["incident"] == incident and r["step"] == "verify" for r in queue)

    # A revoked token, no token, no dev token, someone not in the Roster.
    token, record = TokenStore(modes.stack.store.path).issue("jnguyen")
    TokenStore(modes.stack.store.path).revoke(record.id)
    revoked = cli(api | {"SOPFLOW_TOKEN": token}, "incident", "list")
    failed(
        revoked, "refused the token in $SOPFLOW_TOKEN (the token is unknown, expired or revoked)"
    )
    failed(cli(api, "incident", "list"), "error: no API token: set SOPFLOW_TOKEN")
    failed(cli(api, *note, "--as", "pshah"), "error: no API token for pshah")
    failed(
        cli(modes.with_token("ghost"), "incident", "list"), "refused: 'ghost' is not in the Roster"
    )

    # Listing by role is direct mode's; the API lists the caller's own.
    failed(cli(api, "task", "list", "--role", "lead"), "needs direct mode", code=2)
    nowhere = api | {"SOPFLOW_API_URL": f"http://127.0.0.1:{free_port()}/api/v1"}
    failed(cli(nowhere, *note, "--as", "amoreno"), "error: cannot reach the sopflow API at")
    assert notes(show(api | {"SOPFLOW_USER": "slee"}, incident)) == [("amoreno", "on it")]


def test_the_same_request_id_is_applied_once(modes: Modes) -> None:
    api = modes.api
    incident = opened(modes, api, "dokafor")
    request = ("--request-id", str(uuid.uuid4()))
    note = ("task", "note", incident, "verify", "--as", "amoreno", "--text", "called them")
    answers = {ok(api, *note, *request) for _ in range(2)}
    assert len(answers) == 1
    complete = ("task", "complete", incident, "verify", "--as", "amoreno", "--data", '{"ok": true}')
    key = ("--request-id", str(uuid.uuid4()))
    first = ok(api, *complete, *key)
    assert ok(api, *complete, *key) == first  # the retry gets the first answer, not a refusal
    view = until(modes, incident, active("signoff"))
    assert notes(view) == [("amoreno", "called them")]
    assert [e["kind"] for e in view["timeline"]].count("task.completed") == 1
