"""Notification channels: the port ``Channel``, the log adapter, and the factory that builds
the configured channels.

A channel delivers one notification or raises. Failures are Temporal ``ApplicationError``\\s:
retryable when waiting may help (a server down, a 5xx), non-retryable when it cannot (a
rejected request, no recipient), so a notification is never dropped silently.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from activities.config import (
    ActivitiesConfig,
    EmailChannelConfig,
    LogChannelConfig,
    WebhookChannelConfig,
    resolve_secret,
)
from activities.email_channel import EmailChannel
from activities.recipients import RoleDirectory
from activities.webhook_channel import WebhookChannel
from sopflow.contract.messages import NotifyRequest
from sopflow.contract.names import ESCALATION_CHANNEL

_log = structlog.get_logger(__name__)


class Channel(Protocol):
    """Delivers one notification. Returns a short detail for the incident (no user data);
    raises ``ApplicationError`` when the notification was not delivered."""

    def send(self, request: NotifyRequest) -> str: ...


class LogChannel:
    """Writes notifications to the structured log: development and rehearsals.

    The info line says that a notification went out; the text itself, and an address, are
    user data and go to the debug line only.
    """

    def __init__(self, name: str = "log") -> None:
        self.name = name

    def send(self, request: NotifyRequest) -> str:
        log = _log.bind(incident=request.incident_id, step=request.step, channel=self.name)
        log.info(
            "notification",
            to=request.to if request.to_is_role else "<address>",
            to_is_role=request.to_is_role,
            region=request.region,
            destination=request.destination.name if request.destination else None,
            chars=len(request.message),
            idempotency_key=request.idempotency_key,
        )
        log.debug("notification.text", to=request.to, message=request.message)
        return "written to the log"


def build_channels(config: ActivitiesConfig) -> dict[str, Channel]:
    """One adapter per configured channel, secrets resolved now so a missing one stops the
    worker at start rather than failing a live incident. Raises ConfigError."""
    channels: dict[str, Channel] = {}
    for name, spec in config.channels.items():
        if isinstance(spec, LogChannelConfig):
            channels[name] = LogChannel(name)
        elif isinstance(spec, WebhookChannelConfig):
            token = resolve_secret(
                env=spec.token_env,
                file=spec.token_file,
                what=f"channels.{name}.token",
                config=config,
            )
            channels[name] = WebhookChannel(spec.url, timeout_s=spec.timeout_s, token=token)
        elif isinstance(spec, EmailChannelConfig):
            password = resolve_secret(
                env=spec.password_env,
                file=spec.password_file,
                what=f"channels.{name}.password",
                config=config,
            )
            channels[name] = EmailChannel(
                spec,
                password=password,
                directory=RoleDirectory(spec.roles),
            )
    channels.setdefault(ESCALATION_CHANNEL, LogChannel(ESCALATION_CHANNEL))
    return channels
