"""The Destinations document: named places a `notify` step can send to (a partner's safety
inbox, a law-enforcement request gateway), each with the worker channel that delivers it and
its address.

An address is where a message goes, never how to get in: a URL with credentials is refused
here, and tokens and passwords stay in the worker's channel configuration
(``$SOPFLOW_CONFIG``). docs/authoring.md describes the document.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from sopflow.language.models.common import DocBase, RegionCode, Strict

# A destination's name reads like an SOP id: it is written in steps and shown in plans.
DESTINATION_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"
# A channel is a `[channels.<name>]` table of the worker's configuration.
CHANNEL_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"

_NAME = re.compile(DESTINATION_PATTERN)


def _check_name(text: str) -> str:
    if not _NAME.match(text):
        raise PydanticCustomError(
            "destination_name",
            f"{text!r} is not a destination name: lower case letters, digits and '-', "
            "starting with a letter (like le-gateway)",
        )
    return text


DestinationName = Annotated[
    str, AfterValidator(_check_name), Field(json_schema_extra={"pattern": DESTINATION_PATTERN})
]
"""The name of a destination, as declared and as a `notify` step's `destination` says it."""

# One mailbox: no display name, no list, no spaces (the email channel's own rule, plus a dot
# in the domain, since a library names real receivers).
_EMAIL = re.compile(r"^[^@\s<>,;:/]+@[^@\s<>,;:/]+\.[^@\s<>,;:/]+$")
_ADDRESS_HELP = (
    "an address is an http(s) URL (for a webhook channel) or one email address (for an email "
    "channel)"
)


def address_kind(text: str) -> Literal["url", "email"] | None:
    """What ``text`` is as an address: an http(s) URL, an email address, or None."""
    if text.startswith(("http://", "https://")):
        return "url"
    return "email" if _EMAIL.match(text) else None


def _check_address(text: str) -> str:
    kind = address_kind(text)
    if kind is None:
        raise PydanticCustomError("address", f"{text!r} is not an address: {_ADDRESS_HELP}")
    if kind == "url":
        _check_url(text)
    return text


def _check_url(text: str) -> None:
    if any(c.isspace() for c in text):
        raise PydanticCustomError("address", f"{text!r} has a space: encode it as %20")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError as exc:
        raise PydanticCustomError("address", f"{text!r} is not a valid URL: {exc}") from None
    if not parts.hostname:
        raise PydanticCustomError("address", f"{text!r} names no host")
    if parts.username is not None or parts.password is not None:
        # The library is read by everyone who writes SOPs and travels in every plan that uses
        # it (into Temporal's history): a secret there is a leaked secret.
        raise PydanticCustomError(
            "address",
            "a URL with credentials (user:password@) would put a secret in the library; keep "
            "the token in the worker's channel configuration (token_env or token_file)",
        )


Address = Annotated[
    str,
    AfterValidator(_check_address),
    Field(
        description=(
            "Where the message goes: an http(s) URL for a webhook channel, one email address "
            "for an email channel. Never a secret: tokens stay in the worker's configuration"
        ),
        examples=["https://le-gateway.example/requests", "safety@partner.example"],
    ),
]


class Destination(Strict):
    """One named receiver, delivered through one of the worker's channels."""

    channel: str = Field(
        pattern=CHANNEL_PATTERN,
        description=(
            "The worker channel that delivers it: a `[channels.<name>]` of the worker's "
            "configuration (`webhook`, `email`, `log`, ...)"
        ),
    )
    address: Address
    description: str = ""
    regions: list[RegionCode] | None = Field(
        default=None,
        min_length=1,
        description="The desks whose SOPs may send here; absent: every desk",
    )


class DestinationsDoc(DocBase):
    """The library's named destinations (``destinations.yaml``): one per library."""

    kind: Literal["Destinations"]
    destinations: dict[DestinationName, Destination] = Field(min_length=1)
