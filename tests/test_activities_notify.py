"""The notify activity against real local stand-ins: an HTTP server for the webhook channel and
an aiosmtpd SMTP server for the email channel; the configuration from a real TOML file."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.config import ActivitiesConfig, ConfigError, load_config
from activities.email_channel import message_id
from activities.notify import Notifier
from sopflow.contract.messages import NotifyRequest

pytestmark = pytest.mark.unit

ROSTER = """\
apiVersion: sopflow/v1
kind: Roster
people:
  ulead:
    name: UK Lead
    region: UK
    roles: [lead]
    email: uk.lead@sopflow.example
  ulead2:
    name: Second UK Lead
    region: UK
    roles: [lead, responder]
    email: uk.lead2@sopflow.example
  alead:
    name: AU Lead
    region: AU
    roles: [lead]
    email: au.lead@sopflow.example
  legal:
    name: US Counsel
    region: US
    roles: [legal]
    email: counsel@sopflow.example
  quiet:
    name: No Email
    region: UK
    roles: [privacy]
"""


def request(**changes: Any) -> NotifyRequest:
    fields: dict[str, Any] = {
        "incident_id": "inc-42",
        "step": "page",
        "channel": "webhook",
        "to": "commander",
        "to_is_role": True,
        "region": "UK",
        "message": "SEV1 threat to life: call the desk",
        "idempotency_key": "inc-42/page/1",
    }
    return NotifyRequest(**(fields | changes))


def notifier_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str) -> Notifier:
    config = tmp_path / "sopflow.toml"
    config.write_text(toml, encoding="utf-8")
    monkeypatch.setenv("SOPFLOW_CONFIG", str(config))
    return Notifier.from_config(load_config())


# --- Webhook: a real HTTP server on 127.0.0.1


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    state = WebhookServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            state.requests.append(Recorded(dict(self.headers.items()), body))
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the serving loop to look.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def webhook_notifier(
    webhook: WebhookServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Notifier:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret-token")
    toml = f'[channels.webhook]\nkind = "webhook"\nurl = "{webhook.url}"\n'
    toml += 'token_env = "HOOK_TOKEN"\n'
    return notifier_from(tmp_path, monkeypatch, toml)


def test_webhook_posts_the_notification_as_json(
    webhook: WebhookServer, webhook_notifier: Notifier
) -> None:
    result = ActivityEnvironment().run(webhook_notifier.notify, request())

    assert result.delivered and result.channel == "webhook"
    [sent] = webhook.requests
    assert sent.body == {
        "incident": "inc-42",
        "step": "page",
        "to": "commander",
        "to_is_role": True,
        "message": "SEV1 threat to life: call the desk",
        "idempotency_key": "inc-42/page/1",
    }
    assert sent.headers["Idempotency-Key"] == "inc-42/page/1"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == "Bearer s3cret-token"


def test_a_retried_webhook_carries_the_same_key(
    webhook: WebhookServer, webhook_notifier: Notifier
) -> None:
    env = ActivityEnvironment()
    env.run(webhook_notifier.notify, request())
    env.run(webhook_notifier.notify, request())
    env.run(webhook_notifier.notify, request(step="other", idempotency_key="inc-42/other/1"))

    keys = [r.headers["Idempotency-Key"] for r in webhook.requests]
    assert keys == ["inc-42/page/1", "inc-42/page/1", "inc-42/other/1"]
    assert webhook.requests[0].body == webhook.requests[1].body


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_webhook_server_errors_are_retried(
    webhook: WebhookServer, webhook_notifier: Notifier, status: int
) -> None:
    webhook.status = status
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(webhook_notifier.notify, request())
    assert not failure.value.non_retryable
    assert failure.value.type == "WebhookFailed"
    assert str(status) in str(failure.value)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_webhook_client_errors_are_final(
    webhook: WebhookServer, webhook_notifier: Notifier, status: int
) -> None:
    webhook.status = status
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(webhook_notifier.notify, request())
    assert failure.value.non_retryable
    assert failure.value.type == "WebhookRejected"
    # The error names the host, never the message text.
    assert "threat to life" not in str(failure.value)


def test_an_unreachable_webhook_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A port that was just free: nothing listens there.
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    toml = f'[channels.webhook]\nkind = "webhook"\nurl = "http://127.0.0.1:{port}/"\n'
    notifier = notifier_from(tmp_path, monkeypatch, toml)
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(notifier.notify, request())
    assert failure.value.type == "WebhookUnreachable"
    assert not failure.value.non_retryable


# --- Channel selection, the log channel, configuration


def test_an_unknown_channel_fails_loudly_and_finally() -> None:
    notifier = Notifier.from_config(ActivitiesConfig())
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(notifier.notify, request(channel="pager"))
    assert failure.value.non_retryable
    assert failure.value.type == "UnknownChannel"
    assert "'pager'" in str(failure.value) and "[channels.pager]" in str(failure.value)


def test_log_channel_works_without_config_and_keeps_text_out_of_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOPFLOW_CONFIG", raising=False)
    notifier = Notifier.from_config(load_config())
    assert notifier.channel_names == ["escalation", "log"]  # escalation falls back to the log
    req = request(channel="log", to="someone@example.org", to_is_role=False)
    with capture_logs() as logs:
        result = ActivityEnvironment().run(notifier.notify, req)

    assert result.delivered and result.channel == "log"
    info = [e for e in logs if e["log_level"] == "info"]
    assert info and all(e["incident"] == "inc-42" and e["step"] == "page" for e in info)
    assert not any(req.message in str(e) or req.to in str(e) for e in info)
    [debug] = [e for e in logs if e["log_level"] == "debug"]
    assert debug["message"] == req.message


def test_any_channel_name_can_be_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notifier = notifier_from(tmp_path, monkeypatch, '[channels.pager]\nkind = "log"\n')
    assert notifier.channel_names == ["escalation", "log", "pager"]
    result = ActivityEnvironment().run(notifier.notify, request(channel="pager"))
    assert result.delivered and result.channel == "pager"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[channels.x\n", "not valid TOML"),
        ('[channels.x]\nkind = "smtp"\n', "channels.x: Input tag 'smtp'"),
        ('[channels.x]\nkind = "webhook"\nurl = "file:///etc/passwd"\n', "http:// or https://"),
        ('[channels.x]\nkind = "webhook"\nurl = "http://h"\ntimeout = 3\n', "channels.x.webhook"),
        ('[channels.x]\nkind = "email"\nhost = "h"\nfrom = "a@b"\nport = "25x"\n', "port"),
        (
            '[channels.x]\nkind = "email"\nhost = "h"\nfrom = "a@b"\nusername = "u"\n'
            'password_env = "P"\n',
            "only sent over TLS",
        ),
    ],
)
def test_a_bad_config_names_the_file_and_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        notifier_from(tmp_path, monkeypatch, toml)
    assert str(tmp_path / "sopflow.toml") in str(failure.value)
    assert expected in str(failure.value)


def test_a_missing_config_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPFLOW_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match=r"absent\.toml: no such file"):
        load_config()


def test_a_secret_env_that_is_not_set_stops_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPFLOW_SMTP_PASSWORD", raising=False)
    toml = (
        '[channels.email]\nkind = "email"\nhost = "h"\nfrom = "a@b"\ntls = "starttls"\n'
        'username = "u"\npassword_env = "SOPFLOW_SMTP_PASSWORD"\n'
    )
    with pytest.raises(ConfigError, match=r"\$SOPFLOW_SMTP_PASSWORD, which is not set"):
        notifier_from(tmp_path, monkeypatch, toml)


def test_a_secret_file_is_read_relative_to_the_config(
    webhook: WebhookServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("from-a-file\n", encoding="utf-8")
    toml = f'[channels.webhook]\nkind = "webhook"\nurl = "{webhook.url}"\ntoken_file = "token"\n'
    notifier = notifier_from(tmp_path, monkeypatch, toml)
    with capture_logs() as logs:
        ActivityEnvironment().run(notifier.notify, request())
    assert webhook.requests[0].headers["Authorization"] == "Bearer from-a-file"
    assert logs and not any("from-a-file" in str(e) for e in logs)


# --- Email: a real SMTP server (aiosmtpd) on 127.0.0.1


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class _Collect:
    """An aiosmtpd handler that keeps what it receives and refuses ``bounce@`` mailboxes."""

    def __init__(self) -> None:
        self.messages: list[Received] = []

    # aiosmtpd calls its hooks by these upper-case names.
    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.content, policy=policy.default),
            )
        )
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("bounce@"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class _AnyPortController(Controller):
    """Binds port 0 and learns the port the system chose before the readiness probe."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it untyped


@pytest.fixture
def smtp() -> Iterator[tuple[_Collect, int]]:
    handler = _Collect()
    controller = _AnyPortController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def email_notifier(
    smtp: tuple[_Collect, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Notifier:
    definitions = tmp_path / "defs"
    definitions.mkdir()
    (definitions / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    monkeypatch.setenv("SOPFLOW_DEFINITIONS", str(definitions))
    toml = (
        f'[channels.email]\nkind = "email"\nhost = "127.0.0.1"\nport = {smtp[1]}\n'
        'from = "sopflow@desk.example"\n'
        '[channels.email.roles]\ncommander = ["bridge@desk.example", "oncall@desk.example"]\n'
    )
    return notifier_from(tmp_path, monkeypatch, toml)


def email(**changes: Any) -> NotifyRequest:
    return request(channel="email", **changes)


def test_email_to_a_role_goes_to_its_holders_in_the_incidents_region(
    smtp: tuple[_Collect, int], email_notifier: Notifier
) -> None:
    result = ActivityEnvironment().run(email_notifier.notify, email(to="lead", region="UK"))

    [got] = smtp[0].messages
    assert got.rcpt_tos == ["uk.lead@sopflow.example", "uk.lead2@sopflow.example"]
    assert got.mail_from == "sopflow@desk.example"
    assert got.message["Idempotency-Key"] == "inc-42/page/1"
    assert got.message["Message-ID"] == message_id("inc-42/page/1", "desk.example")
    assert got.message["Subject"] == "[sopflow] inc-42: page"
    assert got.message.get_content().strip() == "SEV1 threat to life: call the desk"
    assert result.delivered and "2 of 2" in result.detail


def test_email_falls_back_to_holders_elsewhere_when_none_is_local(
    smtp: tuple[_Collect, int], email_notifier: Notifier
) -> None:
    ActivityEnvironment().run(email_notifier.notify, email(to="legal", region="AU"))
    assert smtp[0].messages[0].rcpt_tos == ["counsel@sopflow.example"]


def test_the_config_roles_table_comes_before_the_roster(
    smtp: tuple[_Collect, int], email_notifier: Notifier
) -> None:
    ActivityEnvironment().run(email_notifier.notify, email(to="commander"))
    assert smtp[0].messages[0].rcpt_tos == ["bridge@desk.example", "oncall@desk.example"]


def test_an_address_is_used_as_is(smtp: tuple[_Collect, int], email_notifier: Notifier) -> None:
    req = email(to="requester@police.example", to_is_role=False)
    ActivityEnvironment().run(email_notifier.notify, req)
    [got] = smtp[0].messages
    assert got.rcpt_tos == ["requester@police.example"]
    assert got.message["To"] == "requester@police.example"


def test_a_retried_email_has_the_same_message_id(
    smtp: tuple[_Collect, int], email_notifier: Notifier
) -> None:
    env = ActivityEnvironment()
    env.run(email_notifier.notify, email(to="lead"))
    env.run(email_notifier.notify, email(to="lead"))
    env.run(email_notifier.notify, email(to="lead", idempotency_key="inc-42/page/2"))
    ids = [m.message["Message-ID"] for m in smtp[0].messages]
    assert ids[0] == ids[1] != ids[2]


def test_a_role_nobody_can_receive_is_a_final_error(
    smtp: tuple[_Collect, int], email_notifier: Notifier
) -> None:
    # `privacy` is held only by someone without an email; `ghost` by nobody at all.
    for role in ("privacy", "ghost"):
        with pytest.raises(ApplicationError) as failure:
            ActivityEnvironment().run(email_notifier.notify, email(to=role))
        assert failure.value.non_retryable and failure.value.type == "NoRecipients"
        assert repr(role) in str(failure.value)
    assert smtp[0].messages == []


def test_a_refused_recipient_is_a_final_error(
    smtp: tuple[_Collect, int], email_notifier: Notifier
) -> None:
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(
            email_notifier.notify, email(to="bounce@desk.example", to_is_role=False)
        )
    assert failure.value.non_retryable and failure.value.type == "EmailRejected"
    assert "bounce@" not in str(failure.value)


def test_a_missing_roster_is_named(
    smtp: tuple[_Collect, int],
    email_notifier: Notifier,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOPFLOW_DEFINITIONS", str(tmp_path / "nowhere"))
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(email_notifier.notify, email(to="lead"))
    assert failure.value.type == "RosterUnavailable"
    assert "roster.yaml" in str(failure.value)
