"""Exports and ``sopflow audit verify``, on the real histories in tests/histories/ (recorded on
the time-skipping server by tests/record_histories.py), including the three-run
continue-as-new incident. Tampering is done the way someone with the file would do it: edit
a payload, then (to get past the digest) recompute the digest, then the plan hash too.
These histories were recorded before actions were signed: verify runs with
``--allow-unsigned`` here (tests/test_audit_signatures.py checks signatures)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from typer.testing import CliRunner

from sopflow.audit.envelope import compute_digest, dump_envelope
from sopflow.audit.export import envelope_from_runs
from sopflow.audit.history_io import load_file, order_runs
from sopflow.audit.payloads import Decoder
from sopflow.cli.app import app
from sopflow.client.signing import TRUSTED_KEYS_ENV
from sopflow.client.testing import TEST_SIGNER
from sopflow.contract.plan import Plan
from tests.conftest import SHIPPED, UNSIGNED_HISTORIES

pytestmark = pytest.mark.unit

HISTORIES = UNSIGNED_HISTORIES
CAN = sorted(HISTORIES.glob("legal-process-v1-US-continue-as-new-run*.json"))
SLA = HISTORIES / "emergency-disclosure-v2-US-sla-breach.json"
runner = CliRunner()


@pytest.fixture(autouse=True)
def trusted_keys(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """verify's keys from the environment, as a deployment configures them."""
    _, public = TEST_SIGNER.write(tmp_path_factory.mktemp("keys"))
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(public))


def export_of(files: list[Path]) -> dict[str, Any]:
    runs = order_runs([load_file(f).runs[0] for f in files], "test")
    return asyncio.run(envelope_from_runs(runs, Decoder()))


def write(tmp_path: Path, data: dict[str, Any], name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(dump_envelope(data), encoding="utf-8")
    return path


def verify(path: Path, *extra: str) -> tuple[int, str, str]:
    args = ["audit", "verify", str(path), "-d", str(SHIPPED), "--allow-unsigned", *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def payload_json(payload: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(payload["data"]))


def set_payload_json(payload: dict[str, Any], value: Any) -> None:
    text = json.dumps(value, separators=(",", ":")).encode()
    payload["data"] = base64.b64encode(text).decode()


def events(data: dict[str, Any], run: int = 0) -> list[dict[str, Any]]:
    history: dict[str, Any] = data["runs"][run]["history"]
    found: list[dict[str, Any]] = history["events"]
    return found


def start_input(data: dict[str, Any], run: int = 0) -> dict[str, Any]:
    attrs = events(data, run)[0]["workflowExecutionStartedEventAttributes"]
    payload: dict[str, Any] = attrs["input"]["payloads"][0]
    return payload


def test_export_of_every_run_verifies_and_each_run_loads_with_from_json(tmp_path: Path) -> None:
    data = export_of(CAN)
    assert [r["run_id"] for r in data["runs"]] == [load_file(f).runs[0].run_id for f in CAN]
    for run in data["runs"]:  # Temporal's own JSON history format, as the files were
        history = WorkflowHistory.from_json(data["workflow_id"], run["history"])
        assert history.run_id == run["run_id"]
    assert (data["sop"], data["version"], data["region"]) == ("legal-process", 1, "US")
    path = write(tmp_path, data)
    code, out, err = verify(path)
    assert code == 0, (out, err)
    lines = out.splitlines()
    assert [line.split(":")[0].split()[-1] for line in lines] == [
        "digest",
        "runs",
        "plan",
        "claims",
        "published",
        "signatures",
    ]
    assert all(line.startswith("ok") for line in lines)
    assert "3 run(s), 88 events" in lines[0]
    assert "verified" in err


def test_the_digest_is_sha256_of_the_canonical_json_without_the_digest(tmp_path: Path) -> None:
    data = export_of([SLA])
    body = {k: v for k, v in data.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["digest"] == "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    # The layout of the file is free: compact, unindented text verifies the same.
    path = tmp_path / "compact.json"
    path.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    assert verify(path)[0] == 0


def _accepted_update(data: dict[str, Any]) -> dict[str, Any]:
    for event in events(data):
        attrs = event.get("workflowExecutionUpdateAcceptedEventAttributes")
        if attrs:
            payload: dict[str, Any] = attrs["acceptedRequest"]["input"]["args"]["payloads"][0]
            return payload
    raise AssertionError("no accepted update in the history")


def test_changing_an_actor_in_the_history_fails_the_digest(tmp_path: Path) -> None:
    data = export_of([SLA])
    payload = _accepted_update(data)
    request = payload_json(payload)
    assert request["actor"]["id"] == "amoreno"
    request["actor"]["id"] = "someone-else"
    set_payload_json(payload, request)
    code, out, err = verify(write(tmp_path, data))
    assert code == 1
    assert out.splitlines()[0].startswith("FAIL  digest: the file says sha256:")
    assert "NOT verified" in err and "Traceback" not in out + err


def test_changing_one_event_field_fails_the_digest(tmp_path: Path) -> None:
    data = export_of(CAN)
    events(data, 1)[3]["eventTime"] = "2020-01-01T00:00:00Z"
    code, out, _ = verify(write(tmp_path, data))
    assert code == 1 and "FAIL  digest" in out


def _tamper_plan(data: dict[str, Any], declare: bool) -> str:
    """Change the legal basis of a policy rule in every run's recorded plan; with
    ``declare``, also rewrite the hash the plan declares. Returns the new hash."""
    new_hash = ""
    for run in range(len(data["runs"])):
        payload = start_input(data, run)
        value = payload_json(payload)
        policy = next(iter(value["plan"]["policies"].values()))
        policy["rules"][0]["legal_basis"] = "a basis nobody approved"
        new_hash = Plan.model_validate(value["plan"]).compute_hash()
        if declare:
            value["plan"]["plan_hash"] = new_hash
        set_payload_json(payload, value)
    return new_hash


def test_editing_the_plan_and_recomputing_the_digest_is_caught(tmp_path: Path) -> None:
    data = export_of(CAN)
    original = data["plan_hash"]
    new_hash = _tamper_plan(data, declare=False)
    data["digest"] = compute_digest(data)
    code, out, _ = verify(write(tmp_path, data))
    assert code == 1
    assert "ok    digest" in out
    assert f"FAIL  plan: the envelope's plan_hash {original} is not {new_hash}" in out


def test_recomputing_the_plan_hash_too_is_caught_by_the_declared_hash(tmp_path: Path) -> None:
    data = export_of(CAN)
    data["plan_hash"] = _tamper_plan(data, declare=False)
    data["digest"] = compute_digest(data)
    code, out, _ = verify(write(tmp_path, data))
    assert code == 1 and "FAIL  plan: the recorded plan declares" in out


def test_a_fully_consistent_forgery_differs_from_the_published_plan(tmp_path: Path) -> None:
    data = export_of(CAN)
    data["plan_hash"] = _tamper_plan(data, declare=True)
    data["digest"] = compute_digest(data)
    code, out, _ = verify(write(tmp_path, data))
    assert code == 1
    assert "ok    plan" in out
    assert "FAIL  published:" in out and "did not run the published plan" in out


def test_claims_in_the_envelope_are_checked_against_the_history(tmp_path: Path) -> None:
    data = export_of([SLA])
    data["region"] = "UK"
    data["digest"] = compute_digest(data)
    code, out, _ = verify(write(tmp_path, data))
    assert code == 1 and "FAIL  claims: the envelope says region 'UK' (recorded: 'US')" in out


def test_a_missing_run_is_caught(tmp_path: Path) -> None:
    data = export_of(CAN)
    del data["runs"][1]
    data["digest"] = compute_digest(data)
    code, out, _ = verify(write(tmp_path, data))
    assert code == 1
    assert "FAIL  runs: run 1 does not continue as run 2" in out


def test_runs_of_one_incident_are_put_in_order_and_strangers_refused() -> None:
    runs = [load_file(f).runs[0] for f in reversed(CAN)]
    assert [r.run_id for r in order_runs(runs, "x")] == [r.run_id for r in reversed(runs)]
    with pytest.raises(Exception, match="not the runs of one incident"):
        order_runs([*runs, load_file(SLA).runs[0]], "x")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON (line 1, column 2"),
        ('{"a": 1}', "neither a sopflow audit export nor a Temporal JSON history"),
        ('{"kind": "sopflow-audit-export", "format": 1}', "not a valid audit export"),
        ('{"events": []}', "the history has no events"),
        ('{"events": [{"eventId": "x"}]}', "not a Temporal JSON history"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_unreadable_files_are_one_clear_line(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "in.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = verify(path)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {path}: ") and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    text = dump_envelope(export_of([SLA]))
    forged = text.replace('"region": "US",', '"region": "US", "region": "UK",', 1)
    path = tmp_path / "dup.json"
    path.write_text(forged, encoding="utf-8")
    code, _, err = verify(path)
    assert code == 1 and "the key 'region' appears twice in one object" in err


def test_a_plain_history_has_nothing_to_verify() -> None:
    code, _, err = verify(SLA)
    assert code == 1 and "a plain Temporal history has no digest to verify" in err
