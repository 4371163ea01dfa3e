"""The audit commands against a server (the time-skipping test server, reached by the CLI
through ``TEMPORAL_ADDRESS`` as in production), their exit codes and one-line errors, and
``verify-log`` on a disclosure log written by the real disclosure activity."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.disclosure import disclosure_check
from sopflow.audit.report_model import AuditReport
from sopflow.cli.app import app
from sopflow.client.testing import TEST_SIGNER
from sopflow.contract.messages import DisclosureRequest
from sopflow.contract.plan import Policy, PolicyRule
from tests.conftest import SHIPPED
from tests.harness import bench, run
from tests.test_audit_report import audited_incident

pytestmark = pytest.mark.workflow

runner = CliRunner()


def sopflow(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_export_verify_and_report_an_incident_by_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bench() as b:
            incident_id = await audited_incident(b)
            env = {"TEMPORAL_ADDRESS": b.env.client.service_client.config.target_host}

            async def cli(*args: str) -> tuple[int, str, str]:
                # The CLI runs its own event loop: give it a thread, keep the worker going.
                return await asyncio.to_thread(sopflow, *args, env=env)

            path = tmp_path / "export.json"
            code, out, err = await cli("audit", "export", incident_id, "-o", str(path))
            assert code == 0, err
            assert out == "" and err.startswith(f"exported {incident_id}: ")
            data = json.loads(path.read_text(encoding="utf-8"))
            assert data["workflow_id"] == incident_id and len(data["runs"]) > 1
            assert data["namespace"] == "default"
            assert f"digest {data['digest']}" in err

            code, out, _ = await cli("audit", "export", incident_id)
            assert code == 0 and json.loads(out)["runs"] == data["runs"]

            code, online, err = await cli("audit", "report", incident_id, "--format", "json")
            assert code == 0, err
            code, markdown, _ = await cli("audit", "report", incident_id)
            assert code == 0 and markdown.startswith(f"# Audit report: {incident_id}\n")

            code, out, err = await cli("audit", "export", "inc-nope")
            assert code == 1 and err == "error: no incident 'inc-nope' in namespace 'default'\n"
            code, out, err = await cli("audit", "report", "inc-nope")
            assert code == 1 and "no incident 'inc-nope'" in err

        offline_cli = asyncio.to_thread  # the server is gone; the CLI still needs its own loop
        TEST_SIGNER.write(tmp_path / "keys")
        code, out, err = await offline_cli(
            sopflow,
            "audit",
            "verify",
            str(path),
            "-d",
            str(SHIPPED),
            "--keys",
            str(tmp_path / "keys"),
        )
        assert code == 0, out + err
        assert "ok    signatures: 4 signed action(s), each by a trusted key (4 by test " in out
        assert "ok    published: not checked" in out  # the test SOP is not in the lock
        _, text, _ = await offline_cli(sopflow, "audit", "report", "-f", "json", str(path))
        offline = AuditReport.model_validate_json(text)
        server = AuditReport.model_validate_json(online)
        assert server.source.kind == "server" and offline.source.kind == "export"
        assert offline.source.digest_ok is True
        skip = {"generated_at", "source"}
        assert offline.model_dump(exclude=skip) == server.model_dump(exclude=skip)

    run(scenario)


def test_an_unreachable_server_is_one_line() -> None:
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:1"}
    for args in (("export", "inc-x"), ("report", "inc-x"), ("replay", "--query", "")):
        code, out, err = sopflow("audit", *args, env=env)
        assert code == 1 and out == ""
        assert err.startswith("error: cannot reach Temporal at 127.0.0.1:1")
        assert len(err.splitlines()) == 1


POLICY = Policy(
    id="us-test",
    jurisdiction="US",
    title="US test policy",
    rules=[
        PolicyRule(
            when=None,
            decision="allowed",
            legal_basis="18 U.S.C. 2702(b)(8)",
            reason=None,
            allow=["basic_subscriber_info"],
        )
    ],
)


def _decide(step: str) -> str:
    request = DisclosureRequest(
        incident_id="inc-log",
        step=step,
        sop="audited",
        version=1,
        region="US",
        policy=POLICY,
        facts={"emergency": True},
        idempotency_key=f"inc-log/{step}/1",
    )
    return disclosure_check(request).record_hash


@pytest.fixture
def disclosure_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log of three decisions by the real activity, at the worker's configured path."""
    path = tmp_path / "disclosure-log.jsonl"
    monkeypatch.setenv("SOPFLOW_DISCLOSURE_LOG", str(path))
    for step in ("check", "recheck", "final"):
        _decide(step)
    return path


def test_verify_log_reads_the_configured_log_by_default(disclosure_log: Path) -> None:
    last = json.loads(disclosure_log.read_text(encoding="utf-8").splitlines()[-1])["hash"]
    code, out, _ = sopflow("audit", "verify-log")
    assert code == 0
    assert out == f"{disclosure_log}: 3 records, chain intact; last hash {last}\n"


def test_verify_log_names_the_first_broken_record(disclosure_log: Path) -> None:
    lines = disclosure_log.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[1])
    record["legal_basis"] = "a basis nobody approved"
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    disclosure_log.write_text("".join(lines), encoding="utf-8")
    code, out, err = sopflow("audit", "verify-log", str(disclosure_log))
    assert code == 1 and out == ""
    assert err.startswith(f"error: {disclosure_log}:2: record 2: hash does not match")


def test_verify_log_of_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.jsonl"
    code, _, err = sopflow("audit", "verify-log", str(missing))
    assert code == 1 and err == f"error: {missing}: no such file\n"


def test_unusable_codec_settings_are_one_line() -> None:
    history = Path(__file__).resolve().parent / "histories" / "legal-process-v1-UK.json"
    env = {"SOPFLOW_CODEC_KEYS": "not-a-key"}
    for args in (("verify", str(history)), ("replay", str(history)), ("report", str(history))):
        code, out, err = sopflow("audit", *args, env=env)
        assert code == 1 and out == ""
        assert err.startswith("error: the data converter's settings are unusable: ")
        assert len(err.splitlines()) == 1
