"""``sopflow audit``: export, verify, replay and report incident histories (in progress)."""

from __future__ import annotations

import typer

audit_app = typer.Typer(
    help="Export, verify, replay and report incident histories.", no_args_is_help=True
)


@audit_app.command("verify-log")
def verify_log() -> None:
    """Placeholder."""
    raise typer.Exit(2)
