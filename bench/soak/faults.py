"""The faults: each part of the stack SIGKILLed once while the load runs, and started again.

The schedule goes by progress, not by the clock, so a short run and a long one both take
their faults in the middle of the work: a worker when a fifth of the incidents are done, the
API at two fifths, the Temporal server at three fifths. Each part stays down for
``down_s`` seconds before it is started again in place (same port, same SQLite file).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.soak.stack import Part, Stack, restart

SCHEDULE = (("worker", 0.2), ("api", 0.4), ("temporal", 0.6))


@dataclass
class Fault:
    part: str
    killed_at: float  # time.monotonic()
    restarted_at: float = 0.0  # when the part served again
    recovered_at: float | None = None  # the first accepted action sent after the kill

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.killed_at


def _part(stack: Stack, name: str) -> Part:
    return {"worker": stack.workers[0], "api": stack.api, "temporal": stack.server}[name]


async def inject(
    stack: Stack, progress: Callable[[], float], faults: list[Fault], *, down_s: float
) -> None:
    """Kill and restart each part at its point of the schedule; returns when all are done or
    the load finished first (progress 1.0)."""
    for name, at in SCHEDULE:
        while progress() < at:
            if progress() >= 1.0:
                return
            await asyncio.sleep(0.2)
        part = _part(stack, name)
        if name == "temporal":
            stack.cpu_before_restart += stack.server_cpu()
        fault = Fault(name, time.monotonic())
        part.kill()
        faults.append(fault)
        await asyncio.sleep(down_s)
        await restart(stack, part)
        fault.restarted_at = time.monotonic()
