"""Payload encryption end to end: an incident on the real time-skipping server stores only
ciphertext (read back by a client without the codec), and the codec endpoint over real
loopback HTTP, in-process and as the ``sopflow codec serve`` command."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from sopflow.client.codec import (
    ENCODING,
    ENV_KEYS,
    KEY_ID_METADATA,
    AesGcmCodec,
    encrypted_converter,
    generate_key,
)
from sopflow.client.codec_server import CodecHTTPServer, make_server, serve_in_thread
from sopflow.client.incidents import IncidentService
from sopflow.contract.messages import Actor, CompleteTask, IncidentInput, NotifyRequest
from tests.harness import bench, compile_text, run

# The time-skipping server, and `sopflow codec serve` run as a process: end to end.
pytestmark = pytest.mark.e2e

KEY_ID = "k-int"
KEY = generate_key()
UI = "http://localhost:8233"
TOKEN = f"tok-{uuid.uuid4().hex}"  # a fresh bearer token per run

SEALED = """\
apiVersion: sopflow/v1
kind: SOP
id: sealed
version: 1
title: Sealed payloads
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
defaults:
  sla: 30m
steps:
  - id: assess
    type: task
    assignee: responder
    escalate: [lead]
    form:
      type: object
      required: [rationale]
      additionalProperties: false
      properties: {rationale: {type: string}}
  - id: page
    type: notify
    channel: pager
    to: lead
    message: 'Referral {{ input.referral_id }} assessed'
  - id: close
    type: end
    outcome: resolved
"""


def codec() -> AesGcmCodec:
    return AesGcmCodec({KEY_ID: base64.b64decode(KEY)})


PATCH_MARKER = "core_patch"  # the marker name workflow.patched records


def payloads_in(message: Message) -> Iterator[tuple[str, Payload]]:
    """Every Payload in a history event, with its field path. Search attributes and headers
    are not payload data (the SDK never encodes them): they are left out."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.full_name in (
            "temporal.api.common.v1.SearchAttributes",
            "temporal.api.common.v1.Header",
        ):
            continue
        items: list[Any] = []
        if field.is_repeated:
            is_map = field.message_type.GetOptions().map_entry
            items = list(value.values()) if is_map else list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield field.name, item
            elif isinstance(item, Message):
                for path, found in payloads_in(item):
                    yield f"{field.name}.{path}", found


def test_the_server_stores_ciphertext() -> None:
    referral = f"R-{uuid.uuid4()}"  # the plaintext marker: only the input carries it
    rationale = f"rationale-{uuid.uuid4()}"

    async def scenario() -> None:
        async with bench(data_converter=encrypted_converter(codec())) as b:
            handle = await b.start(compile_text(SEALED), {"referral_id": referral})
            await b.until(handle, lambda s: s.steps["assess"].status == "active")
            done = await b.act(
                handle,
                CompleteTask(
                    step="assess",
                    actor=Actor(id="amoreno", roles=["responder"]),
                    data={"rationale": rationale},
                ),
            )
            assert done.accepted
            final = await handle.result()
            assert final.outcome == "resolved"
            # The worker saw plaintext: the fake notifier got the rendered message.
            [note] = b.fakes.notifications
            assert note.message == f"Referral {referral} assessed"

            # A client with no codec reads what the server stores.
            config = b.client.config()
            config["data_converter"] = pydantic_data_converter
            plain = IncidentService(Client(**config), task_queue=b.task_queue)
            history = await plain.history(handle.id)
            raw = history.to_json().encode() + b"".join(
                e.SerializeToString() for e in history.events
            )
            for marker in (referral, rationale, "amoreno"):
                assert marker.encode() not in raw, marker

            found: dict[str, list[Payload]] = {}
            for event in history.events:
                if event.marker_recorded_event_attributes.marker_name == PATCH_MARKER:
                    # The SDK writes a patch marker's data itself, in plain JSON: the patch id
                    # (a name in our code, e.g. "visible-due-times"), never case data.
                    details = event.marker_recorded_event_attributes.details
                    assert all(
                        p.metadata["encoding"] == b"json/plain"
                        for d in details.values()
                        for p in d.payloads
                    )
                    continue
                for path, payload in payloads_in(event):
                    found.setdefault(path, []).append(payload)
                    assert payload.metadata["encoding"] == ENCODING, path
                    assert payload.metadata[KEY_ID_METADATA] == KEY_ID.encode(), path
            started = found["workflow_execution_started_event_attributes.input.payloads"]
            update = found[
                "workflow_execution_update_accepted_event_attributes"
                ".accepted_request.input.args.payloads"
            ]
            scheduled = found["activity_task_scheduled_event_attributes.input.payloads"]
            assert found["activity_task_completed_event_attributes.result.payloads"]
            assert found["workflow_execution_completed_event_attributes.result.payloads"]

            # The codec client opens the same stored payloads.
            conv = b.client.data_converter
            [inp] = await conv.decode(started, [IncidentInput])
            assert inp.input == {"referral_id": referral}
            [action] = await conv.decode(update, [CompleteTask])
            assert action.data == {"rationale": rationale}
            [request] = await conv.decode(scheduled, [NotifyRequest])
            assert request.message == f"Referral {referral} assessed"
            # ...and the one without cannot.
            with pytest.raises(Exception, match="binary/encrypted"):
                await plain.handle(handle.id).result()

    run(scenario)


# --- the codec endpoint over loopback HTTP


def post(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data)
    finally:
        conn.close()


def as_json(payloads: list[Payload]) -> bytes:
    return json.dumps({"payloads": [json_format.MessageToDict(p) for p in payloads]}).encode()


def from_json(document: dict[str, Any]) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in document["payloads"]]


@pytest.fixture
def endpoint() -> Iterator[CodecHTTPServer]:
    server = make_server(codec(), "127.0.0.1", 0, ui_origins=[UI], auth_token=TOKEN)
    thread = serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_endpoint_round_trip_and_auth(endpoint: CodecHTTPServer) -> None:
    port = endpoint.server_address[1]
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default", "Origin": UI}
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"referral": "R-http-1"}])
    status, headers, encoded = post(port, "/encode", as_json([plain]), auth)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == UI
    [sealed] = from_json(encoded)
    assert sealed.metadata["encoding"] == ENCODING and b"R-http-1" not in sealed.data
    # The wire form is proto3 JSON: metadata values are base64.
    assert encoded["payloads"][0]["metadata"]["encoding"] == base64.b64encode(ENCODING).decode()
    status, _, decoded = post(port, "/default/decode", as_json([sealed]), auth)
    assert status == 200 and from_json(decoded) == [plain]
    status, _, empty = post(port, "/decode", b'{"payloads": []}', auth)
    assert (status, empty) == (200, {"payloads": []})

    for wrong in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        status, headers, body = post(port, "/decode", as_json([sealed]), wrong)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer", wrong
        assert TOKEN not in json.dumps(body)


def test_endpoint_refusals(endpoint: CodecHTTPServer) -> None:
    port = endpoint.server_address[1]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for bad in (b"{not json", b'{"payloads": 3}', b'{"payloads": [{"metadata": "x"}]}'):
        status, _, body = post(port, "/decode", bad, auth)
        assert status == 400 and body["error"] and "Traceback" not in body["error"], bad
    stranger = AesGcmCodec({"other": os.urandom(32)}).encrypt(Payload(data=b"x"))
    status, _, body = post(port, "/decode", as_json([stranger]), auth)
    assert status == 422 and "'other'" in body["error"]
    status, _, body = post(port, "/elsewhere", b"{}", auth)
    assert status == 404


def test_endpoint_cors_preflight(endpoint: CodecHTTPServer) -> None:
    port = endpoint.server_address[1]
    for origin, allowed in ((UI, True), ("http://evil.example", False)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(
                "OPTIONS",
                "/decode",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
                },
            )
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        assert response.status == 204  # no token asked: browsers send none on preflight
        allow_headers = (response.getheader("Access-Control-Allow-Headers") or "").lower()
        assert "x-namespace" in allow_headers and "authorization" in allow_headers
        assert "POST" in (response.getheader("Access-Control-Allow-Methods") or "")
        assert (response.getheader("Access-Control-Allow-Origin") == origin) is allowed


def test_codec_serve_command() -> None:
    """``sopflow codec serve`` with keys from the environment, stopped by SIGTERM."""
    env = {**os.environ, ENV_KEYS: f"{KEY_ID}:{KEY}"}
    env.pop("SOPFLOW_CODEC_KEYS_FILE", None)
    env.pop("SOPFLOW_CODEC_AUTH_TOKEN", None)
    command = [sys.executable, "-m", "sopflow.cli.app", "codec", "serve", "--port", "0"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first: list[bytes] = []
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)  # the deadline for the endpoint to announce itself
        assert first, "sopflow codec serve printed nothing within 30s"
        line = first[0].decode()
        assert line.startswith("codec endpoint: http://127.0.0.1:"), line
        assert KEY not in line
        port = int(line.split()[2].rsplit(":", 1)[1])
        sealed = codec().encrypt(Payload(data=b'"hello"'))
        status, _, body = post(port, "/decode", as_json([sealed]))
        assert status == 200 and from_json(body)[0].data == b'"hello"'
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert KEY.encode() not in out + err
