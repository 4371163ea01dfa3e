"""The receiving ends of the soak's side effects, counting what arrives by idempotency key.

- :class:`WebhookSink`: an HTTP server on 127.0.0.1 that answers every POST with 200 and
  counts it by its ``Idempotency-Key`` header (the webhook, pager and escalation channels);
- :class:`SmtpSink`: an SMTP server on 127.0.0.1 (aiosmtpd) counting each message by its
  ``Idempotency-Key`` header (the email channel);
- :func:`disclosure_log_keys` and :func:`postmortem_documents`: the disclosure log and the
  post-mortem drafts the workers wrote, read from disk after the run.

A delivery is one arrival; an *effect* is one key. A worker killed after a receiver took a
message but before it recorded the activity's completion sends the message again with the
same key (at-least-once delivery): the receiver drops it by its key, as sopflow's channels
ask receivers to. So the soak reports redeliveries apart, and requires exactly one effect per
expected key and no key nobody expected.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


class _Counts:
    """Arrivals per idempotency key, safe to add to from the servers' threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.arrivals: Counter[str] = Counter()

    def add(self, key: str) -> None:
        with self._lock:
            self.arrivals[key] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.arrivals)


class WebhookSink:
    """POSTs to ``http://127.0.0.1:<port>/<channel>`` counted by key (per channel path)."""

    def __init__(self, port: int = 0, host: str = HOST) -> None:
        self.counts = _Counts()
        counts = self.counts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key") or body.get("idempotency_key", "")
                counts.add(str(key))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: thousands of deliveries

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.host = host
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, channel: str) -> str:
        return f"http://{self.host}:{self.port}/{channel}"

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _MailHandler:
    def __init__(self, counts: _Counts) -> None:
        self.counts = counts

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = message_from_bytes(content, policy=policy.default)
        self.counts.add(str(message.get("Idempotency-Key", "")))
        return "250 OK"


class _AnyPortController(Controller):
    """Binds port 0 and learns the chosen port before aiosmtpd's readiness probe."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    """An SMTP server on 127.0.0.1 counting messages by their Idempotency-Key header."""

    def __init__(self, port: int = 0, host: str = HOST) -> None:
        self.counts = _Counts()
        handler = _MailHandler(self.counts)
        self._controller = _AnyPortController(handler, hostname=host, port=port)
        self.host, self.port = host, port

    def start(self) -> SmtpSink:
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        self._controller.stop()


def disclosure_log_keys(path: Path) -> Counter[str]:
    """Records per idempotency key in the disclosure log (a JSON line per record)."""
    counts: Counter[str] = Counter()
    if not path.exists():
        return counts
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            counts[str(json.loads(line).get("idempotency_key", ""))] += 1
    return counts


def postmortem_documents(directory: Path) -> set[str]:
    """The incidents with a post-mortem draft (one ``<incident>.md`` each)."""
    if not directory.is_dir():
        return set()
    return {path.stem for path in directory.glob("*.md")}


def channel_config(webhook: WebhookSink, smtp: SmtpSink) -> str:
    """The workers' notification channels, all pointed at the sinks (SOPFLOW_CONFIG)."""
    hooks = "".join(
        f'[channels.{name}]\nkind = "webhook"\nurl = "{webhook.url(name)}"\ntimeout_s = 5\n\n'
        for name in ("webhook", "pager", "escalation")
    )
    mail = (
        f'[channels.email]\nkind = "email"\nhost = "{smtp.host}"\nport = {smtp.port}\n'
        'from = "sopflow-soak@soak.example"\ntls = "none"\n'
    )
    return hooks + mail
