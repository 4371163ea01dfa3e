"""Console latency with many open incidents: the inbox and an incident page on the server, and
how long one person's action takes to reach another person's open page; each against the
same Temporal work done directly in the same run.

``python bench/console_latency.py [--incidents N] [--inbox-samples I] [--list-samples L]
[--samples S] [--actions A] [--warmup W] [--open-in-flight M] [--profile FILE] [--json]
[--check]`` stands up, all on 127.0.0.1 (``bench/console_setup.py``):

- the Temporal dev server (a subprocess, ``bench.temporal_env.dev_server``);
- the worker as production runs it, ``python worker.py`` in its own process
  (``temporal_env.worker_process``: it shares no event loop with the clients measured),
  trusting the action signatures of ``TEST_SIGNER``, a key generated in this process;
- ``sopflow serve`` in a subprocess on a free port (``api_latency.api_process``): the API and
  the console, signing with that same key (``SOPFLOW_SIGNING_KEY``), reading the shipped
  library and its Roster (``SOPFLOW_DEFINITIONS``) and a token store in a temporary
  directory (``SOPFLOW_TOKENS``) with one token per person below.

N incidents (default 2,000) are opened through the incident service directly, 50 at a time,
spread evenly over the shipped library's twelve happy-path rehearsals (four SOP families,
three regions each: their inputs), and left waiting at their first task (``verify``,
``intake``, ``assess``, ``specialist_review``): each one a task for amoreno (responder,
specialist), whose inbox therefore lists N tasks. Then, with a lean keep-alive client
(``bench/console_http.py``: as little client CPU as a browser spends;
``bench/console_pages.py``, ``bench/console_push.py``):

- **inbox**: amoreno signs in with her token (the sign-in form, its CSRF token, the session
  cookie) and ``GET /console/`` I times (default 200) after W warm-ups; the first, cold,
  request apart (the API's index of open tasks lists every running incident once, and no
  plan is read yet). Each request comes at least a second after the one before, so the index
  looks again for what changed every time (as for one person alone on the console). Baseline,
  L times (default 20: every (I / L)-th round, the order rotating): ``list``, the visibility
  list the inbox ran before it read the index (``tasks_for``'s query through
  ``client.list_workflows``, every page consumed) from this process; also the same list as
  the bare RPC (``ListWorkflowExecutions``, every page, nothing decoded), which splits the
  list into the server's part and the SDK's decoding. The inbox pages of the first 20 s after
  the last incident settled are a row of their own (``inbox page, settling``, not judged):
  each look then reads again the incidents changed in the index's 10 s margin before the
  look before it, the opening's last burst. The slowest measured pages are printed with when
  they came.
- **incident page**: ``GET /console/incidents/{id}`` on S different incidents. Baselines:
  ``view``, ``IncidentService.view(id)`` (describe + state query), and ``view+plan``, the
  same plus ``plan(id)``, the plan read the page makes too. Each path has its own incidents,
  drawn alike from all N, so each meets the worker's cache (1,000 workflows by default, below
  N) as it is.
- **action to another page**: amoreno (B) holds ``GET /console/events`` open; slee (A)
  completes the first task of an incident on his desk (US: a person acts on their own
  region's incidents) through the API (``POST
  /api/v1/incidents/{id}/steps/{step}/complete``, bearer token, the rehearsal's form data),
  which moves its active steps, so the console's hub sees it in its once-a-second visibility
  poll. Measured from just before A's request is sent until B's stream delivers a
  ``changed`` event naming that incident; then B fetches the page again as live.js does
  (``action to page``). Baseline, alternating with it on other incidents: the same
  completion through ``IncidentService.act`` directly, then this process polls visibility
  every 20 ms until the step is no longer listed active (the earliest any poller could see
  it). Also reported: the action's own latency, API against direct. The rounds start once
  the hub's poll lists at most 50 incidents (the opening's burst of changes is over; waited
  for two minutes at most), each after a random pause within the hub's one-second period.

Figures are the client's wall time; p50/p90/p99 are nearest-rank. The API process's CPU per
page (``/proc``) is reported too. Targets: inbox and incident page **p99 < 200 ms**, action
to another page **p99 < 2 s**. The exit status is 0 unless ``--check`` is given and a target
fails. ``--profile FILE`` runs the API under cProfile (switched on only while the pages are
measured; the figures are then inflated and not judged) and writes the pstats file FILE.
The shipped SOPs' first due times are 10 and 12 minutes after opening: the defaults finish
before (about 7 minutes in all, 1.5 of them opening the incidents).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/console_latency.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench.console_http import Browser
from bench.console_pages import Pages, measure_inbox, measure_incident_pages
from bench.console_push import quiet_window, run_push
from bench.console_report import Figures, summarise
from bench.console_setup import (
    ACTOR,
    READER,
    Case,
    Stack,
    desk_of,
    load_cases,
    open_incidents,
    stack,
)
from sopflow.web.live import window_query


def split_incidents(
    opened: list[tuple[str, Case]], args: argparse.Namespace
) -> tuple[list[tuple[str, Case]], list[str]]:
    """The incidents the action rounds complete (two a round, of those on ACTOR's desk), and
    the incident pages' incidents (three a round), drawn alike from the rest."""
    ids = [i for i, _ in opened]
    random.Random(7).shuffle(ids)
    desk = desk_of(ACTOR)
    region = {i: c.region for i, c in opened}
    chosen = set([i for i in ids if region[i] == desk][: 2 * (args.warmup + args.actions)])
    pushed = [(i, c) for i, c in opened if i in chosen]
    paged = [i for i in ids if i not in chosen] or ids
    wanted = 3 * (args.samples + args.warmup)
    return pushed, (paged * (1 + wanted // len(paged)))[:wanted]


async def measure_pages(
    rig: Stack,
    pages: Pages,
    incidents: list[str],
    args: argparse.Namespace,
    clock: Callable[[], str],
) -> None:
    """The inbox, then the incident pages (under cProfile if asked)."""
    if args.profile is not None:
        rig.api.send_signal(signal.SIGUSR1)
    lists = min(args.list_samples, args.inbox_samples)
    print(f"{clock()} inbox: {args.warmup} + {args.inbox_samples} rounds, {lists} with the lists")
    await measure_inbox(pages, rig.people[READER].actor, args)
    print(f"{clock()} incident pages: {args.warmup} + {args.samples} rounds")
    await measure_incident_pages(pages, incidents, args)
    if args.profile is not None:
        rig.api.send_signal(signal.SIGUSR2)
        await asyncio.sleep(2)  # let it write the file


async def measure(args: argparse.Namespace, cases: list[Case]) -> Figures:
    figures = Figures()
    print(f"{len(cases)} SOP versions and regions: {', '.join(c.name for c in cases)}")
    async with stack(args.profile) as rig:
        first_open = time.monotonic()
        print(f"opening {args.incidents} incidents, {args.open_in_flight} at a time")
        opened, figures.open_s, figures.settle_s = await open_incidents(rig, cases, args)
        settled = time.monotonic()
        print(
            f"  all {args.incidents} waiting at their first task after "
            f"{figures.settle_s:.1f} s ({args.incidents / figures.settle_s:.1f}/s)"
        )
        pushed, paged = split_incidents(opened, args)
        browser = Browser("127.0.0.1", rig.port)
        try:
            await browser.sign_in(rig.people[READER].token)
            pages = Pages(rig, browser, {c.plan.plan_hash: c.plan for c in cases}, figures, settled)

            def clock() -> str:
                return f"[t+{time.monotonic() - first_open:.0f} s]"

            await measure_pages(rig, pages, paged, args, clock)
            figures.window["start"] = await quiet_window(rig.service)
            print(
                f"{clock()} action to another page: "
                f"{args.warmup} + {args.actions} rounds; {time.monotonic() - settled:.0f} s "
                f"after the last incident settled, the hub's poll lists "
                f"{figures.window['start']} incidents"
            )
            await run_push(rig, browser, pushed, args, figures)
            figures.window["end"] = await rig.service.count(window_query(datetime.now(UTC)))
        finally:
            await browser.close()
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--incidents", type=int, default=2000, help="open incidents (2000)")
    parser.add_argument(
        "--inbox-samples", type=int, default=200, help="inbox rounds (200; ~1 s each)"
    )
    parser.add_argument(
        "--list-samples",
        type=int,
        default=20,
        help="of those, rounds that also time the baseline lists (20; ~3.5 s each at 2,000)",
    )
    parser.add_argument("--samples", type=int, default=50, help="incident pages per path (50)")
    parser.add_argument("--actions", type=int, default=20, help="actions per path (20)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up rounds (3)")
    parser.add_argument(
        "--open-in-flight", type=int, default=50, help="starts in flight when opening (50)"
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the API into FILE")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    for name in ("incidents", "inbox_samples", "list_samples", "samples", "actions"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.open_in_flight < 1:
        parser.error("--open-in-flight must be at least 1")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (the hub's first poll is its baseline)")
    if args.profile is not None:
        args.profile = args.profile.resolve()  # the API runs from the repository root
    return args


def check_desk(args: argparse.Namespace, cases: list[Case]) -> None:
    """Stop (status 1) unless the incidents opened hold two per action round on ACTOR's desk."""
    desk = desk_of(ACTOR)
    mine = sum(cases[i % len(cases)].region == desk for i in range(args.incidents))
    if mine < 2 * (args.warmup + args.actions):
        sys.exit(
            f"--incidents: {mine} of {args.incidents} would be on {ACTOR}'s desk ({desk}); "
            f"the action rounds need 2 x (--warmup + --actions) = "
            f"{2 * (args.warmup + args.actions)}"
        )


def main() -> None:
    args = parse_args()
    cases = load_cases()
    check_desk(args, cases)
    report.header(
        f"Console latency: {args.incidents} open incidents; inbox x {args.inbox_samples} "
        f"(lists x {min(args.list_samples, args.inbox_samples)}), incident page x "
        f"{args.samples}, action to another page x {args.actions} (dev server, lean client)"
    )
    began = time.monotonic()
    figures = asyncio.run(measure(args, cases))
    passed = summarise(args, figures)
    print(f"run took {time.monotonic() - began:.0f} s")
    report.finish(passed, args.check)


if __name__ == "__main__":
    report.run_main(main)
