"""The notification activity: deliver one notification through the channel its step names."""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import Channel, build_channels
from activities.config import CONFIG_ENV, ActivitiesConfig
from sopflow.contract.messages import NotifyRequest, NotifyResult
from sopflow.contract.names import ACT_NOTIFY

_log = structlog.get_logger(__name__)


class Notifier:
    """The ``notify`` activity over a fixed set of named channels."""

    def __init__(self, channels: Mapping[str, Channel]) -> None:
        self._channels = dict(channels)

    @classmethod
    def from_config(cls, config: ActivitiesConfig) -> Notifier:
        """The channels the configuration names (``log`` always among them)."""
        return cls(build_channels(config))

    @property
    def channel_names(self) -> list[str]:
        return sorted(self._channels)

    @activity.defn(name=ACT_NOTIFY)
    def notify(self, request: NotifyRequest) -> NotifyResult:
        """Send ``request`` through its channel. An unknown channel is a non-retryable error:
        a notification is never dropped silently."""
        log = _log.bind(
            incident=request.incident_id,
            sop=activity.info().workflow_type,  # the workflow type is the SOP id
            step=request.step,
            channel=request.channel,
        )
        channel = self._channels.get(request.channel)
        if channel is None:
            known = ", ".join(self.channel_names)
            named = request.destination
            via = f", which destination {named.name!r} is delivered by" if named else ""
            raise ApplicationError(
                f"no notification channel named {request.channel!r}{via} (configured: "
                f"{known}); add [channels.{request.channel}] to the file named by ${CONFIG_ENV}",
                type="UnknownChannel",
                non_retryable=True,
            )
        detail = channel.send(request)
        log.info("notification.delivered", detail=detail)
        return NotifyResult(channel=request.channel, delivered=True, detail=detail)
