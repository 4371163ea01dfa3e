"""Where a worker's CPU goes: the workflow thread against the rest, with optional cProfile.

``python bench/profile_worker.py [--kind sopflow|hand] [--incidents N] [--experiment X]
[--profile] [--top K] [--save PREFIX]`` runs N incidents of ``incidents.py``'s procedure on
a dev server with the worker's workflow tasks on ONE thread (the SDK's default is a pool; one
thread makes its CPU time measurable), and prints per incident:

- the workflow thread's CPU time (``time.thread_time`` read on that thread): workflow code,
  the sandbox, and payload conversion inside workflows;
- this process's CPU time (``time.process_time``): that, plus the event loop (creating
  sandboxed instances, activity dispatch, payload visiting), the SDK core's threads and, unlike
  ``incidents.py``, the client's calls (here worker and client share the process).

With ``--profile`` both the workflow thread and the event loop run under cProfile (slower; the
figures above then include its overhead) and the top K functions by own time are printed.
Caveat: the sandbox re-imports workflow modules per run, and cProfile keeps only one entry per
(file, line, function), so code of sandboxed modules (``workflows/incident.py``) is
under-counted (``workflows/conductor.py`` too: see README); passed-through modules
(``workflows/runner.py``, ``sopflow/*``, pydantic, temporalio) are counted in full.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from temporalio.worker import Worker

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/profile_worker.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench import experiments
from bench.handwritten import HandIncident
from bench.incidents import Starter, hand_starter, run_batch, sopflow_starter
from bench.noop_activities import Recorder
from bench.sops import AUTOMATED, POLICY, compile_sop
from bench.temporal_env import connect, dev_server, verifying
from workflows.incident import IncidentWorkflow
from workflows.sandbox import workflow_runner

_THREAD_PROFILE = cProfile.Profile()
IDLE = ("SimpleQueue' objects>", "epoll' objects>")


def _print_stats(title: str, profile: cProfile.Profile, top: int) -> None:
    """The top functions by own time, waiting (queue gets, epoll) left out."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    for key in [k for k in stats.stats if k[2].endswith(IDLE)]:  # type: ignore[attr-defined]
        del stats.stats[key]  # type: ignore[attr-defined]
    print(f"\n== {title}, by own time (cProfile)")
    stats.sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("\n".join(line.replace(str(Path.cwd()) + "/", "") for line in lines[start:]))


async def profile(args: argparse.Namespace) -> None:
    plan = compile_sop(AUTOMATED, POLICY)
    start = sopflow_starter(plan) if args.kind == "sopflow" else hand_starter(plan)
    loop_profile = cProfile.Profile()
    runner: dict[str, Any] = {"workflow_runner": workflow_runner()}  # as worker.py
    if "passthrough" in args.experiment:
        runner["workflow_runner"] = experiments.passthrough_runner()
    with ExitStack() as stack:
        if "lean-cel" in args.experiment:
            stack.enter_context(experiments.lean_cel())
        await _profile(args, start, loop_profile, runner)


async def _profile(
    args: argparse.Namespace,
    start: Starter,
    loop_profile: cProfile.Profile,
    runner: dict[str, Any],
) -> None:
    async with dev_server() as server:
        client = await connect(server.address)
        queue = f"bench-profile-{uuid.uuid4().hex[:6]}"
        workflow_thread = ThreadPoolExecutor(max_workers=1)
        with ThreadPoolExecutor(max_workers=16) as activities:
            async with Worker(
                client,
                task_queue=queue,
                workflows=[IncidentWorkflow, HandIncident],
                activities=Recorder().activities(),
                activity_executor=activities,
                workflow_task_executor=workflow_thread,
                interceptors=verifying(),  # as worker.py (this procedure sends no action)
                **runner,
            ):
                await run_batch(client, server, queue, args.kind, start, 20)  # warm-up
                if args.profile:
                    workflow_thread.submit(_THREAD_PROFILE.enable).result()
                    loop_profile.enable()
                thread0 = workflow_thread.submit(time.thread_time).result()
                batch = await run_batch(client, server, queue, args.kind, start, args.incidents)
                thread1 = workflow_thread.submit(time.thread_time).result()
                if args.profile:
                    loop_profile.disable()
                    workflow_thread.submit(_THREAD_PROFILE.disable).result()
        workflow_thread.shutdown()
    n = args.incidents
    print(f"{args.kind}: {n} incidents in {batch.seconds:.2f} s ({batch.rate:.1f}/s)")
    print(f"  workflow thread CPU   {1000 * (thread1 - thread0) / n:6.2f} ms per incident")
    print(f"  process CPU (all)     {1000 * batch.client_cpu / n:6.2f} ms per incident")
    print(f"  dev server CPU        {1000 * batch.server_cpu / n:6.2f} ms per incident")
    if args.profile:
        _print_stats("workflow thread", _THREAD_PROFILE, args.top)
        _print_stats("event loop", loop_profile, args.top)
    if args.profile and args.save:
        _THREAD_PROFILE.dump_stats(f"{args.save}.workflow.prof")
        loop_profile.dump_stats(f"{args.save}.loop.prof")
        print(f"\nsaved {args.save}.workflow.prof and {args.save}.loop.prof (pstats)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kind", choices=["sopflow", "hand"], default="sopflow")
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="run under cProfile")
    parser.add_argument(
        "--experiment", action="append", default=[], choices=["passthrough", "lean-cel"]
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", metavar="PREFIX", help="with --profile: write pstats files")
    args = parser.parse_args()
    report.header(
        f"Worker CPU: {args.kind}, {args.incidents} concurrent incidents (dev server)"
        + (f"; experiments: {', '.join(args.experiment)}" if args.experiment else "")
    )
    asyncio.run(profile(args))


if __name__ == "__main__":
    main()
