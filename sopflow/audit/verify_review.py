"""``sopflow audit verify`` of the post-mortem review an export holds (format 2): that it is
the review this incident started, one chain of runs, and that every ``review_action`` is
signed by a trusted key over exactly what the history records, under the update id made
from its signed request (the same checks as an incident's actions: ``signatures``).

Two lines: ``review`` (what the review is, and that it belongs to this incident) and
``review signatures``. An export without a review whose incident started one (a format 1
export, made before reviews were exported) says so on the ``review`` line and passes: it
proves what it holds, and the review is not in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import WorkflowHistory

from sopflow.audit.envelope import Envelope
from sopflow.audit.history_io import LoadedFile, chain_problems, started
from sopflow.audit.payloads import DecodeError, Decoder
from sopflow.audit.review_io import is_review, review_started
from sopflow.audit.signatures import recorded_actions, summarise
from sopflow.client.signing import KeyRing
from sopflow.contract.names import review_id

Outcome = tuple[bool, str, str]  # passed, the check's name, its detail


async def review_checks(
    loaded: LoadedFile, decoder: Decoder, keys: KeyRing, *, allow_unsigned: bool
) -> list[Outcome]:
    """The ``review`` and ``review signatures`` checks of an export (none when neither the
    export holds a review nor its incident started one)."""
    env = loaded.envelope
    assert env is not None  # verify reads exports only
    started_id = review_started(loaded.runs)
    if env.review is None:
        if started_id is None:
            return []
        detail = (
            f"not in this export: the incident started the review {started_id} "
            "(a format 1 export holds none; export the incident again to include it)"
        )
        return [(True, "review", detail)]
    runs = loaded.review_runs
    problems = _run_problems(runs, env)
    if started_id != env.review.workflow_id:
        problems.append(
            f"the incident's history started {'no review' if started_id is None else started_id}, "
            f"not {env.review.workflow_id}"
        )
    try:
        inp = await decoder.review_input(runs[0], "review run 1")
    except DecodeError as exc:
        return [(False, "review", str(exc)), (False, "review signatures", "cannot be checked")]
    expected = review_id(env.workflow_id)
    if (inp.review_id, inp.incident_id) != (expected, env.workflow_id):
        problems.append(
            f"its input names review {inp.review_id!r} of incident {inp.incident_id!r}, "
            f"not {expected!r} of {env.workflow_id!r}"
        )
    if env.review.workflow_id != expected:
        problems.append(f"the envelope names {env.review.workflow_id!r}, not {expected!r}")
    out: list[Outcome] = []
    if problems:
        out.append((False, "review", "; ".join(problems)))
    else:
        what = f"{inp.review_id}, {len(runs)} run(s), started by the incident's step {inp.step!r}"
        out.append((True, "review", f"{what}, as recorded"))
    actions = await recorded_actions(runs, decoder, inp.review_id, keys)
    ok, detail = summarise(actions, allow_unsigned=allow_unsigned)
    out.append((ok, "review signatures", detail))
    return out


def _run_problems(runs: Sequence[WorkflowHistory], env: Envelope) -> list[str]:
    """What keeps the export's review runs from being one review's chain of runs."""
    assert env.review is not None
    problems = [f"review {p}" for p in chain_problems(runs)]
    for i, (run, listed) in enumerate(zip(runs, env.review.runs, strict=True), start=1):
        if run.run_id != listed.run_id:
            problems.append(f"review run {listed.run_id} holds the history of run {run.run_id}")
        if not is_review(run):
            kind = started(run).workflow_type.name
            problems.append(f"review run {i} is a {kind!r} workflow, not a post-mortem review")
    return problems
