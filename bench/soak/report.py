"""The soak's table: figures, then a verdict line per check; exit 1 on any failed check."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench import report
from bench.soak.people import Call
from bench.soak.run import Run

ACTION_KINDS = ("action", "race", "retry")


def _latency(calls: list[Call]) -> tuple[str, str, int]:
    accepted = [c.latency_s * 1000 for c in calls if c.status in (200, 201, 202)]
    if not accepted:
        return "-", "-", 0
    p50, p99 = report.percentile(accepted, 50), report.percentile(accepted, 99)
    return f"{p50:.0f}", f"{p99:.0f}", len(accepted)


def _phases(run: Run, calls: list[Call]) -> list[tuple[str, list[Call]]]:
    """Actions by whether they overlap a fault (from the kill to the recovery) or not."""
    windows = [
        (f.part, f.killed_at, f.recovered_at or f.restarted_at or f.killed_at) for f in run.faults
    ]
    during: dict[str, list[Call]] = {name: [] for name, _, _ in windows}
    calm: list[Call] = []
    for call in calls:
        for name, start, end in windows:
            if call.started <= end and call.started + call.latency_s >= start:
                during[name].append(call)
                break
        else:
            calm.append(call)
    return [("under load (no fault)", calm), *[(f"during {n} kill", c) for n, c in during.items()]]


def recoveries(run: Run, calls: list[Call]) -> None:
    """Each fault's recovery: from the kill to the first accepted action sent after it."""
    for fault in run.faults:
        answered = [
            c.started + c.latency_s
            for c in calls
            if c.status in (200, 201, 202) and c.started >= fault.killed_at
        ]
        fault.recovered_at = min(answered) if answered else None


def figures(run: Run) -> dict[str, Any]:
    assert run.api is not None
    calls = run.api.calls
    actions = [c for c in calls if c.kind in ACTION_KINDS]
    recoveries(run, actions)
    wrong = [c for c in calls if c.kind.startswith("wrong:")]
    refused_right = sum(c.as_expected and c.problem_json for c in wrong)
    races = [r for o in run.outcomes for r in o.races]
    v = run.verdicts
    return {
        "incidents": run.options.incidents,
        "finished": v.finished,
        "mismatched": len(v.mismatched),
        "lost": sum(len(k) for k in v.lost.values()),
        "doubled": sum(len(k) for k in v.doubled.values()),
        "unexpected": sum(len(k) for k in v.unexpected.values()),
        "redelivered": sum(v.redelivered.values()),
        "effects": {s: len(k) for s, k in v.lost.items()},
        "wrong_actions": len(wrong),
        "wrong_refused_right": refused_right,
        "wrong_by_kind": dict(Counter(c.kind for c in wrong)),
        "wrong_mismatched": [(c.kind, c.status) for c in wrong if not c.as_expected][:20],
        "races": len(races),
        "races_one_winner": sum({a, b} == {200, 409} for a, b in races),
        "status_500": sum(c.status is not None and c.status >= 500 for c in calls),
        "transient_5xx": dict(Counter(s for c in calls for s in c.five_xx)),
        "unanswered": sum(c.status is None for c in calls),
        "resent": sum(c.transport_errors > 0 for c in calls),
        "throttled": sum(c.throttled > 0 for c in calls),
        "stale_reads": sum(len(o.stale_reads) for o in run.outcomes),
        "forged_refused": f"{sum(run.checks.forged.values())}/{len(run.checks.forged)}",
        "replay_refused": f"{sum(run.checks.replayed.values())}/{len(run.checks.replayed)}",
        "pm_missing": len(v.postmortems_missing),
        "pm_unexpected": len(v.postmortems_unexpected),
        "plan_problems": run.plan_problems,
        "latency_ms": {name: _latency(cs) for name, cs in _phases(run, actions)},
        "recovery_s": {f.part: f.recovery_s for f in run.faults},
        "worker_peak_rss_mb": run.peak_rss_mb,
        "server_cpu_s": round(run.server_cpu_s, 1),
        "wall_s": round(run.wall_s, 1),
    }


def _of(fig: dict[str, Any], part: str, whole: str) -> str:
    return f"{fig[part]} / {fig[whole]}"


def print_table(run: Run, fig: dict[str, Any]) -> None:
    own = run.options.api is None  # the processes are its own: it can read their figures
    rows: list[list[object]] = [
        ["incidents finished / expected", _of(fig, "finished", "incidents")],
        ["mismatched outcomes or paths", fig["mismatched"]],
        ["side effects lost (by key)", fig["lost"]],
        ["side effects doubled (by key)", fig["doubled"]],
        ["side effects nobody expected", fig["unexpected"]],
        ["redeliveries dropped by key at the sinks", fig["redelivered"]],
        ["wrong actions refused rightly", _of(fig, "wrong_refused_right", "wrong_actions")],
        ["races with exactly one winner", _of(fig, "races_one_winner", "races")],
        ["forged / replayed signatures refused", _of(fig, "forged_refused", "replay_refused")],
        ["final answers 5xx", fig["status_500"]],
        ["5xx met and retried (while a part was down)", _counts(fig["transient_5xx"])],
        ["requests sent again after no answer (API down)", fig["resent"]],
        ["requests sent again after a 429", fig["throttled"]],
        ["actions sent again after a read ahead of the history", fig["stale_reads"]],
        ["requests never answered", fig["unanswered"]],
        ["post-mortems missing / unexpected", _of(fig, "pm_missing", "pm_unexpected")],
        ["worker peak RSS (MiB)", _counts(fig["worker_peak_rss_mb"]) if own else "-"],
        ["Temporal server CPU (s)", fig["server_cpu_s"] if own else "-"],
        ["wall time (s)", fig["wall_s"]],
    ]  # fmt: skip
    report.table(["figure", "value"], rows)
    print()
    report.table(
        ["accepted actions", "p50 ms", "p99 ms", "n"],
        [[name, *values] for name, values in fig["latency_ms"].items()],
    )
    print()
    report.table(
        ["fault (SIGKILL)", "recovery s"],
        [[part, "-" if s is None else f"{s:.1f}"] for part, s in fig["recovery_s"].items()],
    )


def _counts(values: dict[Any, Any]) -> str:
    return (
        ", ".join(
            f"{k}: {v:.0f}" if isinstance(v, float) else f"{k}: {v}" for k, v in values.items()
        )
        or "0"
    )


def verdicts(run: Run, fig: dict[str, Any]) -> bool:
    """One PASS/FAIL line per check (SKIP for what the target cannot show, which is never a
    pass: the reason follows); True when none fails."""
    effects_once = fig["lost"] == 0 and fig["doubled"] == 0 and fig["unexpected"] == 0
    signatures = _all(fig["forged_refused"]) and _all(fig["replay_refused"])
    postmortems = fig["pm_missing"] == 0 and fig["pm_unexpected"] == 0
    answered = fig["status_500"] == 0 and fig["unanswered"] == 0
    recovered = len(run.faults) == 3 and all(f.recovery_s is not None for f in run.faults)
    checks = [
        (fig["finished"] == fig["incidents"], "every incident finished", ""),
        (fig["mismatched"] == 0, "every outcome and path as the oracle says", ""),
        (effects_once, "every side effect arrived once, by key", ""),
        (fig["wrong_refused_right"] == fig["wrong_actions"],
         "every wrong action refused with its status, as problem+json", ""),
        (fig["races_one_winner"] == fig["races"], "every race had one winner", ""),
        (signatures, "every forged and replayed signature refused", "signatures"),
        (answered, "no request ended in a 5xx or unanswered", ""),
        (postmortems, "a post-mortem for each SEV0 referral, and no other", "postmortems"),
        (not fig["plan_problems"], "the oracle's steps are the plans' steps", ""),
        (recovered, "each fault struck and the stack recovered", "faults"),
    ]  # fmt: skip
    passed = True
    for ok, text, needs in checks:
        if needs and needs in run.skipped:
            print(f"SKIP  {text}")
            continue
        passed = report.verdict(ok, text).startswith("PASS") and passed
    for line in run.unchecked:
        print(f"      not checked here: {line}")
    return passed


def _all(ratio: str) -> bool:
    done, total = ratio.split("/")
    return done == total and int(total) > 0


def details(run: Run, fig: dict[str, Any], limit: int = 15) -> None:
    """The first disagreements of each kind, to start looking from."""
    v = run.verdicts
    for outcome in run.outcomes:
        for race in outcome.races:
            if set(race) != {200, 409}:
                print(f"  race      {outcome.scenario.incident_id} answered {race}")
    for kind, status in fig["wrong_mismatched"][:limit]:
        print(f"  refusal   {kind} answered {status}")
    for line in v.mismatched[:limit]:
        print(f"  mismatch  {line}")
    for label, by_sink in (("lost", v.lost), ("doubled", v.doubled), ("unexpected", v.unexpected)):
        for sink, keys in by_sink.items():
            for key in keys[:limit]:
                print(f"  {label:<10}{sink}: {key}")
