"""Connecting to Temporal, preparing a namespace for sopflow, and reading an incident as a
client (the CLI today, the console later) sees it.

The worker and the CLI connect the same way, from the environment:

- ``TEMPORAL_ADDRESS`` (default ``localhost:7233``), ``TEMPORAL_NAMESPACE`` (``default``);
- TLS: ``TEMPORAL_TLS_CERT`` and ``TEMPORAL_TLS_KEY`` (client certificate files),
  ``TEMPORAL_TLS_CA`` (server CA file), or ``TEMPORAL_TLS=1`` for TLS with system roots;
  ``TEMPORAL_API_KEY`` for Temporal Cloud API keys.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    TLSConfig,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from sopflow.client.codec import data_converter_from_env
from sopflow.contract import search
from sopflow.contract.messages import IncidentState
from sopflow.contract.names import QUERY_STATE, TASK_QUEUE, data_queue_name

DEFAULT_ADDRESS = "localhost:7233"

# The typed search attributes every incident carries (see sopflow/contract/search.py): `sopflow
# setup`, `sopflow dev` and the test servers register this one list.
SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in search.ALL_KEYS
}


def dev_server_flags() -> list[str]:
    """``--search-attribute`` flags registering the attributes when the dev server starts."""
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
        IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
        IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
        IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text",
    }
    flags: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        flags += ["--search-attribute", f"{name}={names[kind]}"]
    return flags


async def register_search_attributes(client: Client) -> list[str]:
    """Add the missing search attributes to the client's namespace. Idempotent; returns the
    names it added."""
    namespace = client.namespace
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()  # the time-skipping test server cannot list; adding is enough there
    missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def address_from_env() -> str:
    """``$TEMPORAL_ADDRESS``, else ``localhost:7233``."""
    return os.environ.get("TEMPORAL_ADDRESS") or DEFAULT_ADDRESS


def task_queue_from_env() -> str:
    """``$SOPFLOW_TASK_QUEUE``, else ``sopflow``: where incidents run."""
    return os.environ.get("SOPFLOW_TASK_QUEUE") or TASK_QUEUE


def data_task_queue(region: str, base: str = TASK_QUEUE) -> str:
    """The queue serving user-data activities for one data region."""
    return data_queue_name(base, region)


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    return Path(path).read_bytes()  # a secret file, read once


def tls_from_env() -> TLSConfig | bool:
    """TLS settings from ``$TEMPORAL_TLS_CERT``/``_KEY``/``_CA``, or ``$TEMPORAL_TLS=1``; on
    by default with ``$TEMPORAL_API_KEY`` (``TEMPORAL_TLS=0`` turns it off)."""
    cert, key, ca = (os.environ.get(f"TEMPORAL_TLS_{k}") for k in ("CERT", "KEY", "CA"))
    if cert or key or ca:
        return TLSConfig(
            client_cert=_read(cert), client_private_key=_read(key), server_root_ca_cert=_read(ca)
        )
    flag = os.environ.get("TEMPORAL_TLS", "").strip().lower()
    if flag in ("1", "true", "yes"):
        return True
    if flag in ("0", "false", "no"):
        return False
    # An API key is a credential: it goes over TLS unless TLS is turned off by name (the
    # SDK's own default; a key sent in the clear is a leaked key).
    return bool(os.environ.get("TEMPORAL_API_KEY"))


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    """A client for ``address`` (default ``$TEMPORAL_ADDRESS``) and ``namespace`` (default
    ``$TEMPORAL_NAMESPACE``) with sopflow's converter and TLS settings from the environment."""
    return await Client.connect(
        address or address_from_env(),
        namespace=namespace or os.environ.get("TEMPORAL_NAMESPACE") or "default",
        data_converter=data_converter_from_env(),
        tls=tls_from_env(),
        api_key=os.environ.get("TEMPORAL_API_KEY") or None,
    )


async def connect_from_env() -> Client:
    """A client configured entirely from the environment (see the module docstring)."""
    return await connect()


# --- Reading an incident

QUERY_TIMEOUT = timedelta(seconds=5)


class StateUnavailable(Exception):
    """No worker answered the incident's ``state`` query."""


async def incident_state(
    handle: WorkflowHandle[Any, IncidentState], status: WorkflowExecutionStatus | None
) -> IncidentState:
    """The incident's state: a completed run's result (the final state, read from the
    history, no worker needed), else the ``state`` query, which a worker answers for running
    and closed runs alike (replaying a closed one). Raises StateUnavailable when no worker
    answers within ``QUERY_TIMEOUT``."""
    if status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result()
    try:
        state: IncidentState = await handle.query(
            QUERY_STATE, result_type=IncidentState, rpc_timeout=QUERY_TIMEOUT
        )
    except (RPCError, WorkflowQueryFailedError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE:
            raise  # the server, not the worker, is out of reach
        raise StateUnavailable(f"no worker answered the state query ({exc})") from exc
    return state


_CLOSED_STATUS = {
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
}
_FAILED_OUTCOMES = ("step_failed:", "sla_spent:", "expression_error")


def incident_status(
    temporal: WorkflowExecutionStatus | None, state: IncidentState | None, outcome: str | None
) -> str:
    """running|completed|failed|cancelled|terminated. A run that ended on its own carries
    the incident's status in its state; without the state, the ``Outcome`` attribute tells
    (docs/operations.md: failures end as ``step_failed:<step>``, ``sla_spent:<step>`` or
    ``expression_error``; a cancellation as ``cancelled``)."""
    if temporal in _CLOSED_STATUS:
        return _CLOSED_STATUS[temporal]
    if state is not None:
        return state.status
    if temporal != WorkflowExecutionStatus.COMPLETED:
        return "running"
    if outcome == "cancelled":
        return "cancelled"
    return "failed" if (outcome or "").startswith(_FAILED_OUTCOMES) else "completed"
