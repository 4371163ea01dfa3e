"""Writing the histories of drills no shipped SOP uses yet to tests/histories/features/,
where tests/test_replay.py replays them with the rest.

The tests that run those drills call :func:`keep` at the end; it writes only when
``SOPFLOW_RECORD_FEATURES=1`` (record again after a deliberate change to what the
interpreter does for such a path, never to make a replay failure go away:
docs/versioning.md)::

    SOPFLOW_RECORD_FEATURES=1 .venv/bin/pytest tests/test_migration.py \
        tests/test_linked_incidents.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from tests.harness import Bench
from tests.record_histories import all_runs

FEATURES = Path(__file__).resolve().parent / "histories" / "features"
MAX_BYTES = 400_000


def recording() -> bool:
    return os.environ.get("SOPFLOW_RECORD_FEATURES") == "1"


async def keep(b: Bench, handle: WorkflowHandle[Any, Any], name: str) -> list[Path]:
    """Write every run of the incident as ``<name>.json`` (``<name>-runN.json`` for more
    than one run), when recording; else nothing."""
    if not recording():
        return []
    # A handle got by id knows no run: its (only) run then, from a describe.
    run_id = handle.first_execution_run_id or handle.run_id or (await handle.describe()).run_id
    runs = await all_runs(b, handle.id, run_id)
    paths = []
    for number, history in enumerate(runs, start=1):
        suffix = f"-run{number}" if len(runs) > 1 else ""
        path = FEATURES / f"{name}{suffix}.json"
        text = history.to_json()
        assert len(text) < MAX_BYTES, f"{path.name} is {len(text)} bytes"
        path.write_text(text + "\n", encoding="utf-8")
        paths.append(path)
    return paths
