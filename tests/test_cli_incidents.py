"""The incident and task commands as responders run them, against the real Temporal dev server
and a real worker (the incident workflow and the real activities, notifications going to the
log channel), both in this process; the CLI runs through typer's CliRunner.

Every wait polls ``incident show --json`` until a condition holds, with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus
from typer.testing import CliRunner, Result

from activities.config import load_config
from activities.registry import build_activities
from sopflow.cli.app import app
from sopflow.cli.incidents import new_incident_id
from sopflow.client.connection import connect, incident_status
from sopflow.client.incidents import IncidentService
from sopflow.client.testing import TEST_SIGNER, dev_server, incident_worker
from sopflow.compile.lint import lint_library
from sopflow.contract import search
from sopflow.contract.messages import IncidentInput
from sopflow.language.input_check import input_problems
from tests.conftest import SHIPPED

pytestmark = pytest.mark.e2e

QUEUE = "cli-tests"
ID_LINE = re.compile(r"^inc-\d{8}-[0-9a-f]{6}$")
CHANNELS = """\
[channels.email]
kind = "log"
[channels.pager]
kind = "log"
[channels.webhook]
kind = "log"
"""
THREAT = {
    "referral_id": "R-100",
    "detected_by": "classifier",
    "detected_at": "2025-03-01T10:00:00Z",
    "content_ids": ["c-1"],
    "account_id": "acct-1",
    "threat_type": "violence_against_others",
    "imminence": "none",
    "reach": "one_person",
    "vulnerable_person": False,
    "location_country": "US",
    "records_violent_conduct": False,
}


def referral() -> dict[str, Any]:
    """THREAT about an account of its own: threat-to-life holds back a second open incident
    about one account (`correlation: input.account_id`), and each test opens its own."""
    return {**THREAT, "account_id": f"acct-{uuid.uuid4().hex[:8]}"}


EMERGENCY = {
    "request_id": "LE-7",
    "received_at": "2025-03-01T10:00:00Z",
    "requester": {
        "agency": "Springfield PD",
        "officer_name": "Officer Lou",
        "email": "lou@springfield.example",
        "phone": "+1 555 0100",
    },
    "target_accounts": ["acct-9"],
    "emergency_description": "A missing person",
    "data_requested": ["basic_subscriber_info"],
    "imminent_threat": True,
    "person_at_risk_minor": False,
}
# Shown as written: no rich markup, no emoji codes.
NOTE = "on it [b]now[/b] :fire:"
runner = CliRunner()


@dataclass
class Stack:
    tmp: Path
    address: str = ""
    # The library the CLI and the worker (its Rota) read.
    definitions: Path = SHIPPED
    log: Path = field(default_factory=Path)
    error: BaseException | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop: asyncio.Event | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "TEMPORAL_ADDRESS": self.address,
            "SOPFLOW_TASK_QUEUE": QUEUE,
            "SOPFLOW_DEFINITIONS": str(self.definitions),
            # The CLI signs as an operator would; the test worker trusts this key.
            "SOPFLOW_SIGNING_KEY": str(self.tmp / "keys" / "test.key"),
        }

    def notification_keys(self) -> list[str]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [e["idempotency_key"] for e in lines if e.get("event") == "notification"]


async def _serve(stack: Stack, ready: threading.Event) -> None:
    try:
        async with (
            dev_server() as env,
            incident_worker(env, build_activities(load_config()), task_queue=QUEUE, threads=8),
        ):
            stack.address = env.client.service_client.config.target_host
            stack.loop, stack.stop = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await stack.stop.wait()
    except BaseException as exc:
        if not ready.is_set():  # the server or the worker did not start
            stack.error = exc
            ready.set()
        raise


def round_the_clock_library(root: Path) -> Path:
    """A copy of the shipped library at ``root`` whose Rota keeps every desk on call around
    the clock, every day (no holidays), with the people its shifts have on call for each
    role: a follow-the-sun step (every task of threat-to-life@2 and @3, and @3's stakeholder
    update asks) stays with its incident's own desk whenever the tests run, as every step of
    version 1 did. The plans, and so their hashes, are the shipped ones: the Rota is read at
    run time, not compiled in. Follow the sun itself is tested in test_cli_follow_the_sun and
    on the time-skipping server."""
    shutil.copytree(SHIPPED, root)
    rota = yaml.safe_load((root / "rota.yaml").read_text(encoding="utf-8"))
    for desk in rota["desks"].values():
        people: dict[str, set[str]] = {}
        for duty in desk["oncall"]:
            people.setdefault(duty["role"], set()).update(duty["people"])
        desk.pop("holidays", None)
        days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        desk["shifts"] = [{"name": "always", "days": days, "from": "00:00", "to": "24:00"}]
        desk["oncall"] = [
            {"role": role, "shift": "always", "people": sorted(names)}
            for role, names in sorted(people.items())
        ]
    (root / "rota.yaml").write_text(yaml.safe_dump(rota, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The dev server and a worker, in a thread of this process, for the whole module; both
    read the shipped library with every desk on call around the clock."""
    tmp = tmp_path_factory.mktemp("cli-incidents")
    library = round_the_clock_library(tmp / "library")
    running = Stack(tmp=tmp, log=tmp / "worker.jsonl", definitions=library)
    with serving(running, {"SOPFLOW_DEFINITIONS": str(library)}) as running:
        yield running


@contextmanager
def serving(stack: Stack, env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Run the dev server and a worker with the real activities (the log channel for every
    notification) in a thread, with ``env`` set for both, until the block ends."""
    tmp = stack.tmp
    (tmp / "config.toml").write_text(CHANNELS, encoding="utf-8")
    TEST_SIGNER.write(tmp / "keys")
    with pytest.MonkeyPatch.context() as mp, stack.log.open("w") as log:
        mp.setenv("SOPFLOW_CONFIG", str(tmp / "config.toml"))
        mp.setenv("SOPFLOW_ARTIFACTS", str(tmp / "artifacts"))
        mp.setenv("SOPFLOW_DISCLOSURE_LOG", str(tmp / "disclosure-log.jsonl"))
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        for name in ("SOPFLOW_USER", "SOPFLOW_DATA_ROUTING", "TEMPORAL_NAMESPACE"):
            mp.delenv(name, raising=False)
        mp.delenv("SOPFLOW_API_URL", raising=False)
        # The log channel writes here, not into the output CliRunner captures.
        structlog.configure(
            processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(log),
        )
        ready = threading.Event()
        thread = threading.Thread(target=asyncio.run, args=(_serve(stack, ready),), daemon=True)
        thread.start()
        try:
            assert ready.wait(60), "the dev server did not start"
            if stack.error is not None:
                raise stack.error
            yield stack
        finally:
            if stack.loop is not None and stack.stop is not None:
                stack.loop.call_soon_threadsafe(stack.stop.set)
            thread.join(30)
            structlog.reset_defaults()


# --- helpers


def cli(
    stack: Stack, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> Result:
    """Run one command; whatever happens, no traceback escapes."""
    result = runner.invoke(app, list(args), env={**stack.env, **(env or {})}, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def ok(stack: Stack, *args: str) -> str:
    result = cli(stack, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def start(stack: Stack, ref: str, region: str, data: dict[str, Any], opener: str) -> str:
    path = stack.tmp / f"input-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = ok(
        stack, "incident", "start", ref, "--region", region, "--input", str(path), "--as", opener
    )
    last = out.strip().splitlines()[-1]
    assert ID_LINE.match(last), out
    return last


def show(stack: Stack, incident: str) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(ok(stack, "incident", "show", incident, "--json"))
    return view


def step(view: dict[str, Any], step_id: str) -> dict[str, Any]:
    [found] = [s for s in view["steps"] if s["id"] == step_id]
    return dict(found)


def until(
    stack: Stack, incident: str, ready: Callable[[dict[str, Any]], bool], deadline: float = 20.0
) -> dict[str, Any]:
    stop = time.monotonic() + deadline
    while True:
        view = show(stack, incident)
        if ready(view):
            return view
        if time.monotonic() > stop:
            raise AssertionError(f"not reached before the deadline: {json.dumps(view)[:2000]}")
        time.sleep(0.05)


def active(step_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda view: step(view, step_id)["status"] == "active"


def held(*step_ids: str) -> Callable[[dict[str, Any]], bool]:
    """Every step active with its due time: a step that follows the sun has it once the Rota
    has said which desk holds it, and only then takes actions."""
    return lambda view: all(active(s)(view) and step(view, s)["due_at"] for s in step_ids)


def closed(view: dict[str, Any]) -> bool:
    return bool(view["status"] != "running")


def complete(stack: Stack, incident: str, step_id: str, who: str, data: dict[str, Any]) -> None:
    args = ("task", "complete", incident, step_id, "--as", who, "--data", json.dumps(data))
    ok(stack, *args)


def refused(result: Result, reason: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert f"refused: {reason}" in result.stderr, result.stderr


def kinds(view: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in view["timeline"]]


# --- tests


def test_start_refuses_an_input_that_does_not_fit_the_schema(stack: Stack) -> None:
    bad = {**THREAT, "detected_at": "yesterday", "content_ids": [], "reach": "everyone"}
    del bad["account_id"]
    path = stack.tmp / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    result = cli(
        stack, "incident", "start", "threat-to-life", "--region", "US", "--input", str(path)
    )
    assert result.exit_code == 1 and result.stdout == ""
    # Without a version the latest is started, so the latest's schema refuses it.
    plans = lint_library(SHIPPED).plans
    latest = max(v for i, v, r in plans if (i, r) == ("threat-to-life", "US"))
    assert f"does not fit threat-to-life@{latest} (US)'s input schema (4 problems)" in result.stderr
    for line in (
        "$: 'account_id' is a required property",
        "$.content_ids: [] should be non-empty",
        "$.detected_at: 'yesterday' is not a 'date-time'",
        "$.reach: 'everyone' is not one of",
    ):
        assert line in result.stderr
    path.write_text("[1, 2", encoding="utf-8")
    result = cli(stack, "incident", "start", "threat-to-life", "-r", "US", "-i", str(path))
    assert result.exit_code == 1 and "the input is not valid JSON" in result.stderr
    good = stack.tmp / "good.json"
    good.write_text(json.dumps(THREAT), encoding="utf-8")
    args = ("incident", "start", "threat-to-life", "-r", "US", "-i", str(good))
    result = cli(stack, *args, "--as", "nobody")
    assert result.exit_code == 1 and "no person 'nobody' in the roster" in result.stderr
    result = cli(stack, "incident", "start", "threat-to-life", "-r", "DE", "-i", str(good))
    assert result.exit_code == 1 and "has no DE variant" in result.stderr


def test_a_threat_to_life_incident_from_start_to_outcome(stack: Stack) -> None:
    incident = start(stack, "threat-to-life@2", "US", referral(), "dokafor")
    view = until(stack, incident, held("assess"))
    assert set(view) == {
        "id", "sop", "version", "region", "plan_hash", "status", "outcome", "severity",
        "steps", "timeline", "links", "migrations",
    }  # fmt: skip
    assert (view["links"], view["migrations"]) == ([], [])
    plan = lint_library(SHIPPED).plans[("threat-to-life", 2, "US")]
    assert (view["id"], view["sop"], view["version"], view["region"]) == (
        incident, "threat-to-life", 2, "US"
    )  # fmt: skip
    assert (view["plan_hash"], view["status"], view["severity"]) == (
        plan.plan_hash, "running", "SEV3"
    )  # fmt: skip
    assess = step(view, "assess")
    assert set(assess) == {"id", "status", "role", "due_at", "output", "desk"}
    assert assess["role"] == "responder" and assess["due_at"].endswith("Z")
    assert assess["desk"] == "US"  # it follows the sun; the US desk is on call (the Rota)
    assert view["timeline"][0]["kind"] == "incident.opened"
    assert view["timeline"][0]["at"].endswith("Z")

    # The queue: the responder role sees the task; a lead does not.
    rows = json.loads(ok(stack, "task", "list", "--role", "responder", "--json"))
    [row] = [r for r in rows if r["incident"] == incident]
    assert (row["step"], row["type"], row["role"], row["overdue"]) == (
        "assess", "task", "responder", False
    )  # fmt: skip
    assert row["due_at"] == assess["due_at"]
    mine = json.loads(ok(stack, "task", "list", "--as", "amoreno", "--json"))
    assert any(r["incident"] == incident for r in mine)
    leads = json.loads(ok(stack, "task", "list", "--as", "dokafor", "--json"))
    assert not any(r["incident"] == incident for r in leads)

    # A wrong person, a bad form: refused with the workflow's reason, nothing recorded.
    form = {
        "credible": False, "harm": "other_harm", "imminence": "none", "location_known": False,
        "rationale": "a joke",
    }  # fmt: skip
    data = json.dumps(form)
    result = cli(stack, "task", "complete", incident, "assess", "--as", "dokafor", "--data", data)
    refused(result, "dokafor does not hold role 'responder', which 'assess' needs")
    bad = json.dumps({**form, "credible": "no"})
    result = cli(stack, "task", "complete", incident, "assess", "--as", "amoreno", "--data", bad)
    refused(result, "the form is not valid: credible: must be boolean")
    result = cli(stack, "task", "complete", incident, "assess", "--as", "zed", "--data", data)
    assert result.exit_code == 1 and "no person 'zed' in the roster" in result.stderr
    assert "task.completed" not in kinds(show(stack, incident))

    complete(stack, incident, "assess", "amoreno", form)
    view = until(stack, incident, held("content_action", "preserve"))
    assert step(view, "assess")["output"] == form and step(view, "assess")["status"] == "done"

    # A note sent twice with the same request id (a retry) is recorded once.
    request = str(uuid.uuid4())
    for _ in range(2):
        note = ("task", "note", incident, "preserve", "--as", "amoreno", "--text", NOTE)
        ok(stack, *note, "--request-id", request)
    result = cli(stack, "task", "note", incident, "nope", "--as", "amoreno", "--text", "hi")
    refused(result, "this incident has no step 'nope'")

    # An external event is recorded on the timeline.
    out = ok(stack, "incident", "signal", incident, "le-acknowledged", "--data", '{"ref": "A1"}')
    assert "le-acknowledged" in out
    complete(stack, incident, "content_action", "amoreno", {"action": "removed"})
    complete(
        stack, incident, "preserve", "slee",
        {"preservation_id": "P-1", "preserved_at": "2025-03-01T11:00:00Z"},
    )  # fmt: skip
    view = until(stack, incident, closed)
    assert (view["status"], view["outcome"]) == ("completed", "resolved")
    notes = [e for e in view["timeline"] if e["kind"] == "note"]
    assert [(n["actor"], n["step"], n["detail"]) for n in notes] == [("amoreno", "preserve", NOTE)]
    assert ("external", "event.received", "le-acknowledged") in [
        (e["actor"], e["kind"], e["detail"]) for e in view["timeline"]
    ]
    assert kinds(view).count("task.completed") == 3

    # Closed: the list says so, and actions are refused.
    listed = json.loads(
        ok(stack, "incident", "list", "--query", "SopId = 'threat-to-life'", "--json")
    )
    [mine_listed] = [r for r in listed if r["id"] == incident]
    assert (mine_listed["sop"], mine_listed["version"], mine_listed["region"]) == (
        "threat-to-life", 2, "US"
    )  # fmt: skip
    assert (mine_listed["status"], mine_listed["outcome"]) == ("completed", "resolved")
    other = json.loads(ok(stack, "incident", "list", "-q", "SopId = 'csea-report'", "--json"))
    assert not any(r["id"] == incident for r in other)
    result = cli(stack, "task", "note", incident, "--as", "amoreno", "--text", "late")
    refused(result, f"incident {incident} is closed")
    human = ok(stack, "incident", "show", incident)
    assert incident in human and "resolved" in human and NOTE in human


def test_approvals_four_eyes_and_a_rejection(stack: Stack) -> None:
    incident = start(stack, "emergency-disclosure@3", "US", EMERGENCY, "amoreno")
    until(stack, incident, active("verify"))
    checks = dict.fromkeys(
        ("letterhead_or_gov_domain", "officer_identified", "danger_described",
         "accounts_identified", "data_justified"),
        True,
    )  # fmt: skip
    complete(stack, incident, "verify", "amoreno", checks)
    # The call-back and counsel's assessment run side by side.
    until(stack, incident, lambda v: active("callback")(v) and active("assess")(v))
    callback = {
        "number_source": "agency_public_directory",
        "result": "confirmed",
        "called_at": "2025-03-01T10:05:00Z",
    }
    complete(stack, incident, "callback", "amoreno", callback)
    until(stack, incident, active("assess"))
    legal = json.loads(ok(stack, "task", "list", "--as", "rhalvorsen", "--json"))
    assert [(r["step"], r["role"]) for r in legal if r["incident"] == incident] == [
        ("assess", "legal")
    ]
    assessment = {
        "danger_of_death_or_serious_injury": True,
        "disclosure_without_delay": True,
        "rationale": "missing person at risk",
    }
    complete(stack, incident, "assess", "rhalvorsen", assessment)
    until(stack, incident, active("scope"))
    scope = {
        "categories": ["basic_subscriber_info"],
        "accounts": ["acct-9"],
        "window_start": "2025-02-28T00:00:00Z",
        "window_end": "2025-03-01T10:00:00Z",
        "justification": "locate the person",
        "contents_relate_to_emergency": False,
    }
    complete(stack, incident, "scope", "rhalvorsen", scope)
    view = until(stack, incident, active("approve"))
    assert step(view, "disclosure")["output"]["decision"] == "needs_approval"
    leads = json.loads(ok(stack, "task", "list", "--as", "dokafor", "--json"))
    assert [(r["step"], r["type"], r["role"]) for r in leads if r["incident"] == incident] == [
        ("approve", "approval", "lead")
    ]

    vote = ("task", "approve", incident, "approve")
    four_eyes = "four eyes: rhalvorsen opened this incident or submitted its work"
    refused(cli(stack, *vote, "--as", "rhalvorsen", "--reason", "ok"), four_eyes)
    refused(cli(stack, *vote, "--as", "amoreno", "--reason", "ok"), "amoreno holds none")
    ok(stack, *vote, "--as", "kowusu", "--reason", "scoped to subscriber info")
    again = cli(stack, *vote, "--as", "kowusu", "--reason", "again")
    refused(again, "kowusu has already voted on 'approve'")
    reject = ("task", "reject", incident, "approve", "--as", "dokafor")
    ok(stack, *reject, "--reason", "call the agency again first")

    # The package and the notice decision ran beside the approval: the incident closes once
    # they are in, and the package's check is skipped (nothing leaves).
    view = until(stack, incident, lambda v: step(v, "approve")["status"] == "done")
    assert view["status"] == "running"
    package = {
        "package_reference": "PKG-1",
        "categories": ["basic_subscriber_info"],
        "accounts": ["acct-9"],
        "window_start": "2025-02-28T00:00:00Z",
        "window_end": "2025-03-01T10:00:00Z",
    }
    complete(stack, incident, "prepare", "amoreno", package)
    notice = {"notify_user": False, "delay": False, "exception": "none", "reason": "nothing sent"}
    complete(stack, incident, "user_notice", "rhalvorsen", notice)

    view = until(stack, incident, closed)
    assert (view["status"], view["outcome"]) == ("completed", "declined")
    votes = [(e["actor"], e["kind"]) for e in view["timeline"] if e["kind"].startswith("vote.")]
    assert votes == [("kowusu", "vote.approve"), ("dokafor", "vote.reject")]
    assert "approval.rejected" in kinds(view) and step(view, "refuse")["status"] == "done"
    assert step(view, "production_qa")["status"] == "skipped"
    assert step(view, "produce")["status"] not in ("active", "done")
    # One notification per idempotency key in the log channel's output.
    keys = [k for k in stack.notification_keys() if k.startswith(incident)]
    assert keys == [f"{incident}/refuse/1/email/0"]


def test_cancel_needs_a_lead(stack: Stack) -> None:
    incident = start(stack, "threat-to-life", "US", referral(), "dokafor")
    until(stack, incident, held("assess"))
    cancel = ("incident", "cancel", incident, "--reason", "duplicate of R-99")
    refused(cli(stack, *cancel, "--as", "amoreno"), "only the 'lead' role can cancel")
    assert "incident.cancelled" not in kinds(show(stack, incident))
    ok(stack, *cancel, "--as", "dokafor")
    view = until(stack, incident, closed)
    assert (view["status"], view["outcome"]) == ("cancelled", "cancelled")
    assert ("dokafor", "incident.cancelled", "duplicate of R-99") in [
        (e["actor"], e["kind"], e["detail"]) for e in view["timeline"]
    ]
    listed = json.loads(ok(stack, "incident", "list", "-q", f"WorkflowId = '{incident}'", "--json"))
    assert [(r["id"], r["status"]) for r in listed] == [(incident, "cancelled")]
    # Closed: no longer in anyone's queue.
    rows = json.loads(ok(stack, "task", "list", "--json"))
    assert not any(r["incident"] == incident for r in rows)


def test_claim_assign_and_step_away(stack: Stack) -> None:
    incident = start(stack, "threat-to-life", "US", referral(), "dokafor")
    until(stack, incident, held("assess"))
    ok(stack, "task", "claim", incident, "assess", "--as", "amoreno")
    assert step(show(stack, incident), "assess")["claimed_by"] == "amoreno"
    taken = cli(stack, "task", "claim", incident, "assess", "--as", "slee")
    refused(taken, "'assess' is with amoreno")
    nobody = ("task", "assign", incident, "assess", "--to", "nobdy", "--text", "rotate")
    wrong = cli(stack, *nobody, "--as", "dokafor")
    assert wrong.exit_code == 1 and "no person 'nobdy' in the Roster" in wrong.stderr
    assign = ("task", "assign", incident, "assess", "--to", "slee", "--text", "rotating")
    refused(cli(stack, *assign, "--as", "amoreno"), "only the 'lead' role assigns work")
    ok(stack, *assign, "--as", "dokafor")
    assert step(show(stack, incident), "assess")["claimed_by"] == "slee"
    out = ok(stack, "away", "--as", "slee", "--text", "a break after a hard one")
    assert f"released assess of {incident}" in out
    view = show(stack, incident)
    assert step(view, "assess").get("claimed_by") is None
    assert ("slee", "work.released", "released: a break after a hard one") in [
        (e["actor"], e["kind"], e["detail"]) for e in view["timeline"]
    ]


def test_usage_and_connection_errors_are_messages(stack: Stack) -> None:
    result = cli(stack, "incident", "show", "inc-20000101-000000")
    assert result.exit_code == 1 and "no incident 'inc-20000101-000000'" in result.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
    result = cli(stack, "incident", "list", env=nowhere)
    assert result.exit_code == 1
    assert f"cannot reach Temporal at 127.0.0.1:{port}" in result.stderr
    result = cli(stack, "incident", "list", "--query", "NoSuchAttribute = 'x'")
    assert result.exit_code == 1 and "NoSuchAttribute" in result.stderr
    result = cli(stack, "task", "note", "x", "--as", "amoreno", "--text", "t", "--request-id", "7")
    assert result.exit_code == 2 and "not a UUID" in result.stderr
    result = cli(stack, "task", "note", "x", "--text", "t")
    assert result.exit_code == 1 and "say who is acting" in result.stderr


async def _started(
    stack: Stack, incident: str
) -> tuple[WorkflowExecutionDescription, dict[str, Any], IncidentInput]:
    """How the incident's workflow was started (then end it: no worker will ever run it)."""
    client = await connect(stack.address, "default")
    incidents = IncidentService(client)
    _handle, desc = await incidents.describe(incident)
    started = (await incidents.history(incident)).events[0]
    payloads = list(started.workflow_execution_started_event_attributes.input.payloads)
    [inp] = await client.data_converter.decode(payloads, [IncidentInput])
    await incidents.terminate(incident, "test over")
    return desc, dict(await desc.memo()), inp


def test_start_sets_the_workflow_up_for_visibility_and_data_routing(stack: Stack) -> None:
    env = {"SOPFLOW_TASK_QUEUE": "nobody-polls", "SOPFLOW_DATA_ROUTING": "region"}
    args = ("incident", "start", "threat-to-life@2", "-r", "UK", "--input", "-", "--as", "pshah")
    data = referral()
    result = cli(stack, *args, env=env, stdin=json.dumps(data))
    assert result.exit_code == 0, result.stderr
    incident = result.stdout.strip().splitlines()[-1]
    desc, memo, inp = asyncio.run(_started(stack, incident))
    assert (desc.workflow_type, desc.task_queue) == ("threat-to-life", "nobody-polls")
    attrs = desc.typed_search_attributes
    assert (attrs.get(search.SOP_ID), attrs.get(search.SOP_VERSION)) == ("threat-to-life", 2)
    assert attrs.get(search.REGION) == "UK"
    assert memo == {
        "title": "Proactive threat-to-life referral", "sop": "threat-to-life@2", "region": "UK"
    }  # fmt: skip
    assert (inp.incident_id, inp.opened_by, inp.input) == (incident, "pshah", data)
    assert inp.data_task_queue == "nobody-polls-data-UK"
    assert inp.plan.plan_hash == lint_library(SHIPPED).plans[("threat-to-life", 2, "UK")].plan_hash
    result = cli(stack, *args, env={"SOPFLOW_DATA_ROUTING": "regional"}, stdin=json.dumps(THREAT))
    assert result.exit_code == 1 and "SOPFLOW_DATA_ROUTING" in result.stderr


# --- no server needed


def test_status_without_the_state_comes_from_temporal_and_the_outcome() -> None:
    done = WorkflowExecutionStatus.COMPLETED
    assert incident_status(WorkflowExecutionStatus.RUNNING, None, None) == "running"
    assert incident_status(WorkflowExecutionStatus.TERMINATED, None, None) == "terminated"
    assert incident_status(WorkflowExecutionStatus.CANCELED, None, None) == "cancelled"
    assert incident_status(done, None, "resolved") == "completed"
    assert incident_status(done, None, "cancelled") == "cancelled"
    for outcome in ("sla_spent:verify", "step_failed:notify", "expression_error"):
        assert incident_status(done, None, outcome) == "failed"


def test_input_problems_name_each_path_and_check_date_times() -> None:
    schema = {
        "type": "object",
        "required": ["at"],
        "properties": {"at": {"type": "string", "format": "date-time"}, "n": {"type": "integer"}},
    }
    assert input_problems(schema, {"at": "2025-03-01T10:00:00Z"}) == []
    assert input_problems(schema, {"at": "2025-03-01T10:00:00+01:00", "n": 1}) == []
    assert input_problems(schema, {"at": "2025-03-01 10:00", "n": "x"}) == [
        "$.at: '2025-03-01 10:00' is not a 'date-time'",
        "$.n: 'x' is not of type 'integer'",
    ]
    assert input_problems(schema, {}) == ["$: 'at' is a required property"]
    assert ID_LINE.match(new_incident_id())


DUP_DRILL = """\
apiVersion: sopflow/v1
kind: SOP
id: dup-drill
version: 1
title: Duplicate drill
owner: tests
region: US
input:
  type: object
  required: [account_id]
  properties:
    account_id: {type: string}
    note: {type: string}
correlation: input.account_id
roles:
  responder: {description: Responder}
defaults:
  sla: 1h
steps:
  - id: look
    type: task
    assignee: responder
  - id: done
    type: end
    outcome: resolved
"""


def test_a_duplicate_is_refused_linked_or_attached(stack: Stack) -> None:
    library = stack.tmp / "dup-library"
    if not library.exists():
        shutil.copytree(SHIPPED, library)
        (library / "dup-drill").mkdir()
        (library / "dup-drill" / "v1.yaml").write_text(DUP_DRILL, encoding="utf-8")
    root = ("-d", str(library))

    def begin(account: str, *extra: str) -> Result:
        path = stack.tmp / f"dup-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps({"account_id": account, "note": "r"}), encoding="utf-8")
        args = ("incident", "start", "dup-drill", "--region", "US", "--input", str(path))
        return cli(stack, *args, "--as", "amoreno", *root, *extra)

    account = f"acct-{uuid.uuid4().hex[:6]}"
    first = begin(account)
    assert first.exit_code == 0, first.stderr
    open_id = first.stdout.strip().splitlines()[-1]
    until(stack, open_id, active("look"))
    again = begin(account)
    refused(again, f"{open_id} is open about the same case (dup-drill by `input.account_id`)")
    linked = begin(account, "--if-duplicate", "start")
    assert linked.exit_code == 0, linked.stderr
    new_id = linked.stdout.strip().splitlines()[-1]
    assert new_id != open_id
    view = until(stack, new_id, active("look"))
    assert ("amoreno", "incident.linked", f"duplicate of {open_id}") in [
        (e["actor"], e["kind"], e["detail"]) for e in view["timeline"]
    ]
    back = until(stack, open_id, lambda v: "incident.linked" in kinds(v))
    assert f"duplicate opened: {new_id}" in [e["detail"] for e in back["timeline"]]
    attached = begin(account, "--if-duplicate", "attach")
    assert attached.exit_code == 0, attached.stderr
    assert attached.stdout.strip().splitlines()[-1] == open_id  # the oldest open one
    noted = until(stack, open_id, lambda v: "note" in kinds(v))
    assert any(e["detail"].startswith("another report about this case") for e in noted["timeline"])
    other = begin(f"acct-{uuid.uuid4().hex[:6]}")
    assert other.exit_code == 0, other.stderr
    for incident, detail in (
        (open_id, f"duplicate opened: {new_id}"),
        (new_id, f"duplicate of {open_id}"),
    ):
        report = json.loads(ok(stack, "audit", "report", incident, "--format", "json"))
        links = [i["detail"] for i in report["timeline"] if i["kind"] == "incident.linked"]
        assert links == [detail]
