"""The disclosure check: first-match policy evaluation that fails closed, and the append-only,
hash-chained disclosure log it writes."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.disclosure import disclosure_check, verify_log
from activities.disclosure_log import GENESIS_HASH, canonical_json, record_hash
from sopflow.contract.messages import DisclosureRequest, DisclosureResult
from sopflow.contract.plan import Policy, PolicyRule

pytestmark = pytest.mark.unit

POLICY = Policy(
    id="au-csea-report",
    jurisdiction="AU",
    title="AU referral of child-exploitation material",
    rules=[
        PolicyRule(
            when="request.csea_content && request.au_linked && request.serious_threat",
            decision="allowed",
            legal_basis="APP 6.2(c) with s16A",
            reason=None,
            allow=["reported_content", "account_identifiers"],
        ),
        PolicyRule(
            when="request.csea_content && request.au_linked",
            decision="needs_approval",
            legal_basis="APP 6.2(e)",
            reason=None,
            allow=["reported_content"],
        ),
        PolicyRule(
            when=None,
            decision="denied",
            legal_basis=None,
            reason="Not AU-linked child-exploitation material.",
            allow=[],
        ),
    ],
)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit" / "disclosure-log.jsonl"
    monkeypatch.setenv("SOPFLOW_DISCLOSURE_LOG", str(path))
    return path


def check(facts: dict[str, Any], *, key: str = "inc-7/check/1", **changes: Any) -> DisclosureResult:
    fields: dict[str, Any] = {
        "incident_id": "inc-7",
        "step": "check",
        "sop": "csea-report",
        "version": 1,
        "region": "AU",
        "policy": POLICY,
        "facts": facts,
        "idempotency_key": key,
    }
    return ActivityEnvironment().run(disclosure_check, DisclosureRequest(**(fields | changes)))


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


ALL = {"csea_content": True, "au_linked": True, "serious_threat": True}


def test_the_first_matching_rule_decides(log: Path) -> None:
    allowed = check(ALL, key="k1")
    assert (allowed.decision, allowed.rule) == ("allowed", 0)
    assert allowed.allow == ["reported_content", "account_identifiers"]
    assert allowed.legal_basis == "APP 6.2(c) with s16A"
    assert allowed.policy == "au-csea-report"

    approval = check(ALL | {"serious_threat": False}, key="k2")
    assert (approval.decision, approval.rule) == ("needs_approval", 1)
    assert approval.allow == ["reported_content"]

    # `false && <missing fact>` is false in CEL: no error, the catch-all rule decides.
    denied = check({"csea_content": False}, key="k3")
    assert (denied.decision, denied.rule) == ("denied", 2)
    assert denied.reason == "Not AU-linked child-exploitation material."
    assert denied.allow == []


def test_a_cel_error_denies_with_the_error_as_reason(log: Path) -> None:
    result = check({"csea_content": True, "serious_threat": True})  # au_linked is missing

    assert result.decision == "denied"
    assert result.allow == []
    assert result.rule == 0
    assert result.reason is not None and "no fact 'au_linked'" in result.reason
    [record] = records(log)
    assert record["decision"] == "denied" and record["reason"] == result.reason


def test_a_condition_that_is_not_boolean_denies(log: Path) -> None:
    policy = Policy(
        id="p",
        jurisdiction="US",
        title="t",
        rules=[
            PolicyRule(
                when="request.n", decision="allowed", legal_basis=None, reason=None, allow=["x"]
            )
        ],
    )
    result = check({"n": 1}, policy=policy)
    assert result.decision == "denied"
    assert result.reason is not None and "not true or false" in result.reason


def test_no_matching_rule_fails_closed(log: Path) -> None:
    policy = POLICY.model_copy(update={"rules": POLICY.rules[:2]})
    result = check({"csea_content": False}, policy=policy)
    assert (result.decision, result.rule, result.reason) == ("denied", -1, "no rule matched")


def test_each_check_is_one_chained_record(log: Path) -> None:
    first = check(ALL, key="k1")
    second = check(ALL | {"au_linked": False}, key="k2")

    one, two = records(log)
    assert (one["seq"], two["seq"]) == (1, 2)
    assert one["prev_hash"] == GENESIS_HASH
    assert two["prev_hash"] == one["hash"] == first.record_hash
    assert two["hash"] == second.record_hash
    body = {k: v for k, v in one.items() if k != "hash"}
    assert one["hash"] == record_hash(one)
    assert record_hash(one) != record_hash(body | {"decision": "denied"})
    assert set(one) == {
        "seq", "at", "incident_id", "step", "sop", "version", "region", "policy", "rule",
        "decision", "allow", "legal_basis", "reason", "facts", "idempotency_key",
        "prev_hash", "hash",
    }  # fmt: skip
    assert one["facts"] == ALL and one["incident_id"] == "inc-7" and one["region"] == "AU"
    # Each line is the canonical JSON of its record: what the hash was taken over.
    assert log.read_text(encoding="utf-8").splitlines()[0] == canonical_json(one)
    assert verify_log(log) == (True, None, verify_log(log).message)
    assert "2 records" in verify_log(log).message


def test_a_retry_returns_the_recorded_outcome_and_appends_nothing(log: Path) -> None:
    first = check(ALL)
    before = log.read_bytes()
    again = check(ALL)

    assert again == first
    assert log.read_bytes() == before


def test_a_reused_key_with_another_request_is_refused(log: Path) -> None:
    check(ALL)
    with pytest.raises(ApplicationError) as failure:
        check(ALL | {"serious_threat": False})
    assert failure.value.non_retryable and failure.value.type == "IdempotencyConflict"
    assert "facts" in str(failure.value)
    assert len(records(log)) == 1


def _tamper(path: Path, line: int, **changes: Any) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[line - 1]) | changes
    lines[line - 1] = canonical_json(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_verify_log_finds_an_edited_record(log: Path) -> None:
    for n in range(1, 5):
        check(ALL | {"serious_threat": n % 2 == 0}, key=f"k{n}")
    assert verify_log(log).ok

    _tamper(log, 3, decision="allowed")
    ok, seq, message = verify_log(log)
    assert (ok, seq) == (False, 3)
    assert "edited" in message


def test_verify_log_finds_a_removed_record(log: Path) -> None:
    for n in range(1, 4):
        check(ALL, key=f"k{n}")
    lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")

    ok, seq, _ = verify_log(log)
    assert (ok, seq) == (False, 2)


def test_verify_log_finds_a_rehashed_record_by_the_next_link(log: Path) -> None:
    # An editor who recomputes the record's own hash still breaks the next record's link.
    for n in range(1, 4):
        check(ALL, key=f"k{n}")
    lines = log.read_text(encoding="utf-8").splitlines()
    forged = json.loads(lines[1]) | {"decision": "denied"}
    forged["hash"] = record_hash(forged)
    lines[1] = canonical_json(forged)
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")

    ok, seq, message = verify_log(log)
    assert (ok, seq) == (False, 3)
    assert "prev_hash" in message


def test_verify_log_on_a_missing_or_torn_file(log: Path) -> None:
    assert verify_log(log) == (False, None, f"{log}: no such file")
    check(ALL, key="k1")
    check(ALL, key="k2")
    log.write_bytes(log.read_bytes()[:-10])
    assert verify_log(log)[:2] == (False, 2)


def test_a_torn_log_stops_new_checks_until_repaired(log: Path) -> None:
    check(ALL, key="k1")
    log.write_bytes(log.read_bytes()[:-1])  # the newline lost: a torn write
    with pytest.raises(ApplicationError) as failure:
        check(ALL, key="k2")
    assert failure.value.type == "DisclosureLogUnusable"
    assert not failure.value.non_retryable
    assert "incomplete" in str(failure.value)


def test_concurrent_checks_keep_one_chain(log: Path) -> None:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            check(ALL, key=f"k{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    written = records(log)
    assert [r["seq"] for r in written] == list(range(1, 17))
    assert sorted(r["idempotency_key"] for r in written) == sorted(f"k{n}" for n in range(16))
    assert verify_log(log).ok
