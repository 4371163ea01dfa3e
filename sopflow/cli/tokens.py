"""``sopflow token``: issue, list and revoke the per-person API tokens.

A token is printed once, by ``issue``, alone on stdout (``TOKEN=$(sopflow token issue
amoreno)``); everything else about it goes to stderr. The store keeps only SHA-256 digests
(``sopflow.api.tokens``), so ``list`` shows ids, owners, times and status, never a secret.
Exit codes: 0 success, 1 a refused request (an unknown person or token id, a store that
cannot be read or written: one line, never a traceback), 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from sopflow.api.tokens import TOKEN_PREFIX, TokenError, TokenRecord, TokenStore
from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import JsonOpt, console, iso, plural, table, to_second
from sopflow.language.durations import DurationError, parse_duration
from sopflow.language.library import default_definitions
from sopflow.language.roster import RosterError, load_roster

token_app = typer.Typer(
    help="Per-person API tokens: issue, list, revoke.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

StoreOpt = typer.Option(
    None,
    "--store",
    metavar="PATH",
    help="The token store (default: $SOPFLOW_TOKENS, then .sopflow/tokens.json).",
    show_default=False,
)


def _store(path: Path | None) -> TokenStore:
    return TokenStore(path) if path is not None else TokenStore.from_env()


def _lifetime(text: str | None) -> timedelta | None:
    """``--expires`` as a timedelta; a bad duration is a usage error (exit 2)."""
    if text is None:
        return None
    try:
        return timedelta(seconds=parse_duration(text))
    except DurationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires") from None


def _token_id(value: str) -> str:
    """The id to revoke: ``value`` itself, or the id inside a whole token pasted by someone
    revoking a leaked one (its secret is never echoed)."""
    if value.startswith(TOKEN_PREFIX) and value.count("_") >= 2:
        return value[len(TOKEN_PREFIX) :].split("_", 1)[0]
    return value


def _row(record: TokenRecord, now: datetime) -> dict[str, str | None]:
    return {
        "id": record.id,
        "user": record.user,
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
        "revoked_at": iso(record.revoked_at),
        "status": record.status(now),
    }


@token_app.command("issue")
def issue(
    user: str = typer.Argument(..., metavar="USER", help="A Roster handle."),
    expires: str | None = typer.Option(
        None,
        "--expires",
        metavar="DURATION",
        help="Lifetime, e.g. 30d, 12h, P90D (default: until revoked).",
        show_default=False,
    ),
    definitions: Path | None = DefinitionsOpt,
    store: Path | None = StoreOpt,
) -> None:
    """Issue a token for a Roster person; print it once, alone on stdout."""
    lifetime = _lifetime(expires)
    try:
        load_roster(definitions or default_definitions()).person(user)
    except RosterError as exc:
        raise fail(str(exc)) from None
    tokens = _store(store)
    try:
        token, record = tokens.issue(user, expires_in=lifetime)
    except TokenError as exc:
        raise fail(str(exc)) from None
    print(token)
    until = f"expires {to_second(iso(record.expires_at))}" if record.expires_at else "no expiry"
    print(
        f"token {record.id} for {user} ({until}): shown once, it cannot be recovered; store it "
        f"in a password manager or your secret store. Revoke it with `sopflow token revoke "
        f"{record.id}`.",
        file=sys.stderr,
    )


@token_app.command("list")
def list_tokens(
    as_json: bool = JsonOpt,
    store: Path | None = StoreOpt,
) -> None:
    """Every token: id, user, created, expires, status (never a secret or its hash)."""
    tokens = _store(store)
    try:
        records = tokens.records()
    except TokenError as exc:
        raise fail(str(exc)) from None
    now = datetime.now(UTC)
    rows = [_row(r, now) for r in records]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    out = table("id", "user", "created", "expires", "status")
    for row in rows:
        out.add_row(
            row["id"],
            row["user"],
            to_second(row["created_at"]),
            to_second(row["expires_at"]) if row["expires_at"] else "never",
            row["status"],
        )
    console().print(out)
    print(f"{plural(len(rows), 'token')} in {tokens.path}", file=sys.stderr)


@token_app.command("revoke")
def revoke(
    token_id: str | None = typer.Argument(
        None, metavar="TOKEN_ID", help="The id `sopflow token list` shows.", show_default=False
    ),
    user: str | None = typer.Option(
        None, "--user", metavar="USER", help="Revoke every token of USER instead."
    ),
    store: Path | None = StoreOpt,
) -> None:
    """Revoke one token by id, or every token of a person with --user.

    The API refuses a revoked token from its next request on."""
    if (token_id is None) == (user is None):
        raise typer.BadParameter("give a TOKEN_ID or --user USER (exactly one)")
    tokens = _store(store)
    try:
        if token_id is not None:
            revoked = tokens.revoke(_token_id(token_id))
        else:
            if not any(r.user == user for r in tokens.records()):
                raise fail(f"{user!r} has no tokens in {tokens.path}")
            revoked = tokens.revoke(user=user)
    except TokenError as exc:
        raise fail(str(exc)) from None
    for record in revoked:
        print(f"revoked {record.id} ({record.user})")
    if not revoked:
        print("nothing to revoke: already revoked", file=sys.stderr)
