"""``sopflow rehearse``: run Rehearsal documents on the time-skipping test server (in progress)."""

from __future__ import annotations

import typer


def rehearse() -> None:
    """Placeholder."""
    raise typer.Exit(2)
