"""What-if settings for the ``--experiment`` option of ``incidents.py``, ``worker_memory.py``
and ``profile_worker.py``: candidate fixes, measured before anyone changes sopflow. Nothing
here is used unless asked for; in the worker process they are set by ``bench_worker``.

- ``passthrough``: a worker setting. The sandbox re-imports (and, without ``.pyc`` files,
  re-compiles) each workflow's module for every run: ``workflows/incident.py``, and also
  ``workflows/conductor.py``, which incident.py's ``imports_passed_through()`` block does not
  protect because ``from workflows import conductor`` resolves through the sandboxed
  ``workflows`` package. Passing the ``workflows`` and ``bench`` packages through skips that,
  for both workflows alike. The cost: the sandbox no longer checks those modules' own imports.
  Since 2026-12-03 ``worker.py`` (and so ``bench_worker``) passes ``workflows`` through by
  default (``workflows/sandbox.py``): this experiment now adds only the hand-written ``bench``.
- ``pyc``: a deployment setting. This machine (like many container images) sets
  ``PYTHONDONTWRITEBYTECODE=1``, so there are no ``.pyc`` files and the sandbox's per-run
  re-import compiles the workflow modules from source each time; the worker gets bytecode
  caching back, with the cache outside the repository (``PYTHONPYCACHEPREFIX``).
- ``lean-cel``: a prototype of an interpreter change, applied to sopflow only. The conductor
  hands CEL the whole context (input, every step's status and output, the incident, now) on
  every evaluation, and the CEL binding converts all of it each time; the prototype passes only
  the top-level names the expression uses (``sopflow.contract.expressions.references``, cached).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from sopflow.contract import expressions
from workflows import conductor

EXPERIMENTS = ("passthrough", "pyc", "lean-cel")
PYCACHE = Path(tempfile.gettempdir(), "sopflow-bench-pycache")


def worker_env(experiments: list[str], max_cached: int | None = None) -> dict[str, str]:
    """``bench.bench_worker``'s environment for these what-if settings (none: empty)."""
    env: dict[str, str] = {}
    if "passthrough" in experiments:
        env["BENCH_PASSTHROUGH"] = "1"
    if "pyc" in experiments:
        env["PYTHONDONTWRITEBYTECODE"] = ""  # empty: unset
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if "lean-cel" in experiments:
        env["BENCH_LEAN_CEL"] = "1"
    if max_cached is not None:
        env["BENCH_MAX_CACHED"] = str(max_cached)
    return env


def passthrough_runner() -> SandboxedWorkflowRunner:
    """The default sandbox with sopflow's and the benchmark's workflow packages passed through."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules("workflows", "bench")
    return SandboxedWorkflowRunner(restrictions=restrictions)


def _lean_evaluate(source: str, variables: Mapping[str, Any]) -> Any:
    names = {name for name, _offset in expressions.references(source).variables}
    used = {name: variables[name] for name in names if name in variables}
    return expressions.compile_expression(source).execute(used)


_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def _lean_render(template: str, variables: Mapping[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        value = _lean_evaluate(match.group(1).strip(), variables)
        return str(value).lower() if isinstance(value, bool) else str(value)

    return _PLACEHOLDER.sub(fill, template)


@contextmanager
def lean_cel() -> Iterator[None]:
    """Patch the conductor (a module passed through the sandbox, so the patch reaches running
    workflows) to evaluate with only the names each expression uses; restored on exit."""
    patches = {"evaluate": _lean_evaluate, "render_template": _lean_render}
    saved = {name: getattr(conductor, name) for name in patches}
    for name, function in patches.items():
        setattr(conductor, name, function)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(conductor, name, function)
