"""``sopflow codec``: the codec endpoint for the Temporal UI, and new encryption keys.

Keys are read from the environment only (``SOPFLOW_CODEC_KEYS`` or
``SOPFLOW_CODEC_KEYS_FILE``, see ``sopflow.client.codec``), never from arguments, so they stay out
of shell history and process listings.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import typer

from sopflow.cli.authoring import fail
from sopflow.client.codec import ENV_KEYS, ENV_KEYS_FILE, AesGcmCodec, CodecKeyError, codec_from_env
from sopflow.client.codec import new_key_line as _new_key_line
from sopflow.client.codec_server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_UI_ORIGIN,
    ENV_AUTH_TOKEN,
    CodecHTTPServer,
    make_server,
)

codec_app = typer.Typer(
    help="Payload encryption: the codec endpoint for the Temporal UI, and new keys.",
    no_args_is_help=True,
)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def configured_codec() -> AesGcmCodec | None:
    """The codec from the environment, or exit 1 with the configuration problem."""
    try:
        return codec_from_env()
    except CodecKeyError as exc:
        raise fail(f"payload encryption: {exc}") from None


def start_endpoint(
    codec: AesGcmCodec, host: str, port: int, ui_origins: list[str]
) -> CodecHTTPServer:
    """A bound codec server with the token from the environment, or exit 1 saying why not."""
    token = os.environ.get(ENV_AUTH_TOKEN) or None
    if host not in _LOOPBACK and token is None:
        print(
            f"warning: the codec endpoint on {host} decrypts for anyone who reaches it; "
            f"set {ENV_AUTH_TOKEN} or bind 127.0.0.1",
            file=sys.stderr,
        )
    try:
        return make_server(codec, host, port, ui_origins=ui_origins, auth_token=token)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@codec_app.command("serve")
def serve(
    host: str = typer.Option(DEFAULT_HOST, help="Address to bind (loopback by default)."),
    port: int = typer.Option(DEFAULT_PORT, help="Port to listen on."),
    ui_origin: list[str] = typer.Option(
        [DEFAULT_UI_ORIGIN],
        "--ui-origin",
        help="Temporal UI origin allowed to call the endpoint (repeat for several).",
    ),
) -> None:
    """Serve POST /encode and /decode for the Temporal UI, with the configured keys."""
    codec = configured_codec()
    if codec is None:
        raise fail(f"no keys configured: set {ENV_KEYS} or {ENV_KEYS_FILE}")
    server = start_endpoint(codec, host, port, ui_origin)
    # Request lines (never bodies or headers) on stderr, as an access log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keys = ", ".join(codec.key_ids)
    print(f"codec endpoint: {server.endpoint} (keys: {keys}; active: {codec.active})")
    print(f"allowed UI origins: {', '.join(ui_origin)}")
    print(f"Temporal UI: start it with --ui-codec-endpoint {server.endpoint}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@codec_app.command("new-key")
def new_key(
    key_id: str = typer.Option(None, "--id", help="Key id (default: k + UTC date and time)."),
) -> None:
    """Print a new AES-256 key as an ``id:base64`` line for the keys file or env."""
    try:
        print(_new_key_line(key_id))
    except CodecKeyError as exc:
        raise fail(str(exc)) from None
