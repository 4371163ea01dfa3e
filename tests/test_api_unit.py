"""The HTTP API without a Temporal server: settings, limits, problems, identity and the
OpenAPI document, through the app in process (httpx's ASGI transport) where a request is
needed. Everything that reaches Temporal is in test_api_e2e.py."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
import typer
from typer.testing import CliRunner

from sopflow.api import models
from sopflow.api.app import create_app
from sopflow.api.idempotency import incident_id_for, request_id_for
from sopflow.api.incidents import balanced, list_query
from sopflow.api.limits import InFlight, is_json
from sopflow.api.problems import (
    KINDS,
    REFUSAL_KINDS,
    REFUSED,
    pointer,
    refusal_problem,
    validation_errors,
)
from sopflow.api.settings import ApiSettings, SettingsError, parse_proxies
from sopflow.api.tokens import TokenError
from sopflow.cli.serve import serve
from sopflow.client.errors import ActionRefused, Refusal
from sopflow.language.input_check import input_errors, input_problems
from sopflow.language.models.common import RegionCode, SopId, StepId
from sopflow.language.roster import RosterError
from tests.conftest import REPO, SHIPPED

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Record:
    id: str
    user: str


class FakeTokens:
    """A token store: ``sft_<handle>`` is that person's token; ``sft_broken`` breaks it."""

    def authenticate(self, token: str, now: datetime | None = None) -> Record | None:
        if token == "sft_broken":  # noqa: S105 - a fake token, naming the case
            raise TokenError("the store is corrupt")
        return Record("t", token.removeprefix("sft_")) if token.startswith("sft_") else None


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer sft_{who}"}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.AsyncClient]:
    app = create_app(ApiSettings(definitions=SHIPPED), tokens=FakeTokens())

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail from deep inside")

    transport = httpx.ASGITransport(app=app)
    yield httpx.AsyncClient(transport=transport, base_url="http://api")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- settings


def test_an_identity_header_without_proxies_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="SOPFLOW_TRUSTED_PROXIES"):
        ApiSettings.from_env({"SOPFLOW_IDENTITY_HEADER": "X-Forwarded-User"})
    with pytest.raises(SettingsError, match="not an IP address"):
        ApiSettings.from_env(
            {"SOPFLOW_IDENTITY_HEADER": "X-User", "SOPFLOW_TRUSTED_PROXIES": "10.0.0.0/8, proxy"}
        )
    with pytest.raises(SettingsError, match="header name"):
        ApiSettings.from_env(
            {"SOPFLOW_IDENTITY_HEADER": "Authorization", "SOPFLOW_TRUSTED_PROXIES": "10.0.0.1"}
        )
    with pytest.raises(SettingsError, match="SOPFLOW_API_MAX_BODY"):
        ApiSettings.from_env({"SOPFLOW_API_MAX_BODY": "lots"})


def test_only_listed_peers_are_trusted() -> None:
    settings = ApiSettings.from_env(
        {"SOPFLOW_IDENTITY_HEADER": "X-User", "SOPFLOW_TRUSTED_PROXIES": "10.1.0.0/16,::1"}
    )
    assert settings.trusts("10.1.2.3") and settings.trusts("::1")
    assert not settings.trusts("10.2.0.1") and not settings.trusts("127.0.0.1")
    assert not settings.trusts(None) and not settings.trusts("testclient")
    assert not ApiSettings(trusted_proxies=parse_proxies("127.0.0.1")).trusts("127.0.0.1")


def test_defaults() -> None:
    settings = ApiSettings.from_env({})
    assert (settings.max_body_bytes, settings.max_in_flight) == (64 * 1024, 8)
    assert settings.identity_header is None and settings.trusted_proxies == ()


def test_serve_says_why_it_will_not_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    app.command()(serve)
    monkeypatch.chdir(tmp_path)
    for name in ("SOPFLOW_SIGNING_KEY", "SOPFLOW_TRUSTED_PROXIES", "SOPFLOW_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOPFLOW_IDENTITY_HEADER", "X-Forwarded-User")
    done = CliRunner().invoke(app, ["-d", str(SHIPPED)])
    assert done.exit_code == 1 and "SOPFLOW_TRUSTED_PROXIES" in done.output
    monkeypatch.delenv("SOPFLOW_IDENTITY_HEADER")
    done = CliRunner().invoke(app, ["-d", str(SHIPPED)])
    assert done.exit_code == 1 and "sign actions" in done.output, done.output


def test_a_library_without_a_roster_refuses_to_start(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED, tmp_path / "lib")
    (tmp_path / "lib" / "roster.yaml").unlink()
    with pytest.raises(RosterError):
        create_app(ApiSettings(definitions=tmp_path / "lib"), tokens=FakeTokens())


# --- pure parts


def test_patterns_are_the_librarys() -> None:
    def pattern(annotated: Any) -> str:
        [field] = annotated.__metadata__
        return str(next(m.pattern for m in field.metadata if hasattr(m, "pattern")))

    assert pattern(SopId) == models.SOP_ID_PATTERN
    assert pattern(StepId) == models.STEP_ID_PATTERN
    assert pattern(RegionCode) == models.REGION_PATTERN


def test_queries_cannot_escape_their_parentheses() -> None:
    assert balanced("Severity = 'SEV1' AND (Region = 'US' OR Region = 'UK')")
    assert balanced("SopId = 'a)b' AND x = \"(\"")
    assert not balanced("x) OR (y")
    assert not balanced("(x")
    assert not balanced("x = 'open")
    query = list_query(sop="a-b", region="US", severity="SEV1", status=None, query="x = 1")
    assert query == "(x = 1) AND SopId = 'a-b' AND Region = 'US' AND Severity = 'SEV1'"


def test_input_errors_point_at_each_problem() -> None:
    schema = {
        "type": "object",
        "required": ["a", "b/c"],
        "properties": {"x": {"type": "array", "items": {"type": "integer"}}},
    }
    found = input_errors(schema, {"x": [1, "y"]})
    assert [p for p, _ in found] == ["/a", "/b~1c", "/x/1"]
    # The existing callers' form is unchanged.
    assert input_problems(schema, {"x": [1, "y"]})[2] == "$.x[1]: 'y' is not of type 'integer'"


def test_validation_errors_become_pointers_and_parameters() -> None:
    errors = validation_errors(
        [
            {"type": "missing", "loc": ("body", "input"), "msg": "Field required"},
            {"type": "string_type", "loc": ("body", "a/b", 0), "msg": "bad"},
            {"type": "int_parsing", "loc": ("query", "limit"), "msg": "not a number"},
            {"type": "json_invalid", "loc": ("body", 7), "msg": "JSON", "ctx": {"error": "oops"}},
        ]
    )
    assert [(e.pointer, e.parameter) for e in errors] == [
        ("/input", None),
        ("/a~1b/0", None),
        (None, "limit"),
        ("", None),
    ]
    assert errors[3].message == "not valid JSON: oops at character 7"
    assert pointer(["~x", 1]) == "/~0x/1"


def test_every_refusal_has_a_status_and_unknown_ones_are_conflicts() -> None:
    assert {r.value for r in Refusal} <= set(REFUSAL_KINDS)
    statuses = {kind: REFUSAL_KINDS[kind].status for kind in REFUSAL_KINDS}
    assert statuses == {
        "not_found": 404,
        "not_an_incident": 404,
        "closed": 409,
        "refused": 409,
        "forbidden": 403,
        "invalid": 422,
        "unverified": 503,
        "exists": 409,
    }

    class Later:
        value = "something_new"

    refused = ActionRefused("no", Refusal.REFUSED)
    refused.kind = Later()  # type: ignore[assignment]
    assert refusal_problem(refused).kind is REFUSED


def test_idempotency_keys_are_scoped_to_the_person() -> None:
    assert request_id_for("amoreno", "k") == request_id_for("amoreno", "k")
    assert request_id_for("amoreno", "k") != request_id_for("slee", "k")
    assert request_id_for("amoreno", None) != request_id_for("amoreno", None)
    derived = incident_id_for("amoreno", "k")
    assert derived == incident_id_for("amoreno", "k") != incident_id_for("slee", "k")
    assert re.fullmatch(models.INCIDENT_ID_PATTERN, derived)


def test_in_flight_counts_per_person() -> None:
    limit = InFlight(2)
    assert limit.acquire("a") and limit.acquire("a") and not limit.acquire("a")
    assert limit.acquire("b")
    limit.release("a")
    assert limit.count("a") == 1 and limit.acquire("a")
    for _ in range(2):
        limit.release("a")
    assert limit.count("a") == 0


def test_json_content_types() -> None:
    assert is_json("application/json") and is_json("application/json; charset=utf-8")
    assert is_json("application/merge-patch+json")
    assert not is_json("text/plain") and not is_json("") and not is_json("application/jsonx")


# --- through the app, in process


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}", body
    return body


def test_an_unexpected_error_says_nothing_about_itself(client: httpx.AsyncClient) -> None:
    response = run(client.get("/api/v1/boom", headers=auth("amoreno")))
    body = problem(response, 500, "internal")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["request_id"] == response.headers["X-Request-Id"]


def test_refusals_before_anything_is_read(client: httpx.AsyncClient) -> None:
    async def go() -> None:
        problem(await client.get("/api/v1/sops"), 401, "unauthenticated")
        problem(await client.get("/api/v1/sops", headers=auth("ghost")), 403, "forbidden")
        problem(await client.get("/api/v1/me", headers=auth("broken")), 503, "unavailable")
        # Anonymous and malformed: still 401, the body is never parsed.
        malformed = await client.post(
            "/api/v1/incidents", content=b"{", headers={"Content-Type": "application/json"}
        )
        problem(malformed, 401, "unauthenticated")
        problem(await client.get("/api/v1/healthz"), 503, "unavailable")
        problem(await client.get("/api/v1/incidents", headers=auth("amoreno")), 503, "unavailable")
        problem(
            await client.delete("/api/v1/sops", headers=auth("amoreno")), 405, "method-not-allowed"
        )

    run(go())


def test_a_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    headers = auth("amoreno") | {"Content-Type": "application/json"}
    response = run(client.post("/api/v1/incidents/inc-x/notes", content=chunks(), headers=headers))
    problem(response, 413, "too-large")


def test_the_input_is_checked_before_temporal_is_needed(client: httpx.AsyncClient) -> None:
    body = {"sop": "threat-to-life", "input": {"referral_id": 7}}
    response = run(client.post("/api/v1/incidents", json=body, headers=auth("dokafor")))
    errors = problem(response, 422, "invalid-request")["errors"]
    assert {"pointer": "/input/referral_id", "message": "7 is not of type 'string'"} in errors
    region = {"sop": "threat-to-life", "region": "FR", "input": {}}
    problem(
        run(client.post("/api/v1/incidents", json=region, headers=auth("dokafor"))),
        404,
        "not-found",
    )


def test_openapi_errors_are_problems_and_documented(client: httpx.AsyncClient) -> None:
    spec = run(client.get("/api/v1/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (
                        path,
                        method,
                        status,
                    )
            if not path.endswith(("/healthz", "/boom")):
                assert operation["security"] == [{"HTTPBearer": []}], path
    docs = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert f"`{kind.type}`" in docs, kind.type
    for path in spec["paths"]:
        if not path.endswith("/boom"):
            assert path.removeprefix("/api/v1") in docs, path


def test_refusals_are_logged_without_tokens(client: httpx.AsyncClient) -> None:
    async def go() -> None:
        await client.get("/api/v1/incidents/inc-1", headers=auth("ghost"))
        await client.get("/api/v1/me", headers={"Authorization": "Bearer nope-secret"})

    with structlog.testing.capture_logs() as logs:
        run(go())
    refused = [e for e in logs if e["event"] == "api.refused"]
    assert [(e["actor"], e["incident"], e["outcome"]) for e in refused] == [
        ("ghost", "inc-1", "refused:403"),
        (None, None, "refused:401"),
    ]
    assert all(e["request_id"] and e["action"].startswith("GET ") for e in refused)
    assert "secret" not in repr(logs) and "sft_" not in repr(logs)


def test_the_graph_as_svg(client: httpx.AsyncClient) -> None:
    path = "/api/v1/sops/threat-to-life/versions/1/graph"
    response = run(client.get(path, params={"format": "svg"}, headers=auth("amoreno")))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.text.startswith("<svg") and 'data-id="refer"' in response.text
    uk = run(client.get(path, params={"format": "svg", "region": "UK"}, headers=auth("amoreno")))
    assert "threat-to-life@1 (UK)" in uk.text
    text = run(client.get(path, headers=auth("amoreno")))
    assert text.headers["content-type"].startswith("text/plain") and "flowchart" in text.text
    spec = run(client.get("/api/v1/openapi.json")).json()
    operation = spec["paths"]["/api/v1/sops/{sop_id}/versions/{version}/graph"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"text/plain", "image/svg+xml"}
