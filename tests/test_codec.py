"""The payload codec on its own: encryption of real sopflow payloads, keys and rotation,
every error it raises (none of which may carry key material), and the CLI's key command."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.client.codec import (
    ENCODING,
    ENV_ACTIVE_KEY,
    ENV_KEYS,
    ENV_KEYS_FILE,
    KEY_ID_METADATA,
    AesGcmCodec,
    CodecDecodeError,
    CodecError,
    CodecKeyError,
    codec_from_env,
    data_converter_from_env,
    generate_key,
    keys_from_env,
    new_key_line,
    parse_keys,
)
from sopflow.contract.messages import Actor, CompleteTask

pytestmark = pytest.mark.unit

KEY_A = generate_key()
KEY_B = generate_key()
SHORT = base64.b64encode(os.urandom(16)).decode()
SECRETS = (KEY_A, KEY_B, SHORT)


def go(coro: Any) -> Any:
    return asyncio.run(coro)


def raises(kind: type[CodecError], call: Any, *args: Any, **kw: Any) -> str:
    """Run ``call``, expect ``kind``, and return its message, which must not carry any
    key material: neither a whole key nor a recognisable piece of one."""
    with pytest.raises(kind) as caught:
        call(*args, **kw)
    message = str(caught.value)
    for secret in SECRETS:
        raw = base64.b64decode(secret)
        assert secret.rstrip("=")[:12] not in message, message
        assert raw.hex()[:12] not in message and repr(raw)[2:14] not in message, message
    assert caught.value.__cause__ is None  # no chained binascii error repeating the input
    return message


def converter(keys: str, active: str | None = None) -> DataConverter:
    env = {ENV_KEYS: keys} | ({ENV_ACTIVE_KEY: active} if active else {})
    return data_converter_from_env(env)


def task(marker: str) -> CompleteTask:
    return CompleteTask(
        step="assess",
        actor=Actor(id="amoreno", roles=["responder"]),
        data={"rationale": marker, "credible": True},
    )


def key_id(payload: Payload) -> str:
    return payload.metadata[KEY_ID_METADATA].decode()


def test_no_keys_means_plaintext_and_a_clear_error_on_encrypted_payloads() -> None:
    plain = data_converter_from_env({})
    assert data_converter_from_env({ENV_KEYS: "  "}).payload_codec is not None
    assert plain.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert codec_from_env({}) is None
    [written] = go(plain.encode([task("in the clear")]))
    assert b"in the clear" in written.data
    [sealed] = go(converter(f"k1:{generate_key()}").encode([task("secret")]))
    with pytest.raises(CodecDecodeError, match=r"encrypted with key 'k1' and no key is configured"):
        go(plain.decode([sealed], [CompleteTask]))


def test_round_trip_hides_data_and_original_metadata() -> None:
    conv = converter(f"k1:{KEY_A}")
    assert isinstance(conv.payload_codec, AesGcmCodec)
    assert conv.failure_converter_class is DefaultFailureConverterWithEncodedAttributes
    marker = f"marker-{uuid.uuid4()}"
    [payload] = go(conv.encode([task(marker)]))
    assert dict(payload.metadata) == {"encoding": ENCODING, KEY_ID_METADATA: b"k1"}
    raw = payload.SerializeToString()
    assert marker.encode() not in raw and b"json/plain" not in raw and b"amoreno" not in raw
    [back] = go(conv.decode([payload], [CompleteTask]))
    assert back == task(marker)


def test_every_payload_gets_a_fresh_nonce() -> None:
    conv = converter(f"k1:{KEY_A}")
    first, second = go(conv.encode([task("same"), task("same")]))
    assert first.data[:12] != second.data[:12] and first.data != second.data


def test_unencrypted_payloads_pass_through_decode() -> None:
    [plain] = go(pydantic_data_converter.encode([task("before encryption")]))
    conv = converter(f"k1:{KEY_A}")
    codec = conv.payload_codec
    assert codec is not None
    assert go(codec.decode([plain])) == [plain]
    assert go(conv.decode([plain], [CompleteTask])) == [task("before encryption")]


def test_rotation_old_payloads_still_read_new_ones_use_the_new_key() -> None:
    old = converter(f"k2026a:{KEY_A}")
    [before] = go(old.encode([task("written under k2026a")]))
    rotated = converter(f"k2026b:{KEY_B},k2026a:{KEY_A}")  # new key listed first: active
    [after] = go(rotated.encode([task("written under k2026b")]))
    assert (key_id(before), key_id(after)) == ("k2026a", "k2026b")
    assert go(rotated.decode([before, after], [CompleteTask, CompleteTask])) == [
        task("written under k2026a"),
        task("written under k2026b"),
    ]
    # SOPFLOW_CODEC_ACTIVE_KEY picks another listed key, e.g. to roll back.
    pinned = converter(f"k2026b:{KEY_B},k2026a:{KEY_A}", active="k2026a")
    [again] = go(pinned.encode([task("x")]))
    assert key_id(again) == "k2026a"


def test_tampered_ciphertext_fails_authentication() -> None:
    codec = AesGcmCodec({"k1": base64.b64decode(KEY_A)})
    payload = codec.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=b'"secret"'))
    flipped = bytearray(payload.data)
    flipped[-1] ^= 1
    tampered = Payload(metadata=payload.metadata, data=bytes(flipped))
    message = raises(CodecDecodeError, codec.decrypt, tampered)
    assert "'k1'" in message and "failed authentication" in message
    truncated = Payload(metadata=payload.metadata, data=payload.data[:5])
    assert "truncated" in raises(CodecDecodeError, codec.decrypt, truncated)


def test_relabelled_key_id_fails_authentication() -> None:
    codec = AesGcmCodec({"k1": base64.b64decode(KEY_A), "k2": base64.b64decode(KEY_A)})
    payload = codec.encrypt(Payload(data=b"x"))  # sealed under k1
    relabelled = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k2"})
    relabelled.data = payload.data
    assert "failed authentication" in raises(CodecDecodeError, codec.decrypt, relabelled)


def test_unknown_or_missing_key_id() -> None:
    writer = AesGcmCodec({"retired": base64.b64decode(KEY_A)})
    reader = AesGcmCodec({"current": base64.b64decode(KEY_B)})
    payload = writer.encrypt(Payload(data=b"x"))
    message = raises(CodecDecodeError, reader.decrypt, payload)
    assert "'retired'" in message and "not configured" in message and "current" in message
    bare = Payload(metadata={"encoding": ENCODING}, data=payload.data)
    assert KEY_ID_METADATA in raises(CodecDecodeError, reader.decrypt, bare)


def test_key_errors_name_the_key_never_its_material(tmp_path: Path) -> None:
    assert "16 bytes" in raises(CodecKeyError, parse_keys, f"short:{SHORT}", source="env")
    assert "base64" in raises(CodecKeyError, parse_keys, f"bad:{KEY_A[:-3]}!!!", source="e")
    assert "'id:base64key'" in raises(CodecKeyError, parse_keys, KEY_A.rstrip("="), source="e")
    assert "twice" in raises(CodecKeyError, parse_keys, f"a:{KEY_A}\na:{KEY_B}", source="f")
    assert "key id" in raises(CodecKeyError, parse_keys, f"a b:{KEY_A}", source="f")
    assert "no keys" in raises(CodecKeyError, parse_keys, "# nothing\n", source="f")
    assert "16 bytes" in raises(CodecKeyError, AesGcmCodec, {"k": base64.b64decode(SHORT)})
    both = {ENV_KEYS: f"a:{KEY_A}", ENV_KEYS_FILE: str(tmp_path / "keys")}
    assert "not both" in raises(CodecKeyError, keys_from_env, both)
    missing = {ENV_KEYS_FILE: str(tmp_path / "absent")}
    assert "absent" in raises(CodecKeyError, keys_from_env, missing)
    stray = {ENV_KEYS: f"a:{KEY_A}", ENV_ACTIVE_KEY: "b"}
    assert "'b'" in raises(CodecKeyError, keys_from_env, stray)
    # The error names where: the entry number for the env list, the line for a file.
    assert raises(
        CodecKeyError, parse_keys, f"a:{KEY_A},b:{SHORT}", source=ENV_KEYS, separator=","
    ).startswith(f"{ENV_KEYS}: entry 2:")
    assert raises(CodecKeyError, parse_keys, f"a:{KEY_A}\n\nb:{SHORT}", source="keys").startswith(
        "keys:3:"
    )
    assert KEY_A not in repr(AesGcmCodec({"k1": base64.b64decode(KEY_A)}))


def test_keys_file_format(tmp_path: Path) -> None:
    keys = tmp_path / "codec.keys"
    keys.write_text(
        f"# sopflow payload keys, newest first\n\nk2026b: {KEY_B}\n  k2026a={KEY_A}  \n",
        encoding="utf-8",
    )
    found, active = keys_from_env({ENV_KEYS_FILE: str(keys)})
    assert list(found) == ["k2026b", "k2026a"] and active == "k2026b"
    assert found["k2026a"] == base64.b64decode(KEY_A)  # '=' padding survives the '=' form
    assert keys_from_env({ENV_KEYS_FILE: str(keys), ENV_ACTIVE_KEY: "k2026a"})[1] == "k2026a"
    inline, _ = keys_from_env({ENV_KEYS: f" k2026b:{KEY_B},\n k2026a={KEY_A}\n"})
    assert inline == found


def test_failure_messages_are_encrypted() -> None:
    conv = converter(f"k1:{KEY_A}")
    failure = Failure()
    go(conv.encode_failure(ApplicationError("referral R-secret-77 unreachable"), failure))
    assert b"R-secret-77" not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    decoded = go(conv.decode_failure(failure))
    assert "R-secret-77" in str(decoded)


def test_new_keys() -> None:
    assert len(base64.b64decode(generate_key())) == 32
    key_id_, _, key = new_key_line("k-test").partition(":")
    assert key_id_ == "k-test" and len(base64.b64decode(key)) == 32
    assert new_key_line().startswith("k20")
    result = CliRunner().invoke(app, ["codec", "new-key", "--id", "k2027a"])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert parse_keys(line, source="cli").keys() == {"k2027a"}
    bad = CliRunner().invoke(app, ["codec", "new-key", "--id", "no:colons"])
    assert bad.exit_code == 1 and "key id" in bad.stderr
