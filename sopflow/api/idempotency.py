"""The ``Idempotency-Key`` header: a retried request is applied once.

An action's key becomes the request id the incident service turns into the Workflow
Update's id, so Temporal applies a retried action at most once and answers the retry with
the first result. A start's key becomes the incident id, so a retried start finds the
incident the first attempt opened. Either way the key is scoped to the person sending it:
two people using the same key never meet.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import Header

from sopflow.client.actions import new_request_id

MAX_KEY = 128
# Visible ASCII: what a client library puts in a header without escaping it.
KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"
# Fixed, so a key maps to the same request id in every process and after every restart.
_NAMESPACE = uuid.UUID("5a0f1d7e-8c1b-4f6e-9a55-3f3c2b7d9e10")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        max_length=MAX_KEY,
        description="Makes a retry safe: the same key from the same person is applied once "
        "(visible ASCII, at most 128 characters; a UUID is a good choice).",
    ),
]


def request_id_for(handle: str, key: str | None) -> str:
    """The request id of an action: derived from the person and their key, else new."""
    if key is None:
        return new_request_id()
    return str(uuid.uuid5(_NAMESPACE, f"{handle}\n{key}"))


def incident_id_for(handle: str, key: str) -> str:
    """The id of an incident started with ``key`` by ``handle``: the same every retry."""
    digest = hashlib.sha256(f"{handle}\n{key}".encode()).hexdigest()
    return f"inc-k{digest[:16]}"
