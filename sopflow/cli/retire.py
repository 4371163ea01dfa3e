"""``sopflow retire SOP@VERSION``: a published version that may no longer be started.

Retiring is recorded in the lock (``retired``), beside the plan hashes, so it is reviewed and
versioned with the library. Incidents already running on the version keep it (moving them is
a migration); new starts are refused with the version to use instead, and a start without a
version takes the latest that is not retired.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from sopflow.cli.authoring import DefinitionsOpt, fail, load_linted
from sopflow.language.lockfile import Retired, write_lock


def retire(
    ref: str = typer.Argument(..., metavar="SOP@VERSION"),
    reason: str = typer.Option(..., "--reason", help="Why: shown to anyone who tries to start it."),
    use: int | None = typer.Option(
        None, "--use", help="The version to start instead (default: the latest not retired)."
    ),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Retire a published version: it can no longer be started (running incidents keep
    it); the lock records why and which version to use."""
    sop_id, _, version_text = ref.partition("@")
    if not version_text.isdigit():
        raise fail(f"{ref!r}: name the version to retire, e.g. {sop_id}@1")
    if not reason.strip():
        raise fail("--reason is empty: say why, for whoever tries to start it")
    version = int(version_text)
    result = load_linted(definitions)
    lock = result.lock
    published = sorted(
        int(key.partition("@")[2]) for key in lock.published if key.partition("@")[0] == sop_id
    )
    if version not in published:
        raise fail(f"{sop_id}@{version} is not published (published: {published or 'none'})")
    already = lock.retirement(sop_id, version)
    if already is not None:
        raise fail(
            f"{sop_id}@{version} is already retired ({already.reason}, {already.at}; start "
            f"{sop_id}@{already.use} instead): to change that, edit {lock.path.name} and lint"
        )
    live = [v for v in published if v != version and lock.retirement(sop_id, v) is None]
    instead = use if use is not None else (live[-1] if live else None)
    if instead is None:
        raise fail(f"{sop_id} has no other version to start: publish a corrected one first")
    if instead not in live:
        raise fail(f"--use {instead}: not a published version of {sop_id} that may be started")
    today = datetime.now(UTC).date().isoformat()
    lock.retired[f"{sop_id}@{version}"] = Retired(use=instead, reason=reason.strip(), at=today)
    write_lock(lock)
    print(f"retired {sop_id}@{version}: start {sop_id}@{instead} instead")
    print(f"{lock.path}: {len(lock.retired)} retired", file=sys.stderr)
