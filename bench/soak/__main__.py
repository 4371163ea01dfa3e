"""``python -m bench.soak``: the load-and-fault soak (see bench/README.md, "Soak").

Starts, all on 127.0.0.1, the Temporal dev server (a SQLite file), two workers, ``sopflow
serve``, a webhook sink and an SMTP sink; opens ``--incidents`` incidents of the four soak
families (``bench/soak_library``) across the US, UK and AU desks, works them through the API
as simulated people (think times, races, wrong actions, forged and replayed signatures,
agencies' events, some SLAs left to run out), SIGKILLs and restarts a worker, the API and
the Temporal server once each, and compares every incident and every side effect with the
oracle. Prints the figures and a PASS/FAIL line per check; exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bench import report
from bench.soak.report import details, figures, print_table, verdicts
from bench.soak.run import Options, soak
from bench.soak.target import TargetError


def _options() -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--responders", type=int, default=40, help="incidents worked at once")
    parser.add_argument("--think", type=float, default=0.5, help="mean think time (s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-faults", action="store_true", help="kill nothing")
    parser.add_argument("--keep", type=Path, help="keep the stack's files (logs, SQLite) here")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    remote = parser.add_argument_group(
        "a deployment instead of a stack of its own (bench/soak/target.py; never killed)"
    )
    remote.add_argument("--api", help="the API's base URL, e.g. https://host/api/v1")
    remote.add_argument("--tokens", type=Path, help="a directory with a token file per person")
    remote.add_argument("--temporal", help="Temporal's frontend, for the signature probes")
    remote.add_argument("--operator-key", type=Path, help="a signing key the workers trust")
    remote.add_argument("--disclosure-log", type=Path, help="the workers' disclosure log")
    remote.add_argument("--artifacts", type=Path, help="the workers' post-mortem directory")
    remote.add_argument("--sink-host", default="127.0.0.1", help="where the sinks listen")
    remote.add_argument("--sink-port", type=int, default=0, help="webhook port; SMTP: +1")
    args = parser.parse_args()
    return Options(
        incidents=args.incidents,
        responders=args.responders,
        think_s=args.think,
        seed=args.seed,
        faults=not args.no_faults and args.api is None,
        keep=args.keep,
        api=args.api,
        tokens=args.tokens,
        temporal=args.temporal,
        operator_key=args.operator_key,
        disclosure_log=args.disclosure_log,
        artifacts=args.artifacts,
        sink_host=args.sink_host,
        sink_port=args.sink_port,
    )


def main() -> int:
    options = _options()
    where = options.api or "a stack of its own on 127.0.0.1"
    faults = "on" if options.faults else "off"
    report.header(f"Soak: {options.incidents} incidents against {where}, faults {faults}")
    try:
        run = asyncio.run(soak(options))
    except (TargetError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    fig = figures(run)
    print_table(run, fig)
    print()
    passed = verdicts(run, fig)
    details(run, fig)
    if "--json" in sys.argv:
        report.emit_json("soak", fig)
    return 0 if passed else 1


if __name__ == "__main__":
    report.run_main(main)
