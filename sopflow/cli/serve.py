"""``sopflow serve``: the HTTP API (docs/api.md).

It reads the library (SOPs and Roster) from ``--definitions``, the API tokens from
``$SOPFLOW_TOKENS`` (default ``.sopflow/tokens.json``), and signs every action with its own
key (``$SOPFLOW_SIGNING_KEY``, default the dev key ``.sopflow/keys/api.key`` that
``sopflow dev`` makes); Temporal is reached as by every other command
(``$TEMPORAL_ADDRESS``, TLS, codec keys).
"""

from __future__ import annotations

from pathlib import Path

import typer

from sopflow.api.settings import ApiSettings, SettingsError
from sopflow.api.tokens import TokenError
from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.client.logs import configure_logging
from sopflow.client.signing import SIGNING_KEY_ENV, ActionSigner, KeyFileError, signer_from_env
from sopflow.language.roster import RosterError

API_KEY_LABEL = "api"


def _signer(settings: ApiSettings) -> ActionSigner:
    keys = settings.state_dir / "keys"
    try:
        signer = signer_from_env(API_KEY_LABEL, keys_dir=keys)
    except KeyFileError as exc:
        raise fail(str(exc)) from None
    if signer is None:
        raise fail(
            f"no key to sign actions with: set ${SIGNING_KEY_ENV} to the API's private key "
            f"file, or run `sopflow dev` once to make the dev keys in {keys}"
        )
    return signer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="The port to listen on."),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Serve the HTTP API (JSON; OpenAPI at /api/v1/openapi.json) until Ctrl-C."""
    try:
        settings = ApiSettings.from_env(definitions=definitions)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    if not settings.definitions.is_dir():
        raise fail(f"{settings.definitions} is not a directory of SOP definitions")
    signer = _signer(settings)
    # Imported here: FastAPI and the app take ~0.5 s to import, which every other sopflow
    # command would pay at start-up.
    from sopflow.api.app import create_app
    from sopflow.api.server import run
    from sopflow.web import console_router

    try:
        app = create_app(settings, signer=signer)
        # The console sits on top of the API (it calls the API's own route functions), so it
        # is mounted here rather than inside create_app.
        app.include_router(console_router())
    except (RosterError, TokenError, SettingsError) as exc:
        raise fail(str(exc)) from None
    configure_logging()
    print(
        f"sopflow API on http://{host}:{port}/api/v1 (OpenAPI: /api/v1/openapi.json, "
        f"see docs/api.md), console on http://{host}:{port}/console/; signing actions with "
        f"key {signer.key_id} ({signer.label})",
        flush=True,
    )
    run(app, host, port)
