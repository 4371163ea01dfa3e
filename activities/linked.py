"""The plan of an incident that another incident's `open_incident` step opens, resolved from
the library in ``$SOPFLOW_DEFINITIONS`` at the time the step runs.

The worker runs for weeks while people publish versions, so the library is linted again only
when one of its files changes. What a person can fix in the library (no such SOP, version or
region yet, a file that does not lint) is a retryable failure: the step waits, its pending
activity saying why. What no fix to the library changes for this incident (its input does not
fit the other SOP's input schema, the version it names is retired) is non-retryable: the step
fails at once and the incident's timeline says why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.links import LinkedPlan, LinkedPlanRequest
from sopflow.contract.names import ACT_LINKED_PLAN, LINK_REFUSED_ERROR_TYPE
from sopflow.contract.plan import Plan
from sopflow.language.input_check import input_problems
from sopflow.language.library import default_definitions

LibraryReader = Callable[[], LintResult]


class LinkedPlans:
    """The `sopflow.linked_plan` activity over a library, as ``read_library`` gives it."""

    def __init__(self, read_library: LibraryReader) -> None:
        self._read_library = read_library

    @activity.defn(name=ACT_LINKED_PLAN)
    def linked_plan(self, request: LinkedPlanRequest) -> LinkedPlan:
        """The plan to start for ``request``, and its data region."""
        result = self._read_library()
        plan = _plan_for(result, request)
        problems = input_problems(plan.input_schema, request.input)
        if problems:
            name = f"{plan.sop.id}@{plan.sop.version} ({plan.region.code})"
            raise _refused(
                f"step {request.step}: the input it builds does not fit {name}'s input schema: "
                + "; ".join(problems)
            )
        return LinkedPlan(plan=plan, data_region=plan.region.data_region or plan.region.code)


def _plan_for(result: LintResult, request: LinkedPlanRequest) -> Plan:
    lib, sop_id = result.library, request.sop
    versions = lib.versions(sop_id)
    if not versions:
        raise _waiting(f"step {request.step}: there is no SOP {sop_id!r} in {lib.root}")
    version = request.version or result.lock.default_version(sop_id, versions)
    if version not in versions:
        raise _waiting(f"step {request.step}: {sop_id} has no version {version} ({versions})")
    retired = result.lock.start_refusal(sop_id, version)
    if retired is not None:
        raise _refused(f"step {request.step}: {retired}")
    key = (sop_id, version, request.region)
    plan = result.plans.get(key)
    if plan is None or result.errors_in(key):
        raise _waiting(
            f"step {request.step}: {sop_id}@{version} has no {request.region} variant that "
            "lints clean (`sopflow lint` says why)"
        )
    return plan


def _waiting(message: str) -> ApplicationError:
    return ApplicationError(message, type="LibraryUnready")


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=LINK_REFUSED_ERROR_TYPE, non_retryable=True)


class LibraryOnDisk:
    """The library in ``root`` (default ``$SOPFLOW_DEFINITIONS``), linted again only when a
    file under it changes (its path, size or modification time)."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._cached: tuple[tuple[tuple[str, int, int], ...], LintResult] | None = None

    def __call__(self) -> LintResult:
        root = self._root or default_definitions()
        if not root.is_dir():
            raise _waiting(f"{root} is not a directory of SOP definitions")
        with self._lock:
            stamp = _stamp(root)
            if self._cached is None or self._cached[0] != stamp:
                self._cached = (stamp, lint_library(root))
            return self._cached[1]


def _stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)
