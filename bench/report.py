"""Printing the execution benchmarks' results: a header, tables, verdicts, one JSON line."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any, NoReturn


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


def run_main(main: Callable[[], object]) -> NoReturn:
    """Run a benchmark's ``main``, then leave without interpreter teardown.

    The Temporal client's Rust threads can abort a finalizing interpreter
    (``Fatal Python error: PyGILState_Release`` or a segfault, temporalio/sdk-python #300),
    turning a finished benchmark into exit 134/139 and stopping ``make bench-workflow``. As in
    ``sopflow.cli.app.main``: flush, then ``os._exit`` with main's status (``SystemExit``'s code,
    1 after an uncaught exception, whose traceback is printed first). Servers and workers are
    stopped by the benchmarks' context managers before ``main`` returns; nothing relies on
    ``atexit``.
    """
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    except BaseException:  # report it as the interpreter would, then exit
        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
