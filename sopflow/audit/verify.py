"""``sopflow audit verify``: is an export the unchanged history of the incident it claims?

Checks, each reported on its own line:

1. ``digest``: the SHA-256 digest of the envelope (see ``envelope``) matches its content;
2. ``runs``: the runs are one chain of continue-as-new runs, from the incident's first run
   to its last, each a Temporal history that begins with WorkflowExecutionStarted;
3. ``plan``: the plan recorded in the first run's WorkflowExecutionStarted input hashes
   (``Plan.compute_hash``) to the envelope's ``plan_hash`` and to the hash the plan itself
   declares; every later run carries the same plan, or a later version it was moved to by
   a ``migrate`` update (``migrates_from`` names the earlier version). Editing the plan
   inside the history *and* recomputing the digest is caught here, unless the plan hash is
   recomputed too;
   ``claims``: the envelope's workflow id, SOP, version and region are the recorded ones;
4. ``published``: where the library's ``sopflow.lock`` has the plan hash of that SOP
   version and region, the recorded one is it (a recomputed hash no longer is);
5. ``signatures``: every accepted action is signed by one of the given public keys over
   exactly what the history records (``sopflow.audit.signatures``): editing an action and
   recomputing the digest is caught here: no one holding the file holds the signing key;
6. ``review`` and ``review signatures``: an export's post-mortem review is the one this
   incident started, and its actions are signed likewise (``verify_review``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import WorkflowHistory

from sopflow.audit.envelope import Envelope, compute_digest
from sopflow.audit.errors import AuditError
from sopflow.audit.history_io import chain_problems, load_file
from sopflow.audit.payloads import DecodeError, Decoder
from sopflow.audit.signatures import signature_check
from sopflow.audit.verify_review import review_checks
from sopflow.client.signing import KeyRing
from sopflow.contract.names import UPDATE_MIGRATE
from sopflow.contract.plan import Plan
from sopflow.language.lockfile import read_lock


@dataclass(frozen=True)
class Check:
    """One check: passed or not, what it is and what was found."""

    ok: bool
    name: str
    detail: str

    def line(self) -> str:
        """``ok    name: detail`` or ``FAIL  name: detail``."""
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


@dataclass
class Verification:
    """Every check on one file; ``ok`` when all passed."""

    path: Path
    workflow_id: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, ok: bool, name: str, detail: str) -> None:
        """Record one check's result."""
        self.checks.append(Check(ok, name, detail))


async def verify_export(
    path: Path,
    decoder: Decoder,
    library: Path | None,
    *,
    keys: KeyRing,
    allow_unsigned: bool = False,
) -> Verification:
    """Check the export at ``path``, its actions' signatures against ``keys``; unsigned
    actions pass only with ``allow_unsigned``. AuditError when it is not an export at all
    (missing, not JSON, a plain history, a malformed envelope)."""
    loaded = load_file(path, strict=True)
    if loaded.envelope is None:
        raise AuditError(
            f"{path}: a plain Temporal history has no digest to verify; "
            "export the incident with `sopflow audit export`"
        )
    env = loaded.envelope
    result = Verification(path, env.workflow_id)
    events = sum(len(r.events) for r in loaded.runs)
    actual = compute_digest(loaded.data)
    if actual == env.digest:
        result.add(True, "digest", f"{actual} ({len(loaded.runs)} run(s), {events} events)")
    else:
        result.add(False, "digest", f"the file says {env.digest}, its content hashes to {actual}")
    problems = chain_problems(loaded.runs)
    for run, run_id in zip(loaded.runs, (r.run_id for r in env.runs), strict=True):
        if run.run_id != run_id:
            problems.append(f"run {run_id} holds the history of run {run.run_id}")
    if problems:
        result.add(False, "runs", "; ".join(problems))
    else:
        result.add(True, "runs", f"{len(loaded.runs)} run(s), chained from the first run")
    await _check_plan(result, loaded.runs, env, decoder)
    _check_published(result, env, library)
    ok, detail = await signature_check(loaded.runs, decoder, keys, allow_unsigned=allow_unsigned)
    result.add(ok, "signatures", detail)
    for passed, name, found in await review_checks(
        loaded, decoder, keys, allow_unsigned=allow_unsigned
    ):
        result.add(passed, name, found)
    return result


async def _check_plan(
    result: Verification, runs: list[WorkflowHistory], env: Envelope, decoder: Decoder
) -> None:
    try:
        first = await decoder.incident_input(runs[0], "run 1")
    except DecodeError as exc:
        result.add(False, "plan", f"{exc}; the plan hash cannot be checked")
        return
    plan = first.plan
    recomputed = plan.compute_hash()
    if recomputed != env.plan_hash:
        detail = f"the envelope's plan_hash {env.plan_hash} is not {recomputed}, the hash of "
        result.add(False, "plan", detail + "the plan recorded in run 1's start input")
    elif plan.plan_hash != recomputed:
        detail = f"the recorded plan declares {plan.plan_hash} but hashes to {recomputed}"
        result.add(False, "plan", detail)
    else:
        result.add(True, "plan", f"{recomputed} = hash of the plan recorded in run 1's input")
    before, previous = plan, runs[0]
    for i, run in enumerate(runs[1:], start=2):
        try:
            later = (await decoder.incident_input(run, f"run {i}")).plan
        except DecodeError as exc:
            result.add(False, "plan", str(exc))
            continue
        if later.compute_hash() != before.compute_hash():
            problem = _migration_problem(before, later, previous)
            detail = f"run {i} carries another plan (hash {later.compute_hash()})"
            result.add(problem is None, "plan", f"{detail}: {problem or _moved(later)}")
        before, previous = later, run
    started_type = runs[0].events[0].workflow_execution_started_event_attributes.workflow_type
    recorded = {
        "workflow_id": first.incident_id,
        "sop": plan.sop.id,
        "version": plan.sop.version,
        "region": plan.region.code,
    }
    claimed = {
        "workflow_id": env.workflow_id,
        "sop": env.sop,
        "version": env.version,
        "region": env.region,
    }
    wrong = [
        f"{k} {claimed[k]!r} (recorded: {v!r})" for k, v in recorded.items() if claimed[k] != v
    ]
    if started_type.name != plan.sop.id:
        wrong.append(f"workflow type {started_type.name!r} (the plan's SOP: {plan.sop.id!r})")
    if wrong:
        result.add(False, "claims", "the envelope says " + ", ".join(wrong))
    else:
        what = f"{plan.sop.id}@{plan.sop.version} {plan.region.code}, incident {first.incident_id}"
        result.add(True, "claims", f"{what}, as recorded")


def _migration_problem(before: Plan, later: Plan, previous: WorkflowHistory) -> str | None:
    """Why a run's plan cannot be a migration from the run before it, or None: a later
    version of the same SOP and region whose `migrates_from` names the earlier version,
    hashing to what it declares, after a `migrate` update the run before accepted."""
    if later.plan_hash != later.compute_hash():
        return f"it declares {later.plan_hash} but hashes to {later.compute_hash()}"
    same = (later.sop.id, later.region.code) == (before.sop.id, before.region.code)
    mapping = later.migrates_from
    if not same or mapping is None or mapping.version != before.sop.version:
        return f"not a version that migrates from {before.sop.id}@{before.sop.version}"
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in previous.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == UPDATE_MIGRATE
    ]
    return None if accepted else "no `migrate` update was accepted in the run before it"


def _moved(later: Plan) -> str:
    return f"moved to {later.sop.id}@{later.sop.version} by a migration, matching its plan"


def _check_published(result: Verification, env: Envelope, library: Path | None) -> None:
    """Compare with the library's lock, when there is one that knows this SOP version."""
    if library is None:
        return
    lock, problems = read_lock(library)
    if problems or not lock.path.exists():
        why = problems[0].message if problems else "no lock file"
        result.add(True, "published", f"not checked ({lock.path}: {why})")
        return
    published = lock.published.get(f"{env.sop}@{env.version}", {}).get(env.region)
    if published is None:
        where = f"{env.sop}@{env.version} {env.region}"
        result.add(True, "published", f"not checked ({lock.path} does not list {where})")
    elif published == env.plan_hash:
        result.add(True, "published", f"the plan hash is the one {lock.path} records")
    else:
        result.add(
            False,
            "published",
            f"{lock.path} records {published} for {env.sop}@{env.version} {env.region}, "
            f"not {env.plan_hash}: the incident did not run the published plan",
        )
