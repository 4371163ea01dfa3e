"""Lint throughput: ``sopflow lint`` against a floor of YAML parsing plus JSON Schema validation.

``python bench/lint.py [--sops N] [--repeat R] [--seed S] [--json] [--check]`` generates a
synthetic library (see ``generate_library.py``) into a temporary directory, then measures, best
of R runs each:

(a) ``sopflow lint DIR`` as a user runs it: the CLI in a subprocess, interpreter start-up
    included (the start-up alone is measured too, as the CLI linting an empty directory);
(b) ``lint_library(DIR)`` in-process, with sopflow's memo caches cleared before each run;
(c) the floor: the same files read, parsed with ``yaml.load(..., Loader=CSafeLoader)`` and
    validated with a ``Draft202012Validator`` built once from the published schema.

Targets: (a) at least 500 files/s, and (a) and (b) each at least 0.5x the floor's rate. The exit
status is 0 unless ``--check`` is given and a target fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

try:
    from bench.generate_library import PUBLISHED_SCHEMA, generate
except ModuleNotFoundError:  # run as a script: python bench/lint.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.generate_library import PUBLISHED_SCHEMA, generate

MIN_FILES_PER_S = 500.0
MIN_FLOOR_RATIO = 0.5


@dataclass(frozen=True)
class Figure:
    """One measured configuration: the best wall time of ``runs`` over ``files`` files."""

    name: str
    seconds: float
    files: int
    runs: int

    @property
    def rate(self) -> float:
        return self.files / self.seconds


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The shortest wall time of ``repeat`` calls of ``run``. The garbage collector stays on
    (users run with it), but each call starts from a collected heap, not the last one's litter."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def cli_lint(root: Path) -> None:
    """``sopflow lint ROOT`` in a fresh interpreter; the library must lint clean."""
    cmd = [sys.executable, "-m", "sopflow.cli.app", "lint", str(root)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"sopflow lint failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr}")


def clear_sopflow_caches() -> int:
    """Clear every ``functools`` cache in sopflow's modules, so each run starts cold like
    the CLI does. Returns how many caches were cleared."""
    cleared = 0
    for name, module in list(sys.modules.items()):
        if name != "sopflow" and not name.startswith("sopflow."):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()
                cleared += 1
    return cleared


def in_process_lint(root: Path) -> None:
    """``lint_library(ROOT)`` with cold caches; the library must lint clean."""
    from sopflow.compile.lint import lint_library

    clear_sopflow_caches()
    result = lint_library(root)
    if result.diagnostics:
        listed = "\n".join(str(d) for d in result.diagnostics[:20])
        sys.exit(f"generated library does not lint clean:\n{listed}")


def floor(files: list[Path], validator: Draft202012Validator) -> int:
    """Read, parse and schema-validate every file; returns the number of schema errors."""
    errors = 0
    for file in files:
        doc = yaml.load(file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        errors += sum(1 for _ in validator.iter_errors(doc))
    return errors


def measure(root: Path, files: list[Path], repeat: int) -> dict[str, Figure]:
    """Every figure, best of ``repeat`` each."""
    count = len(files)
    schema: dict[str, Any] = json.loads(PUBLISHED_SCHEMA.read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    errors = floor(files, validator)  # also warms the OS file cache for every figure
    if errors:
        sys.exit(f"the floor found {errors} schema errors in the generated library")
    with tempfile.TemporaryDirectory() as empty:
        startup = best_of(repeat, lambda: cli_lint(Path(empty)))
    return {
        "cli": Figure(
            "sopflow lint (CLI, subprocess)", best_of(repeat, lambda: cli_lint(root)), count, repeat
        ),
        "startup": Figure("  of which start-up (empty dir)", startup, 0, repeat),
        "in_process": Figure(
            "lint_library (in-process)",
            best_of(repeat, lambda: in_process_lint(root)),
            count,
            repeat,
        ),
        "floor": Figure(
            "floor: CSafeLoader + jsonschema",
            best_of(repeat, lambda: floor(files, validator)),
            count,
            repeat,
        ),
    }


Verdict = tuple[str, str, bool]  # (key for machines, text for people, passed)


def verdicts(figs: dict[str, Figure]) -> list[Verdict]:
    """Every target and whether it is met."""
    floor_rate = figs["floor"].rate
    cli, inproc = figs["cli"].rate, figs["in_process"].rate
    return [
        (
            "cli_rate",
            f"sopflow lint >= {MIN_FILES_PER_S:.0f} files/s ({cli:.0f})",
            cli >= MIN_FILES_PER_S,
        ),
        (
            "cli_over_floor",
            f"sopflow lint >= {MIN_FLOOR_RATIO}x floor ({cli / floor_rate:.2f}x)",
            cli >= MIN_FLOOR_RATIO * floor_rate,
        ),
        (
            "in_process_over_floor",
            f"lint_library >= {MIN_FLOOR_RATIO}x floor ({inproc / floor_rate:.2f}x)",
            inproc >= MIN_FLOOR_RATIO * floor_rate,
        ),
    ]


def report(figs: dict[str, Figure], meta: dict[str, Any]) -> list[Verdict]:
    """Print the table, the ratios and the targets; returns the verdicts."""
    print(
        f"library: {meta['files']} files ({meta['sops']} SOPs, {meta['variants']} variants, "
        f"{meta['other']} others), seed {meta['seed']}; best of {meta['repeat']}"
    )
    print(f"{'measure':<36} {'seconds':>9} {'files/s':>9}")
    for fig in figs.values():
        rate = f"{fig.rate:9.0f}" if fig.files else f"{'':>9}"
        print(f"{fig.name:<36} {fig.seconds:9.3f} {rate}")
    floor_rate = figs["floor"].rate
    print(f"ratio (a) sopflow lint / floor: {figs['cli'].rate / floor_rate:.2f}x")
    print(f"ratio (b) lint_library / floor: {figs['in_process'].rate / floor_rate:.2f}x")
    found = verdicts(figs)
    for _, text, passed in found:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    return found


def machine_line(figs: dict[str, Figure], found: list[Verdict], meta: dict[str, Any]) -> str:
    """All figures as one JSON line."""
    body: dict[str, Any] = dict(meta)
    for key, fig in figs.items():
        body[f"{key}_s"] = round(fig.seconds, 4)
        if fig.files:
            body[f"{key}_files_per_s"] = round(fig.rate, 1)
    floor_rate = figs["floor"].rate
    body["cli_over_floor"] = round(figs["cli"].rate / floor_rate, 3)
    body["in_process_over_floor"] = round(figs["in_process"].rate / floor_rate, 3)
    body["targets"] = {key: passed for key, _, passed in found}
    body["pass"] = all(passed for _, _, passed in found)
    return json.dumps(body, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark `sopflow lint` throughput.")
    parser.add_argument("--sops", type=int, default=1000, help="SOPs to generate (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; best wins (3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as tmp:
        root = Path(tmp, "library")
        count = generate(root, args.sops, args.seed)
        files = sorted(p for p in root.rglob("*.yaml"))
        assert len(files) == count
        variants = sum(1 for p in files if p.name != "v1.yaml" and p.parent.name.startswith("gen-"))
        meta = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "files": count,
            "sops": args.sops,
            "variants": variants,
            "other": count - args.sops - variants,
            "seed": args.seed,
            "repeat": args.repeat,
        }
        figs = measure(root, files, args.repeat)
    found = report(figs, meta)
    if args.json:
        print(machine_line(figs, found, meta))
    failed = not all(passed for _, _, passed in found)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
