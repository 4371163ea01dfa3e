"""The HTTP API's settings, read once from the environment when it starts.

Every setting has a safe default: the API binds to 127.0.0.1 (the command's ``--host``),
trusts no identity header, accepts 64 KiB bodies and eight requests in flight per person.
A setting that makes no sense (a size that is not a number, an identity header with nobody
allowed to send it) stops the API from starting with a sentence saying which one.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sopflow.client.connection import task_queue_from_env
from sopflow.language.library import default_definitions

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_MAX_IN_FLIGHT = 8
DEFAULT_ACTION_TIMEOUT_S = 30.0
DEFAULT_STATE_DIR = Path(".sopflow")

# An HTTP header name is a token (RFC 9110 section 5.6.2).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable and how to fix it."""


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """What the API needs to know besides its host and port."""

    definitions: Path = field(default_factory=default_definitions)
    task_queue: str = field(default_factory=task_queue_from_env)
    state_dir: Path = DEFAULT_STATE_DIR
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    # Seconds a person is told to wait after a 429 (the Retry-After header).
    retry_after_s: int = 1
    action_timeout_s: float = DEFAULT_ACTION_TIMEOUT_S
    # Trusted-header single sign-on: the header a proxy sets to the signed-in person's
    # handle, honoured only from the proxies listed (off when ``identity_header`` is None).
    identity_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()
    # SOPFLOW_DATA_ROUTING=region: user-data activities run on the region's data queue.
    data_routing: bool = False

    def __post_init__(self) -> None:
        check_settings(self)

    def trusts(self, peer: str | None) -> bool:
        """Whether the TCP peer ``peer`` is a proxy allowed to name the person."""
        if self.identity_header is None or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False  # not an IP address (a Unix socket, a test client): never trusted
        return any(address in network for network in self.trusted_proxies)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, definitions: Path | None = None
    ) -> ApiSettings:
        """The settings from ``environ`` (default: the process environment); SettingsError
        naming the variable when one is wrong."""
        env = os.environ if environ is None else environ
        header = env.get("SOPFLOW_IDENTITY_HEADER", "").strip() or None
        root = definitions or Path(env.get("SOPFLOW_DEFINITIONS") or "sop_definitions")
        return cls(
            definitions=root,
            task_queue=env.get("SOPFLOW_TASK_QUEUE") or task_queue_from_env(),
            state_dir=Path(env.get("SOPFLOW_STATE_DIR") or DEFAULT_STATE_DIR),
            max_body_bytes=_int(env, "SOPFLOW_API_MAX_BODY", DEFAULT_MAX_BODY),
            max_in_flight=_int(env, "SOPFLOW_API_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT),
            action_timeout_s=float(
                _int(env, "SOPFLOW_API_ACTION_TIMEOUT", int(DEFAULT_ACTION_TIMEOUT_S))
            ),
            identity_header=header,
            trusted_proxies=parse_proxies(env.get("SOPFLOW_TRUSTED_PROXIES", "")),
            data_routing=_data_routing(env.get("SOPFLOW_DATA_ROUTING", "")),
        )


def check_settings(settings: ApiSettings) -> None:
    """SettingsError for settings the API must not start with."""
    if settings.max_body_bytes < 1:
        raise SettingsError("SOPFLOW_API_MAX_BODY must be a positive number of bytes")
    if settings.max_in_flight < 1:
        raise SettingsError("SOPFLOW_API_MAX_IN_FLIGHT must be at least 1")
    if settings.action_timeout_s <= 0:
        raise SettingsError("SOPFLOW_API_ACTION_TIMEOUT must be a positive number of seconds")
    header = settings.identity_header
    if header is not None:
        if not _HEADER_NAME.fullmatch(header) or header.lower() == "authorization":
            raise SettingsError(
                f"SOPFLOW_IDENTITY_HEADER {header!r} is not a header name the API can trust "
                "(e.g. X-Forwarded-User)"
            )
        # Without a list, anyone could name anyone: refuse rather than trust the world.
        if not settings.trusted_proxies:
            raise SettingsError(
                f"SOPFLOW_IDENTITY_HEADER is {header!r} but SOPFLOW_TRUSTED_PROXIES is empty: "
                "list the proxies (IP addresses or CIDR ranges, comma-separated) that set "
                "it, or unset SOPFLOW_IDENTITY_HEADER"
            )


def parse_proxies(text: str) -> tuple[Network, ...]:
    """``10.0.0.1, 10.1.0.0/16`` as networks; SettingsError naming a bad entry."""
    networks = []
    for part in text.split(","):
        entry = part.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise SettingsError(
                f"SOPFLOW_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR range"
            ) from None
    return tuple(networks)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{name} is {text!r}; give a whole number") from None


def _data_routing(mode: str) -> bool:
    if mode not in ("", "none", "region"):
        raise SettingsError(f"SOPFLOW_DATA_ROUTING is {mode!r}; use 'region' or leave it unset")
    return mode == "region"
