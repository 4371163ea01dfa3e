"""What the incident page and the modules whose forms sit on it share: the incident id a
path takes, each form's idempotency key, where a refused form waits in the session and
where on the page it comes back."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import Path

from sopflow.api.idempotency import KEY_PATTERN
from sopflow.api.models import INCIDENT_ID_PATTERN
from sopflow.web.sessions import FormFlash
from sopflow.web.visits import Form

IncidentId = Annotated[str, Path(pattern=INCIDENT_ID_PATTERN)]


def new_key() -> str:
    """A fresh Idempotency-Key for one rendered form: sending it twice applies once."""
    return uuid.uuid4().hex


def key_of(form: Form) -> str | None:
    """The form's Idempotency-Key, if it is one."""
    value = (form.get("key") or [""])[0]
    return value if re.fullmatch(KEY_PATTERN, value) else None


def flash_key(incident_id: str) -> str:
    """Where a refused form of this incident's page waits in the session: by incident, so
    it shows only on that incident's page, and only once its reader is allowed to see it."""
    return f"incident:{incident_id}"


def anchor(control: str) -> str:
    """The id of a form's part of the page (``task:verify`` is ``form-task-verify``): where
    a refused form's redirect points."""
    return "form-" + control.replace(":", "-")


def for_control(failure: FormFlash | None, control: str) -> FormFlash | None:
    """The refused form, if it came from ``control`` (each form shows only its own)."""
    return failure if failure is not None and failure.control == control else None


def typed(failure: FormFlash | None, name: str) -> str:
    """What was typed in field ``name`` of a refused form ("" without one)."""
    return (failure.raw.get(name) or [""])[0] if failure is not None else ""
