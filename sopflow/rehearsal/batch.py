"""Playing a batch of rehearsals on one test server and judging each against its `expect`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sopflow.language.roster import RosterError
from sopflow.rehearsal.cases import Case
from sopflow.rehearsal.compare import Mismatch, compare
from sopflow.rehearsal.observed import Observed
from sopflow.rehearsal.runner import RehearsalError, open_stage


@dataclass
class Result:
    """One rehearsal's verdict: what the incident did, and what differed from `expect`."""

    case: Case
    observed: Observed | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str | None = None  # the rehearsal could not be played

    @property
    def passed(self) -> bool:
        return self.error is None and not self.mismatches


async def rehearse_one(case: Case, *, test_server: Path | None = None) -> Result:
    """Play one rehearsal on a fresh time-skipping test server (so it starts at the current
    time, whatever ran before) and compare it with its expectations."""
    result = Result(case)
    try:
        library = case.library
        reader = None if library is None else lambda: library
        async with open_stage(test_server, rota=case.rota, library=reader) as stage:
            result.observed = await stage.play(case)
    except (RehearsalError, RosterError) as exc:
        result.error = str(exc)
    if result.observed is not None:
        result.mismatches = compare(case.doc.expect, result.observed, case.source)
    return result


async def rehearse_all(
    cases: list[Case],
    on_result: Callable[[Result], None] | None = None,
    *,
    test_server: Path | None = None,
    jobs: int = 1,
) -> list[Result]:
    """Play every rehearsal, up to ``jobs`` at once (each on its own server, so they never
    share a clock), and return the results in the order of ``cases``. ``on_result`` is
    called in that order too, as soon as a result and all before it are in."""
    gate = asyncio.Semaphore(max(jobs, 1))

    async def play(case: Case) -> Result:
        async with gate:
            return await rehearse_one(case, test_server=test_server)

    pending = [asyncio.ensure_future(play(case)) for case in cases]
    results = []
    try:
        for future in pending:
            result = await future
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        for future in pending:
            future.cancel()
    return results
