"""Lint one library root in-process, once, and say how much of the time the garbage collector took.

Meant for profilers::

    python bench/generate_library.py --out /tmp/lib
    python -m cProfile -s cumtime bench/lint_once.py /tmp/lib | head -n 45

cProfile does not show the collector (its time lands on whatever allocated), so this script
measures it separately with ``gc.callbacks``.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Any

from sopflow.compile.lint import lint_library


class GcTimer:
    """Total wall time spent in garbage collections, per generation."""

    def __init__(self) -> None:
        self.started = 0.0
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            generation = int(info["generation"])
            self.seconds[generation] += time.perf_counter() - self.started
            self.runs[generation] += 1


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "sop_definitions")
    timer = GcTimer()
    gc.callbacks.append(timer)
    start = time.perf_counter()
    result = lint_library(root)
    total = time.perf_counter() - start
    gc.callbacks.remove(timer)
    in_gc = sum(timer.seconds)
    pairs = zip(timer.runs, timer.seconds, strict=True)
    runs = ", ".join(f"gen{g}: {n} in {s:.2f}s" for g, (n, s) in enumerate(pairs))
    print(
        f"lint_library({root}): {total:.2f}s, {len(result.diagnostics)} diagnostics; "
        f"garbage collection {in_gc:.2f}s ({in_gc / total:.0%}; {runs})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
