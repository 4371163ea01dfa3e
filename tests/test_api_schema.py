"""Property-based tests of the HTTP API from its own OpenAPI document (schemathesis): for
every operation, generated requests, with a token and without one, never get a 5xx, and
every response (status, content type, headers, body) is what the document says.

The API is the real one, served by uvicorn against the real Temporal dev server and a
worker (the stack of test_api_e2e.py). The number of examples is bounded so this stays well
under a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_api_e2e import Stack, stack

pytestmark = pytest.mark.e2e

__all__ = ["stack"]  # the fixture, used by the tests below

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def operations(stack: Stack) -> list[Any]:
    """Every operation of the API's OpenAPI document, read from the running server."""
    loaded = schemathesis.openapi.from_url(stack.urls["main"] + "/api/v1/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]


def exercise(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    """Send generated requests to one operation and check every response."""

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        if not headers and not case.path.endswith("/healthz"):
            # Nobody signed in: refused before anything is read or done.
            assert response.status_code == 401, response.text

    one()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("signed_in", [True, False], ids=["token", "anonymous"])
def test_every_operation_conforms(stack: Stack, mode: GenerationMode, signed_in: bool) -> None:
    headers = {"Authorization": f"Bearer {stack.tokens['amoreno']}"} if signed_in else {}
    for operation in operations(stack):
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (
            raw.get("parameters") or raw.get("requestBody")
        ):
            continue  # nothing in the request can be made invalid
        exercise(operation, mode, headers)
