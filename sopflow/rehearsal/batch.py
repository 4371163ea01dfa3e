"""Playing a batch of rehearsals on one test server and judging each against its `expect`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sopflow.language.roster import RosterError
from sopflow.rehearsal.cases import Case
from sopflow.rehearsal.compare import Mismatch, compare
from sopflow.rehearsal.runner import Observed, RehearsalError, open_stage


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


async def rehearse_all(
    cases: list[Case],
    on_result: Callable[[Result], None] | None = None,
    *,
    test_server: Path | None = None,
) -> list[Result]:
    """Play every rehearsal in turn, each on a fresh time-skipping test server (so each
    starts at the current time, whatever ran before), and compare each with its
    expectations."""
    results = []
    for case in cases:
        result = Result(case)
        try:
            async with open_stage(test_server) as stage:
                result.observed = await stage.play(case)
        except (RehearsalError, RosterError) as exc:
            result.error = str(exc)
        if result.observed is not None:
            result.mismatches = compare(case.doc.expect, result.observed, case.source)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
