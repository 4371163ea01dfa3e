"""The plans incidents run, read once: a run's input never changes, and many incidents run
the same plan (one SOP version in one region), so plans are kept by hash and runs point at
them.

Concurrent readers of one plan share one read: an inbox over two thousand incidents of a
dozen plans reads a dozen histories, not two thousand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sopflow.contract.plan import Plan

RUN_CACHE_SIZE = 100_000  # run id -> plan hash: ~100 bytes each
PLAN_CACHE_SIZE = 1_000  # distinct plans: SOP versions x regions, with room
ReadPlan = Callable[[str, str | None], Awaitable[Plan]]


@dataclass
class PlanCache:
    """Plans by hash, and which plan each run (``run_id``) runs; ``read`` fetches a run's
    plan from its history when neither is known."""

    read: ReadPlan
    _by_hash: dict[str, Plan] = field(default_factory=dict)
    # Not by incident: a migration (`sopflow migrate`) gives an incident's next run a
    # later plan, so a run's plan is known by its run id or the PlanHash attribute.
    _hash_of_run: dict[str, str] = field(default_factory=dict)
    _reading: dict[str, asyncio.Task[Plan]] = field(default_factory=dict)

    def by_hash(self, plan_hash: str) -> Plan | None:
        """The plan with ``plan_hash`` if it was read before, else None (no I/O)."""
        return self._by_hash.get(plan_hash)

    def known(self, run_id: str) -> Plan | None:
        """The run's plan if it was read before, else None (no I/O)."""
        plan_hash = self._hash_of_run.get(run_id)
        return None if plan_hash is None else self._by_hash.get(plan_hash)

    async def get(self, incident_id: str, run_id: str | None, plan_hash: str | None = None) -> Plan:
        """The plan of ``incident_id``'s run ``run_id`` (its latest run when None), found by
        ``plan_hash`` when the caller knows it (the ``PlanHash`` search attribute)."""
        plan = self._by_hash.get(plan_hash) if plan_hash else None
        if plan is None and run_id is not None:
            plan = self.known(run_id)
        if plan is None:
            plan = await self._read_once(incident_id, run_id, plan_hash)
        self._remember(incident_id, run_id, plan)
        return plan

    async def _read_once(self, incident_id: str, run_id: str | None, plan_hash: str | None) -> Plan:
        """Read the plan, sharing the read with whoever asks for the same plan meanwhile."""
        key = plan_hash or run_id
        if key is None:
            return await self.read(incident_id, run_id)
        task = self._reading.get(key)
        if task is None:
            task = asyncio.ensure_future(self.read(incident_id, run_id))
            self._reading[key] = task
            task.add_done_callback(lambda _done: self._reading.pop(key, None))
        # shield: one caller giving up (a closed request) does not cancel the others' read.
        return await asyncio.shield(task)

    def _remember(self, incident_id: str, run_id: str | None, plan: Plan) -> None:
        # A plan built without sealing (some tests) has no hash: it is kept for its run only.
        key = plan.plan_hash or f"run:{run_id or incident_id}"
        if key not in self._by_hash:
            if len(self._by_hash) >= PLAN_CACHE_SIZE:
                del self._by_hash[next(iter(self._by_hash))]
            self._by_hash[key] = plan
        ids = self._hash_of_run
        if run_id is not None and run_id not in ids:
            if len(ids) >= RUN_CACHE_SIZE:
                del ids[next(iter(ids))]
            ids[run_id] = key
