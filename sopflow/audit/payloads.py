"""Decoding the payloads a history holds, with sopflow's data converter.

Histories store every input and result through the data converter, so they are decoded the
same way: ``data_converter_from_env()`` applies the payload codec (decryption, when keys are
configured) and then the pydantic payload converter. A payload that cannot be decoded (a
key that is not configured, a model that no longer fits) raises ``DecodeError``, one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from sopflow.audit.errors import AuditError
from sopflow.client.codec import data_converter_from_env
from sopflow.contract.messages import IncidentInput
from sopflow.contract.reviews import ReviewInput

T = TypeVar("T")


class DecodeError(AuditError):
    """A payload in the history could not be decoded."""


def converter_from_env() -> DataConverter:
    """sopflow's converter, or AuditError when its settings (e.g. keys) are unusable."""
    try:
        return data_converter_from_env()
    # The codec reads keys from the environment; whatever it raises is a setting to fix.
    except Exception as exc:
        raise AuditError(f"the data converter's settings are unusable: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class Decoder:
    """Decodes payloads with one converter (sopflow's from the environment by default)."""

    def __init__(self, converter: DataConverter | None = None) -> None:
        self.converter = converter or converter_from_env()

    async def one(self, payloads: Payloads | Sequence[Payload], kind: type[T], what: str) -> T:
        """The first value of ``payloads`` as ``kind``; DecodeError saying ``what`` failed."""
        items = list(payloads.payloads if isinstance(payloads, Payloads) else payloads)
        if not items:
            raise DecodeError(f"{what}: no payload recorded")
        try:
            [value] = await self.converter.decode(items[:1], [kind])
        # Codec and converter errors have no common type (cryptography, pydantic, the
        # SDK's RuntimeError for an unknown encoding): each means "cannot decode".
        except Exception as exc:
            raise DecodeError(f"cannot decode {what}: {_one_line(exc)}") from None
        result: T = value
        return result

    async def maybe(
        self, payloads: Payloads | Sequence[Payload], kind: type[T], what: str, notes: list[str]
    ) -> T | None:
        """Like ``one``, but a failure becomes a note and None (the report goes on)."""
        try:
            return await self.one(payloads, kind, what)
        except DecodeError as exc:
            notes.append(str(exc))
            return None

    async def failure_text(self, failure: Failure) -> str:
        """A failure's message. With encryption on, the codec moves it into the failure's
        encoded attributes (the plain ``message`` then only says "Encoded failure")."""
        if not failure.HasField("encoded_attributes"):
            return failure.message
        copy = Failure()
        copy.CopyFrom(failure)  # decode_failure rewrites the failure it is given
        try:
            error = await self.converter.decode_failure(copy)
        # Same as in ``one``: whatever the codec or converter raise means "cannot decode".
        except Exception as exc:
            return f"{failure.message} (cannot decode it: {_one_line(exc)})"
        return str(error)

    async def incident_input(self, history: WorkflowHistory, what: str) -> IncidentInput:
        """The ``IncidentInput`` that started this run (its plan, and any carried state)."""
        attrs = history.events[0].workflow_execution_started_event_attributes
        return await self.one(attrs.input, IncidentInput, f"{what}: the incident's input")

    async def review_input(self, history: WorkflowHistory, what: str) -> ReviewInput:
        """The ``ReviewInput`` that started a post-mortem review's run."""
        attrs = history.events[0].workflow_execution_started_event_attributes
        return await self.one(attrs.input, ReviewInput, f"{what}: the review's input")


def plain(payload: Payload) -> Any:
    """A search attribute's value: always ``json/plain``, never encoded by the codec."""
    import json

    try:
        return json.loads(payload.data)
    except ValueError:
        return payload.data.decode(errors="replace")
