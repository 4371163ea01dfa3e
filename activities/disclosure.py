"""The disclosure check: evaluate a jurisdiction's policy against the facts of a request, and
record the outcome in the hash-chained disclosure log.

The rules are tried in order and the first that matches decides; a rule without ``when``
always matches. Everything that is not a clear match fails closed: a condition that cannot be
evaluated, or yields something other than a boolean, denies the disclosure with the error as
the reason, and so does a policy in which no rule matches (which lint rules out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.disclosure_log import (
    DisclosureLogError,
    Verification,
    append_once,
    log_path,
    verify_log,
)
from sopflow.contract.expressions import evaluate
from sopflow.contract.messages import DisclosureRequest, DisclosureResult
from sopflow.contract.names import ACT_DISCLOSURE
from sopflow.contract.plan import Policy

__all__ = ["PolicyDecision", "Verification", "disclosure_check", "evaluate_policy", "verify_log"]

_log = structlog.get_logger(__name__)

# The rule index recorded when no rule matched.
NO_RULE = -1
# Fields that a retry with the same idempotency key must repeat exactly.
_SAME_ON_RETRY = ("incident_id", "step", "sop", "version", "region", "policy", "facts")


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What a policy says about one request. ``rule`` is the index of the rule that decided
    (for an evaluation error, the rule whose condition failed), or -1 when none matched."""

    decision: Literal["allowed", "needs_approval", "denied"]
    rule: int
    allow: list[str] = field(default_factory=list)
    legal_basis: str | None = None
    reason: str | None = None
    error: bool = False


def evaluate_policy(policy: Policy, facts: Mapping[str, Any]) -> PolicyDecision:
    """The first rule of ``policy`` whose condition holds for ``facts``, failing closed."""
    variables = {"request": dict(facts)}
    for index, rule in enumerate(policy.rules):
        if rule.when is not None:
            try:
                value = evaluate(rule.when, variables)
            except Exception as exc:  # any failure of the evaluator denies: fail closed
                return _error(policy, index, _describe_error(exc))
            if not isinstance(value, bool):
                return _error(policy, index, f"gave {type(value).__name__}, not true or false")
            if not value:
                continue
        return PolicyDecision(
            decision=rule.decision,
            rule=index,
            allow=list(rule.allow) if rule.decision != "denied" else [],
            legal_basis=rule.legal_basis,
            reason=rule.reason,
        )
    return PolicyDecision(decision="denied", rule=NO_RULE, reason="no rule matched")


def _error(policy: Policy, index: int, problem: str) -> PolicyDecision:
    when = policy.rules[index].when
    reason = f"policy {policy.id} rule {index} (`{when}`) could not be evaluated: {problem}"
    return PolicyDecision(decision="denied", rule=index, reason=reason, error=True)


def _describe_error(exc: Exception) -> str:
    # The CEL engine reports a missing map key as a bare KeyError('name').
    if isinstance(exc, KeyError) and exc.args:
        return f"no fact {exc.args[0]!r} in the request"
    return f"{type(exc).__name__}: {exc}"


@activity.defn(name=ACT_DISCLOSURE)
def disclosure_check(request: DisclosureRequest) -> DisclosureResult:
    """Decide a disclosure request and record it. A retry with the same idempotency key
    returns the recorded outcome and appends nothing."""
    log = _log.bind(
        incident=request.incident_id, step=request.step, sop=request.sop, policy=request.policy.id
    )
    data = request.model_dump(mode="json")
    outcome = evaluate_policy(request.policy, data["facts"])
    if outcome.error:
        log.warning("disclosure.evaluation_failed", rule=outcome.rule, reason=outcome.reason)
    entry = {
        "incident_id": request.incident_id,
        "step": request.step,
        "sop": request.sop,
        "version": request.version,
        "region": request.region,
        "policy": request.policy.id,
        "rule": outcome.rule,
        "decision": outcome.decision,
        "allow": outcome.allow,
        "legal_basis": outcome.legal_basis,
        "reason": outcome.reason,
        "facts": data["facts"],
    }
    path = log_path()
    try:
        record, appended = append_once(path, entry, key=request.idempotency_key)
    except DisclosureLogError as exc:
        # Retryable: once a person repairs the log, the check can go on; until then no
        # decision is given, which is the closed side.
        raise ApplicationError(str(exc), type="DisclosureLogUnusable") from None
    if not appended:
        _same_request(record, entry)
    log.info(
        "disclosure.recorded" if appended else "disclosure.replayed",
        decision=record["decision"],
        rule=record["rule"],
        seq=record["seq"],
    )
    return DisclosureResult(
        decision=record["decision"],
        allow=record["allow"],
        legal_basis=record["legal_basis"],
        reason=record["reason"],
        policy=record["policy"],
        rule=record["rule"],
        record_hash=record["hash"],
    )


def _same_request(record: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
    """A reused idempotency key must come with the same request; anything else is a bug
    upstream, and answering it with another request's decision would be wrong."""
    differing = [f for f in _SAME_ON_RETRY if record.get(f) != entry[f]]
    if differing:
        raise ApplicationError(
            f"idempotency key {record['idempotency_key']!r} was recorded (seq {record['seq']}) "
            f"for a different request: {', '.join(differing)} differ",
            type="IdempotencyConflict",
            non_retryable=True,
        )
