"""The console benchmark's figures and how they are printed (see ``bench/console_latency.py``):
the table with ratios to each baseline, the notes under it, the targets, one JSON line."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench import report
from sopflow.client.open_tasks import MARGIN

MAX_PAGE_P99_MS = 200.0
MAX_PUSH_P99_MS = 2000.0
BASELINE_PUSH = "direct action to visibility (baseline)"
# For this long after the last incident settled, each of the index's looks reads again the
# incidents changed in the MARGIN before the look before it: the opening's last burst. The
# inbox pages then are a row of their own, not judged.
SETTLING_S = 2 * MARGIN.total_seconds()
SETTLING = "inbox page, settling"
# Each row, and the baseline its ratios are to (None: a baseline).
ROWS = (
    ("inbox page", "inbox list (baseline)"),
    (SETTLING, "inbox list (baseline)"),
    ("inbox list (baseline)", None),
    ("inbox list RPC only", "inbox list (baseline)"),
    ("incident page", "incident view (baseline)"),
    ("incident view (baseline)", None),
    ("incident view+plan", "incident view (baseline)"),
    ("API action to event", "action (direct)"),
    ("API action to page", "action (direct)"),
    ("direct action to event", BASELINE_PUSH),
    ("direct action to page", BASELINE_PUSH),
    (BASELINE_PUSH, None),
    ("action (API)", "action (direct)"),
    ("action (direct)", None),
)
CHECKS = (
    ("inbox page", MAX_PAGE_P99_MS),
    ("incident page", MAX_PAGE_P99_MS),
    ("API action to event", MAX_PUSH_P99_MS),
    ("direct action to event", MAX_PUSH_P99_MS),
)


@dataclass
class Figures:
    ms: dict[str, list[float]] = field(default_factory=dict)
    cold_inbox_ms: float = 0.0
    # Every inbox request after the cold one: seconds after the last incident settled,
    # milliseconds, and which it was ("settling", "warm-up", "measured").
    inbox_at: list[tuple[float, float, str]] = field(default_factory=list)
    inbox_tasks: int = 0
    listed: int = 0
    fallbacks: int = 0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    open_s: float = 0.0
    settle_s: float = 0.0
    window: dict[str, int] = field(default_factory=dict)
    missed: int = 0
    stale: int = 0
    other_events: int = 0
    heard: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.ms.setdefault(key, []).append(value)


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": report.percentile(values, 50),
        "p90": report.percentile(values, 90),
        "p99": report.percentile(values, 99),
        "mean": statistics.fmean(values),
        "max": max(values),
    }


def print_table(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The table, each row's p50 and p99 against its baseline's; the ratios."""
    ratios = {
        name: {p: table[name][p] / table[base][p] for p in ("p50", "p99")}
        for name, base in ROWS
        if base is not None and name in table and base in table
    }
    print()
    report.table(
        ["ms", "n", "p50", "p90", "p99", "max", "p50 ratio", "p99 ratio"],
        [
            [
                name,
                table[name]["n"],
                *(round(table[name][p], 1) for p in ("p50", "p90", "p99", "max")),
                f"{ratios[name]['p50']:.2f}x" if name in ratios else "",
                f"{ratios[name]['p99']:.2f}x" if name in ratios else "",
            ]
            for name, _base in ROWS
            if name in table
        ],
    )
    print()
    return ratios


def slowest_inbox(figures: Figures, count: int = 3) -> list[tuple[float, float]]:
    """The ``count`` slowest counted inbox pages: (seconds after settling, ms)."""
    counted = [(at, ms) for at, ms, kind in figures.inbox_at if kind == "measured"]
    return sorted(counted, key=lambda pair: -pair[1])[:count]


def print_notes(args: argparse.Namespace, figures: Figures) -> None:
    slow = ", ".join(f"{ms:.0f} ms at {at:.0f} s" for at, ms in slowest_inbox(figures))
    print(
        f"opening: {args.incidents} incidents started in {figures.open_s:.1f} s, all waiting "
        f"at a task after {figures.settle_s:.1f} s"
    )
    print(
        f"inbox: {figures.inbox_tasks} tasks ({figures.listed} incidents listed, "
        f"{figures.fallbacks} without due times in visibility); first (cold) request "
        f"{figures.cold_inbox_ms:.0f} ms; API CPU {figures.cpu_ms['inbox page']:.1f} ms/page; "
        f"slowest measured: {slow} after the last incident settled; settling: the inbox "
        f"in the first {SETTLING_S:.0f} s after that (not judged)"
    )
    print(f"incident page: API CPU {figures.cpu_ms['incident page']:.1f} ms/page")
    print(
        f"action to another page: the hub's poll listed {figures.window.get('start')} then "
        f"{figures.window.get('end')} incidents; {figures.missed} missed; {figures.stale} pages "
        f"still showing the completed task; events per incident acted on: "
        f"{figures.heard.get('api', 0):.2f} (API), {figures.heard.get('direct', 0):.2f} (direct); "
        f"{figures.other_events} events not waited for"
    )


def verdicts(args: argparse.Namespace, figures: Figures, table: dict[str, Any]) -> bool:
    """PASS or FAIL per target (the pages not judged under the profiler); all passed."""
    passed = True
    for name, limit in CHECKS:
        p99 = table[name]["p99"] if name in table else float("inf")
        ok = p99 < limit
        if "action" in name:
            ok = ok and figures.missed == 0
        if args.profile is not None and "action" not in name:
            print(f"{name}: profiled (latencies inflated, not judged); profile in {args.profile}")
            continue
        passed &= ok
        report.verdict(ok, f"{name} p99 < {limit:.0f} ms ({p99:.0f} ms)")
    return passed


def summarise(args: argparse.Namespace, figures: Figures) -> bool:
    table = {k: stats(v) for k, v in figures.ms.items()}
    ratios = print_table(table)
    print_notes(args, figures)
    passed = verdicts(args, figures, table)
    if args.json:
        report.emit_json(
            "console_latency",
            {
                "incidents": args.incidents,
                "inbox_samples": args.inbox_samples,
                "list_samples": args.list_samples,
                "samples": args.samples,
                "actions": args.actions,
                "ms": table,
                "ratios": ratios,
                "cold_inbox_ms": figures.cold_inbox_ms,
                "inbox_slowest": slowest_inbox(figures),
                "inbox_at": [
                    (round(at, 1), round(ms, 1), kept) for at, ms, kept in figures.inbox_at
                ],
                "inbox_tasks": figures.inbox_tasks,
                "visibility_fallbacks": figures.fallbacks,
                "api_cpu_ms_per_page": figures.cpu_ms,
                "open_s": figures.open_s,
                "settle_s": figures.settle_s,
                "hub_window": figures.window,
                "missed": figures.missed,
                "stale_pages": figures.stale,
                "events_per_action": figures.heard,
                "passed": passed,
            },
        )
    return passed
