"""The webhook channel: one HTTP POST of JSON per notification.

The body carries the notification and its idempotency key, which also goes in the
``Idempotency-Key`` header, so a receiver drops the duplicates Temporal's retries may cause.
Redirects are not followed (urllib would turn a redirected POST into a GET without body).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from email.message import Message
from urllib.parse import urlsplit

from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from sopflow.contract.messages import NotifyRequest

# Client errors that are worth retrying: the server timed out or asks us to slow down.
_RETRYABLE_4XX = (408, 429)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def webhook_body(request: NotifyRequest) -> dict[str, object]:
    """The JSON document the receiver gets (with the destination's name, when it has one)."""
    body: dict[str, object] = {
        "incident": request.incident_id,
        "step": request.step,
        "to": request.to,
        "to_is_role": request.to_is_role,
        "message": request.message,
        "idempotency_key": request.idempotency_key,
    }
    if request.destination is not None:
        body["destination"] = request.destination.name
    return body


def destination_url(request: NotifyRequest) -> str | None:
    """The URL a named destination gives the request, or None without one. Raises a final
    ``ApplicationError`` for an address that is not http(s): urllib would open a file: URL."""
    if request.destination is None:
        return None
    address = request.destination.address
    if not address.startswith(("http://", "https://")):
        raise ApplicationError(
            f"destination {request.destination.name!r} is delivered by a webhook channel, "
            "but its address is not an http(s) URL",
            type="BadAddress",
            non_retryable=True,
        )
    return address


class WebhookChannel:
    """POSTs each notification to ``url``; a bearer token is sent when one is configured."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, token: SecretStr | None = None):
        self.url = url
        self.timeout_s = timeout_s
        self._token = token
        self._opener = urllib.request.build_opener(_NoRedirect)
        # Errors name the host only: a URL's path or query may hold a token.
        self._where = urlsplit(url).netloc

    def send(self, request: NotifyRequest) -> str:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.idempotency_key,
            "User-Agent": "sopflow",
        }
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        body = json.dumps(webhook_body(request), ensure_ascii=False).encode("utf-8")
        # A named destination's address replaces the configured URL; the token stays the
        # channel's. Both schemes are checked to be http(s): the configured one when the
        # configuration is read, the destination's just above.
        url = destination_url(request) or self.url
        where = self._where if url == self.url else urlsplit(url).netloc
        http_request = urllib.request.Request(  # noqa: S310
            url, data=body, headers=headers, method="POST"
        )
        try:
            with self._opener.open(http_request, timeout=self.timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            with exc:
                raise _status_error(where, exc.code, exc.headers) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise ApplicationError(
                f"webhook {where} unreachable: {reason}", type="WebhookUnreachable"
            ) from None
        return f"webhook {where} answered {status}"


def _status_error(where: str, status: int, headers: Message) -> ApplicationError:
    """A non-2xx answer: client errors are final (but 408 and 429), the rest are retried."""
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        return ApplicationError(
            f"webhook {where} rejected the notification with HTTP {status}; "
            "retrying the same request cannot succeed",
            type="WebhookRejected",
            non_retryable=True,
        )
    return ApplicationError(
        f"webhook {where} answered HTTP {status}",
        type="WebhookFailed",
        next_retry_delay=_retry_after(headers),
    )


def _retry_after(headers: Message) -> timedelta | None:
    # Honour a Retry-After in seconds (429, 503); the HTTP-date form falls back to the policy.
    value = headers.get("Retry-After", "") if headers is not None else ""
    return timedelta(seconds=int(value)) if value.strip().isdigit() else None
