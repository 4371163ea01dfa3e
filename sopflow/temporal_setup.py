"""Connecting to Temporal and preparing a namespace for sopflow."""

from __future__ import annotations

import os

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

# The typed search attributes every incident carries (see workflows/search.py).
SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "SopId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "SopVersion": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Region": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Severity": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ActiveSteps": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "PendingRoles": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "SlaBreached": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Outcome": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


def dev_server_flags() -> list[str]:
    """``--search-attribute`` flags registering the attributes when the dev server starts."""
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
        IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
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


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    """A client for ``$TEMPORAL_ADDRESS`` / ``$TEMPORAL_NAMESPACE`` with sopflow's converter."""
    return await Client.connect(
        address or os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
        namespace=namespace or os.environ.get("TEMPORAL_NAMESPACE", "default"),
        data_converter=pydantic_data_converter,
    )
