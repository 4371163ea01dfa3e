"""The email channel: one SMTP message per notification.

The ``Message-ID`` is derived from the idempotency key, so every retry sends the same
message and mail systems (and people) can recognise the duplicate; the key itself travels in
an ``Idempotency-Key`` header. A role is resolved by a ``RoleDirectory`` (the channel's table,
who is on call by the Rota, else the Roster); an address is used as it is. The result's detail
says whom a role reached and why (Roster handles, never addresses).
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import structlog
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.config import EmailChannelConfig
from activities.recipients import Recipients, RoleDirectory
from sopflow.contract.messages import NotifyRequest

_log = structlog.get_logger(__name__)
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


def message_id(idempotency_key: str, domain: str) -> str:
    """The same ``Message-ID`` for every send of the same notification."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


class EmailChannel:
    """Sends notifications through one SMTP server."""

    def __init__(
        self,
        config: EmailChannelConfig,
        *,
        password: SecretStr | None,
        directory: RoleDirectory,
    ) -> None:
        self._config = config
        self._password = password
        self._directory = directory
        self._domain = config.message_id_domain or config.from_.rsplit("@", 1)[1]

    def recipients(self, request: NotifyRequest) -> list[str]:
        """The addresses this notification goes to."""
        return self.resolve(request).addresses

    def resolve(self, request: NotifyRequest) -> Recipients:
        """Who this notification goes to, and why."""
        if request.destination is not None:
            # A named destination: its address, the one the plan recorded.
            address, source = request.destination.address, "destination"
        elif request.to_is_role:
            return self._directory.recipients(request.to, request.region)
        else:
            address, source = request.to, "address"
        if not _ADDRESS.match(address):
            raise ApplicationError(
                f"notification of step {request.step!r} is addressed to something that is not "
                "one email address",
                type="BadAddress",
                non_retryable=True,
            )
        return Recipients([address], source=source)

    def compose(self, request: NotifyRequest, recipients: list[str]) -> EmailMessage:
        """The message, with the headers that make a retry recognisable."""
        msg = EmailMessage()
        msg["From"] = self._config.from_
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = f"[sopflow] {request.incident_id}: {request.step}"
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(request.idempotency_key, self._domain)
        msg["Idempotency-Key"] = request.idempotency_key
        msg["X-Sopflow-Incident"] = request.incident_id
        msg["X-Sopflow-Step"] = request.step
        msg.set_content(request.message)
        return msg

    def send(self, request: NotifyRequest) -> str:
        chosen = self.resolve(request)
        recipients = chosen.addresses
        msg = self.compose(request, recipients)
        log = _log.bind(incident=request.incident_id, step=request.step)
        try:
            refused = self._deliver(msg, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _smtp_error(f"the server refused all {len(codes)} recipients", codes) from None
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(f"the server answered {exc.smtp_code}", [exc.smtp_code]) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ApplicationError(
                f"SMTP server {self._config.host}:{self._config.port} unavailable: {exc}",
                type="EmailUnavailable",
            ) from None
        if refused:
            # Some recipients took it: retrying would send them a second copy.
            log.warning("email.partly_refused", refused=len(refused), sent=len(recipients))
        sent = len(recipients) - len(refused)
        detail = f"email {msg['Message-ID']} to {sent} of {len(recipients)} recipients"
        # A role names the rule and the Roster handles it chose, a destination its name; an
        # address stays out.
        if request.destination is not None:
            return f"{detail} (destination {request.destination.name})"
        return f"{detail} ({chosen.summary})" if request.to_is_role else detail

    def _deliver(self, msg: EmailMessage, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
        cfg = self._config
        smtp: smtplib.SMTP
        if cfg.tls == "ssl":
            smtp = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout_s, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
        with smtp:
            if cfg.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username and self._password is not None:
                smtp.login(cfg.username, self._password.get_secret_value())
            return smtp.send_message(msg, from_addr=cfg.from_, to_addrs=recipients)


def _smtp_error(what: str, codes: list[int]) -> ApplicationError:
    # 5xx is a permanent refusal; 4xx (mailbox busy, greylisting) is worth retrying.
    permanent = bool(codes) and all(500 <= code < 600 for code in codes)
    return ApplicationError(
        f"email not sent: {what}",
        type="EmailRejected" if permanent else "EmailDeferred",
        non_retryable=permanent,
    )
