"""The codec endpoint: Temporal's remote codec protocol over HTTP, so the Temporal UI (and
``temporal workflow show --codec-endpoint``) can show plaintext to the people who reach it.

``POST /encode`` and ``POST /decode`` (also under a prefix such as ``/{namespace}/decode``,
which the Temporal CLI's endpoint templating produces) take and answer
``{"payloads": [...]}``, each payload in the proto3 JSON form of
``temporal.api.common.v1.Payload`` (metadata values and data base64). The browser calls it
cross-origin from the UI, so it answers CORS preflights for the configured UI origins.

It binds 127.0.0.1 by default: whoever can reach it can read every payload. With
``SOPFLOW_CODEC_AUTH_TOKEN`` set, every POST must carry ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from sopflow.client.codec import CodecError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8089
DEFAULT_UI_ORIGIN = "http://localhost:8233"
ENV_AUTH_TOKEN = "SOPFLOW_CODEC_AUTH_TOKEN"  # noqa: S105 - the variable's name, not a token
MAX_BODY = 16 * 1024 * 1024  # a history page of payloads fits many times over

log = logging.getLogger("sopflow.client.codec_server")


class CodecHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the codec and the access settings."""

    daemon_threads = True  # an open browser connection must not keep `sopflow dev` alive

    def __init__(
        self,
        address: tuple[str, int],
        codec: PayloadCodec,
        *,
        ui_origins: Iterable[str] = (DEFAULT_UI_ORIGIN,),
        auth_token: str | None = None,
    ) -> None:
        self.codec = codec
        self.ui_origins = frozenset(o.rstrip("/") for o in ui_origins)
        self.auth_token = auth_token or None
        super().__init__(address, _Handler)

    @property
    def endpoint(self) -> str:
        """The base URL to give the UI (``--ui-codec-endpoint``) or the CLI."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _payloads_from_json(body: bytes) -> list[Payload]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequest(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("payloads"), list):
        raise _BadRequest(HTTPStatus.BAD_REQUEST, 'expected {"payloads": [...]}')
    payloads: list[Payload] = []
    for index, item in enumerate(document["payloads"]):
        try:
            payloads.append(json_format.ParseDict(item, Payload()))
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise _BadRequest(
                HTTPStatus.BAD_REQUEST, f"payloads[{index}] is not a Payload: {exc}"
            ) from None
    return payloads


def _payloads_to_json(payloads: list[Payload]) -> bytes:
    # MessageToDict drops an empty list, so the wrapper is built here: always "payloads".
    items = [json_format.MessageToDict(p) for p in payloads]
    return json.dumps({"payloads": items}).encode()


class _Handler(BaseHTTPRequestHandler):
    server_version = "sopflow-codec"

    def version_string(self) -> str:
        """The Server header: no Python version to fingerprint."""
        return self.server_version

    @property
    def _server(self) -> CodecHTTPServer:
        return cast(CodecHTTPServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line and status only: bodies and headers (the token) are never logged.
        log.info("%s " + format, self.address_string(), *args)

    def _cors(self) -> None:
        origin = (self.headers.get("Origin") or "").rstrip("/")
        if origin and origin in self._server.ui_origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Vary", "Origin")

    def _reply(self, status: HTTPStatus, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # plaintext must not sit in caches
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, extra: dict[str, str] | None = None) -> None:
        self._reply(status, json.dumps({"error": message}).encode(), extra)

    def do_OPTIONS(self) -> None:
        """CORS preflight: browsers send no credentials here, so no token is asked for."""
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        """Only POST is served; say so rather than the stdlib's HTML page."""
        self._error(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "use POST /encode or POST /decode",
            {"Allow": "POST, OPTIONS"},
        )

    def _authorized(self) -> bool:
        token = self._server.auth_token
        if token is None:
            return True
        given = self.headers.get("Authorization") or ""
        scheme, _, value = given.partition(" ")
        # Constant-time comparison: the answer time must not reveal the token's prefix.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), token.encode()
        )

    def do_POST(self) -> None:
        """``/encode`` or ``/decode`` (optionally under a prefix such as the namespace)."""
        operation = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if operation not in ("encode", "decode"):
            self._error(HTTPStatus.NOT_FOUND, "use POST /encode or POST /decode")
            return
        if not self._authorized():
            self._error(
                HTTPStatus.UNAUTHORIZED,
                "missing or wrong bearer token",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        try:
            payloads = _payloads_from_json(self._body())
            codec = self._server.codec
            run = codec.encode if operation == "encode" else codec.decode
            # Each request runs on its own handler thread, which has no event loop.
            result = asyncio.run(run(payloads))
        except _BadRequest as exc:
            self._error(exc.status, str(exc))
            return
        except CodecError as exc:
            # A payload this codec cannot open: its message names a key id, never a key.
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
            return
        except Exception as exc:  # never a traceback to the caller
            log.error("codec %s failed: %s", operation, type(exc).__name__)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{operation} failed")
            return
        namespace = self.headers.get("X-Namespace") or "-"
        log.info("%s %d payload(s) for namespace %s", operation, len(result), namespace)
        self._reply(HTTPStatus.OK, _payloads_to_json(result))

    def _body(self) -> bytes:
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise _BadRequest(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        try:
            length = int(raw_length)
        except ValueError:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
        return self.rfile.read(length)


def make_server(
    codec: PayloadCodec,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    ui_origins: Iterable[str] = (DEFAULT_UI_ORIGIN,),
    auth_token: str | None = None,
) -> CodecHTTPServer:
    """A bound (not yet serving) codec server; port 0 picks a free port."""
    return CodecHTTPServer((host, port), codec, ui_origins=ui_origins, auth_token=auth_token)


def serve_in_thread(server: CodecHTTPServer) -> threading.Thread:
    """Serve on a daemon thread; stop with ``server.shutdown()`` then ``server.server_close()``."""
    thread = threading.Thread(target=server.serve_forever, name="sopflow-codec", daemon=True)
    thread.start()
    return thread
