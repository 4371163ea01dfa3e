"""Replay throughput: ``sopflow audit replay``'s path against replaying a hand-written
workflow's histories doing the same work.

``python bench/replay.py [--histories N] [--rounds R] [--json] [--check]`` records N
incidents of each kind on a Temporal dev server (127.0.0.1, SQLite in memory) with one
``bench.bench_worker`` process serving both: sopflow's ``IncidentWorkflow`` running
``sops.AUTOMATED`` (enrich and triage, a decision, five notifications, a disclosure check,
end) and ``handwritten.HandIncident``, which makes the same seven activity calls in the same
order (``incidents.py`` checks that); the worker verifies action signatures as ``worker.py``'s
does, though this procedure sends none. sopflow's incidents are written as audit exports
(``sopflow.audit.export``), the hand-written ones as plain Temporal JSON histories
(``WorkflowHistory.to_json``), into a temporary directory.

Then, in this process, R rounds alternate (sopflow first in odd rounds), each timing the
replay of all N files from disk:

- sopflow: the code behind ``sopflow audit replay FILE...``: ``replay.file_items`` (read,
  parse the envelope, every run) into ``replay.replay_items`` (one ``Replayer`` with
  ``IncidentWorkflow``, sopflow's data converter, the default sandbox), every outcome checked;
- hand-written: each file read and parsed with ``WorkflowHistory.from_json``, then
  ``Replayer(workflows=[HandIncident], data_converter=pydantic_data_converter)
  .replay_workflows(...)``: the least code that replays histories with the SDK.

Each figure is N / wall time; each round gives a ratio sopflow/hand-written, and the figure
is the median of the rounds' ratios. A warm-up round of each comes first (imports, the
sandbox's first module loads). For reference, the command itself is also timed once in a
subprocess (``sopflow audit replay`` on the N exports: interpreter start-up included).

Target: sopflow at least 0.8x the hand-written rate. The exit status is 0 unless ``--check``
is given and the target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/replay.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench.handwritten import HandIncident
from bench.incidents import hand_starter, run_batch, sopflow_starter
from bench.sops import AUTOMATED, POLICY, compile_sop
from bench.temporal_env import BENCH_WORKER, connect, dev_server, worker_process
from sopflow.audit.envelope import dump_envelope
from sopflow.audit.export import export_incident
from sopflow.audit.payloads import Decoder
from sopflow.audit.replay import file_items, replay_items
from sopflow.client.incidents import IncidentService

MIN_RATIO = 0.8
KINDS = ("sopflow", "hand")
CLI = Path(sys.executable).parent / "sopflow"


async def record(n: int, out: Path) -> dict[str, list[Path]]:
    """N incidents of each kind, run to completion, their histories written under ``out``."""
    plan = compile_sop(AUTOMATED, POLICY)
    queue = f"bench-replay-{uuid.uuid4().hex[:6]}"
    files: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    env = {"BENCH_WORKFLOWS": "sopflow,hand-incident"}
    async with dev_server() as server:
        client = await connect(server.address)
        async with worker_process(BENCH_WORKER, server.address, queue, env):
            sop = await run_batch(client, server, queue, "sopflow", sopflow_starter(plan), n)
            hand = await run_batch(client, server, queue, "hand", hand_starter(plan), n)
        decoder = Decoder(pydantic_data_converter)
        incidents = IncidentService(client, task_queue=queue)
        for wid in sop.ids:
            envelope, _ = await export_incident(incidents, wid, decoder)
            path = out / f"{wid}.json"
            path.write_text(dump_envelope(envelope), encoding="utf-8")
            files["sopflow"].append(path)
        for wid in hand.ids:
            history = await incidents.history(wid)  # a plain workflow's history, all the same
            path = out / f"{wid}.json"
            path.write_text(history.to_json() + "\n", encoding="utf-8")
            files["hand"].append(path)
    return files


async def replay_sopflow(paths: list[Path]) -> float:
    """sopflow's path, as ``sopflow audit replay`` runs it; seconds for all of ``paths``."""
    began = time.perf_counter()
    count = 0
    async for outcome in replay_items(file_items(paths), pydantic_data_converter):
        if not outcome.ok:
            raise RuntimeError(f"sopflow history failed to replay: {outcome.line()}")
        count += 1
    seconds = time.perf_counter() - began
    if count != len(paths):
        raise RuntimeError(f"replayed {count} sopflow histories, not {len(paths)}")
    return seconds


async def replay_hand(paths: list[Path]) -> float:
    """The baseline: read, ``from_json``, one ``Replayer`` over all of them."""
    began = time.perf_counter()

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in paths:
            yield WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))

    replayer = Replayer(workflows=[HandIncident], data_converter=pydantic_data_converter)
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    seconds = time.perf_counter() - began
    if results.replay_failures:
        raise RuntimeError(f"hand-written histories failed: {dict(results.replay_failures)}")
    return seconds


RUNNERS = {"sopflow": replay_sopflow, "hand": replay_hand}


async def measure(args: argparse.Namespace, files: dict[str, list[Path]]) -> dict[str, Any]:
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for kind in KINDS:
        warm = await RUNNERS[kind](files[kind])
        print(f"warm-up {kind:8} {len(files[kind])} histories in {warm:6.3f} s")
    for round_ in range(args.rounds):
        order = KINDS if round_ % 2 == 0 else KINDS[::-1]
        for kind in order:
            took = await RUNNERS[kind](files[kind])
            seconds[kind].append(took)
            count = len(files[kind])
            print(
                f"round {round_ + 1} {kind:8} {count} histories in {took:6.3f} s "
                f"= {count / took:6.1f}/s"
            )
    return {"seconds": seconds}


def cli_once(paths: list[Path]) -> float:
    """``sopflow audit replay`` on the exports, in a subprocess: what a person waits for."""
    began = time.perf_counter()
    done = subprocess.run(
        [str(CLI), "audit", "replay", *map(str, paths)], capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"sopflow audit replay failed: {done.stderr.strip()}")
    return took


def history_size(paths: list[Path]) -> tuple[int, int]:
    """(events, bytes) of one history file."""
    history = WorkflowHistory.from_json("x", _history_json(paths[0]))
    return len(history.events), paths[0].stat().st_size


def _history_json(path: Path) -> Any:
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    return data["runs"][0]["history"] if "runs" in data else data


def summarise(
    args: argparse.Namespace, files: dict[str, list[Path]], figures: dict[str, Any]
) -> bool:
    seconds: dict[str, list[float]] = figures["seconds"]
    n = {kind: len(files[kind]) for kind in KINDS}
    rates = {kind: [n[kind] / s for s in seconds[kind]] for kind in KINDS}
    print()
    rows: list[list[object]] = []
    for kind in KINDS:
        events, size = history_size(files[kind])
        rows.append([kind, max(rates[kind]), statistics.median(rates[kind]), events, size])
    report.table(["histories", "best/s", "median/s", "events", "file bytes"], rows)
    pairs = [s / h for s, h in zip(rates["sopflow"], rates["hand"], strict=True)]
    ratio = statistics.median(pairs)
    best_ratio = max(rates["sopflow"]) / max(rates["hand"])
    print("\nratio sopflow/hand-written per round: " + ", ".join(f"{r:.2f}x" for r in pairs))
    print(f"  median of the rounds {ratio:.2f}x; of the best rates {best_ratio:.2f}x")
    cli = figures.get("cli_seconds")
    if cli is not None:
        print(f"  `sopflow audit replay` on the {n['sopflow']} exports, subprocess: {cli:.2f} s")
    passed = ratio >= MIN_RATIO
    report.verdict(
        passed, f"sopflow >= {MIN_RATIO:.1f}x the hand-written rate (median {ratio:.2f}x)"
    )
    if args.json:
        report.emit_json(
            "replay",
            {
                "histories": args.histories,
                "rounds": args.rounds,
                "rates": {k: [round(r, 2) for r in v] for k, v in rates.items()},
                "ratio": round(ratio, 3),
                "ratio_best": round(best_ratio, 3),
                "cli_seconds": None if cli is None else round(cli, 3),
                "passed": passed,
            },
        )
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--histories", type=int, default=30, help="of each kind (default 30)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    args = parser.parse_args()
    report.header(
        f"Replay throughput: {args.histories} histories of each kind, {args.rounds} rounds"
    )
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-replay-") as tmp:
        files = asyncio.run(record(args.histories, Path(tmp)))
        print(f"recorded {args.histories} incidents of each kind on the dev server")
        figures = asyncio.run(measure(args, files))
        figures["cli_seconds"] = cli_once(files["sopflow"])
        passed = summarise(args, files, figures)
    report.finish(passed, args.check)


if __name__ == "__main__":
    main()
