"""Printing the execution benchmarks' results: a header, tables, verdicts, one JSON line."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any


def header(title: str) -> None:
    """What ran where: the date, the machine and the versions that matter."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{title}")
    print(
        f"{now}; {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"temporalio {version('temporalio')}; pydantic {version('pydantic')}"
    )


def table(headings: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headings], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    for row in cells:
        parts = [
            value.ljust(widths[i]) if i == 0 else value.rjust(widths[i])
            for i, value in enumerate(row)
        ]
        print("  ".join(parts).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def verdict(ok: bool, text: str) -> str:
    """One line: PASS or FAIL, then what was checked."""
    line = f"{'PASS' if ok else 'FAIL'}  {text}"
    print(line)
    return line


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (no interpolation): an observed value."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def emit_json(name: str, figures: dict[str, Any]) -> None:
    """One JSON line with every figure, for scripts that collect them."""
    print(json.dumps({"benchmark": name, **figures}, sort_keys=True, default=str))


def finish(passed: bool, check: bool) -> None:
    """Exit 1 when ``check`` is set and a target failed; 0 otherwise."""
    sys.exit(1 if check and not passed else 0)
