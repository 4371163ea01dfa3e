"""Who may act on the dev stack: its signing keys, a token per demo person, and the API.

``sopflow dev`` makes, on first use, two action-signing keys under its state directory
(``keys/operator.key`` for the CLI's direct mode, ``keys/api.key`` for the HTTP API; the
worker trusts both), issues an API token for every person in the library's Roster (one file
each under ``dev-tokens/``, so ``sopflow ... --as USER`` works against the API with no
set-up), and starts ``sopflow serve`` with the API's key. Nothing here is for production:
there, keys come from a secret store and tokens are issued per person
(``sopflow token issue``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sopflow.api.tokens import DEV_TOKENS_DIR, TOKENS_ENV, TokenStore, ensure_dev_tokens
from sopflow.client.signing import SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, ensure_dev_keys
from sopflow.language.library import default_definitions
from sopflow.language.roster import RosterError, load_roster


def dev_keys(state_dir: Path) -> Path:
    """The dev action keys, made on first use; returns their directory."""
    keys = state_dir / "keys"
    ensure_dev_keys(keys)
    return keys


def dev_tokens(state_dir: Path) -> str:
    """A token file per Roster person under ``state_dir/dev-tokens``; says what it did."""
    try:
        roster = load_roster(default_definitions())
    except RosterError as exc:
        return f"no API tokens issued ({exc})"
    directory = state_dir / DEV_TOKENS_DIR
    store = TokenStore(state_dir / "tokens.json")
    made = ensure_dev_tokens(store, sorted(roster.people), directory)
    return f"API tokens for the {len(made)} people of the demo roster in {directory}/"


def worker_env(state_dir: Path) -> dict[str, str]:
    """What the worker adds to the stack's environment: the keys it trusts."""
    return {TRUSTED_KEYS_ENV: os.environ.get(TRUSTED_KEYS_ENV, str(state_dir / "keys"))}


def api_env(env: dict[str, str], state_dir: Path) -> dict[str, str]:
    """The API's environment: the stack's, with its signing key and token store."""
    return {
        **env,
        SIGNING_KEY_ENV: os.environ.get(SIGNING_KEY_ENV, str(state_dir / "keys" / "api.key")),
        TOKENS_ENV: os.environ.get(TOKENS_ENV, str(state_dir / "tokens.json")),
        "SOPFLOW_STATE_DIR": str(state_dir),
        # The console's clearly marked dev-only sign-in picker of the demo Roster.
        "SOPFLOW_CONSOLE_DEV_PICKER": os.environ.get("SOPFLOW_CONSOLE_DEV_PICKER", "1"),
    }


def api_command(port: int) -> list[str]:
    """``sopflow serve`` on loopback, as a child of this Python."""
    return [sys.executable, "-m", "sopflow.cli.app", "serve", "--port", str(port)]
