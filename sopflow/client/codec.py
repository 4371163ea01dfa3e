"""Payload encryption: an AES-256-GCM payload codec, its keys, and sopflow's data converter.

``data_converter_from_env()`` is the one converter every sopflow client and worker uses
(through ``sopflow.client.connection.connect``). With no key configured it is the plain pydantic
converter; with keys, every payload the SDK sends to Temporal (workflow input and result,
activity and update arguments and results, queries, signals, memos, failure messages) is
encrypted before it leaves the process, so the server stores ciphertext.

Keys come from the environment or a file, never from code or arguments:

- ``SOPFLOW_CODEC_KEYS``: ``id:base64key`` entries separated by commas, e.g.
  ``k2026b:<base64 of 32 bytes>,k2026a:<base64>``;
- ``SOPFLOW_CODEC_KEYS_FILE``: a file with one ``id: base64key`` (or ``id=base64key``) per
  line; blank lines and lines starting with ``#`` are ignored;
- ``SOPFLOW_CODEC_ACTIVE_KEY``: the id that encrypts new payloads (default: the first listed).

Every listed key decrypts, so rotation is: list the new key first (it becomes active), keep
the old ones until no open or retained history uses them.

An encrypted payload is the whole serialized ``Payload`` proto (data *and* its metadata, so
even the original encoding and message type are hidden), sealed as ``nonce || ciphertext``
with a fresh 12-byte nonce. Its outer metadata says only ``encoding: binary/encrypted`` and
``encryption-key-id: <id>``.
"""

from __future__ import annotations

import binascii
import dataclasses
import os
import re
from base64 import b64decode, b64encode
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per payload, so never reused in practice

ENV_KEYS = "SOPFLOW_CODEC_KEYS"
ENV_KEYS_FILE = "SOPFLOW_CODEC_KEYS_FILE"
ENV_ACTIVE_KEY = "SOPFLOW_CODEC_ACTIVE_KEY"

# Ids travel in every payload's metadata and in error messages: keep them short and plain.
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class CodecError(Exception):
    """A payload-encryption problem. Messages name key ids, never key material."""


class CodecKeyError(CodecError):
    """The configured keys are unusable: malformed entry, bad base64, wrong length..."""


class CodecDecodeError(CodecError):
    """An encrypted payload cannot be decrypted: unknown key id or failed authentication."""


def _safe_id(value: bytes | str) -> str:
    """A key id from payload metadata, shortened and printable, for an error message."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return repr(text[:64])


def parse_keys(text: str, *, source: str, separator: str = "\n") -> dict[str, bytes]:
    """Parse ``id:base64`` / ``id=base64`` entries (split on ``separator``) into raw keys,
    in the order listed. ``source`` names where they came from, for error messages."""
    keys: dict[str, bytes] = {}
    for number, raw in enumerate(text.split(separator), start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        where = f"{source}: entry {number}" if separator != "\n" else f"{source}:{number}"
        # Ids never contain ':' or '=', so the first of either separates id from key (the
        # key's own base64 padding is '=').
        cut = min((i for i in (entry.find(":"), entry.find("=")) if i >= 0), default=-1)
        if cut < 0:
            raise CodecKeyError(f"{where}: expected 'id:base64key'")  # never echo the entry
        key_id, material = entry[:cut].strip(), entry[cut + 1 :].strip()
        if not _KEY_ID.fullmatch(key_id):
            raise CodecKeyError(f"{where}: key id must be 1-64 letters, digits, '.', '_' or '-'")
        if key_id in keys:
            raise CodecKeyError(f"{where}: key {key_id!r} is listed twice")
        try:
            key = b64decode(material, validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"{where}: key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise CodecKeyError(
                f"{where}: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
            )
        keys[key_id] = key
    if not keys:
        raise CodecKeyError(f"{source}: no keys listed")
    return keys


def keys_from_env(environ: Mapping[str, str] | None = None) -> tuple[dict[str, bytes], str]:
    """The configured keys and the active key id, or ``({}, "")`` when encryption is off."""
    env = os.environ if environ is None else environ
    inline, path = env.get(ENV_KEYS, "").strip(), env.get(ENV_KEYS_FILE, "").strip()
    if inline and path:
        # Two sources would leave open which one the active key comes from: refuse.
        raise CodecKeyError(f"set one of {ENV_KEYS} and {ENV_KEYS_FILE}, not both")
    if inline:
        # A variable filled from a multi-line secret may use newlines between entries too.
        keys = parse_keys(inline.replace("\n", ","), source=ENV_KEYS, separator=",")
    elif path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise CodecKeyError(f"{ENV_KEYS_FILE}: cannot read {path}: {reason}") from None
        keys = parse_keys(text, source=path)
    else:
        return {}, ""
    active = env.get(ENV_ACTIVE_KEY, "").strip() or next(iter(keys))
    if active not in keys:
        raise CodecKeyError(
            f"{ENV_ACTIVE_KEY}={active!r} is not among the configured keys ({', '.join(keys)})"
        )
    return keys, active


class AesGcmCodec(PayloadCodec):
    """Encrypts each payload with the active key; decrypts with whichever listed key its
    metadata names. Payloads that are not ``binary/encrypted`` pass through decode, so
    histories written before encryption was turned on still read."""

    def __init__(self, keys: Mapping[str, bytes], active: str | None = None) -> None:
        if not keys:
            raise CodecKeyError("no keys given")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise CodecKeyError(
                    f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
        # Only AESGCM objects are kept: the raw bytes stay out of this object's attributes.
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active or next(iter(keys))
        if self.active not in self._ciphers:
            raise CodecKeyError(f"active key {self.active!r} is not among the given keys")

    @property
    def key_ids(self) -> list[str]:
        """The ids this codec can decrypt, in the order given."""
        return list(self._ciphers)

    def __repr__(self) -> str:
        return f"AesGcmCodec(active={self.active!r}, keys={self.key_ids!r})"

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, sealed with the active key."""
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated data: relabelling a payload with another id fails.
        sealed = self._ciphers[self.active].encrypt(
            nonce, payload.SerializeToString(), self.active.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.active.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload opened with the key its metadata names; others unchanged."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise CodecDecodeError(f"encrypted payload has no {KEY_ID_METADATA} metadata")
        key_id = raw_id.decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecDecodeError(
                f"payload is encrypted with key {_safe_id(raw_id)}, which is not configured "
                f"(configured: {', '.join(self._ciphers)})"
            )
        if len(payload.data) <= NONCE_BYTES:
            raise CodecDecodeError(f"payload encrypted with key {key_id!r} is truncated")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise CodecDecodeError(
                f"payload encrypted with key {key_id!r} failed authentication: it was "
                "altered, or that id names a different key than the one that encrypted it"
            ) from None
        try:
            return Payload.FromString(plain)
        except DecodeError:
            raise CodecDecodeError(
                f"payload encrypted with key {key_id!r} does not hold a payload"
            ) from None

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload (the SDK calls this before anything goes to Temporal)."""
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt the encrypted payloads; pass the others through."""
        return [self.decrypt(p) for p in payloads]


class RefuseEncrypted(PayloadCodec):
    """The codec when no key is configured: plaintext passes both ways, and an encrypted
    payload fails with a message that says which key to configure (the SDK alone would only
    say it does not know the encoding)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                key_id = _safe_id(payload.metadata.get(KEY_ID_METADATA, b"?"))
                raise CodecDecodeError(
                    f"payload is encrypted with key {key_id} and no key is configured: set "
                    f"{ENV_KEYS} or {ENV_KEYS_FILE} (docs/operations.md, Payload encryption)"
                )
        return list(payloads)


def codec_from_env(environ: Mapping[str, str] | None = None) -> AesGcmCodec | None:
    """The codec the environment configures, or None when encryption is off. Raises
    CodecKeyError on a configuration problem."""
    keys, active = keys_from_env(environ)
    return AesGcmCodec(keys, active) if keys else None


def data_converter_from_env(environ: Mapping[str, str] | None = None) -> DataConverter:
    """sopflow's data converter: pydantic payloads, encrypted when a key is configured."""
    codec = codec_from_env(environ)
    if codec is None:
        return dataclasses.replace(pydantic_data_converter, payload_codec=RefuseEncrypted())
    return encrypted_converter(codec)


def encrypted_converter(codec: PayloadCodec) -> DataConverter:
    """The pydantic converter with ``codec``; failure messages and stack traces are moved
    into an encoded attribute so they are encrypted too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def generate_key() -> str:
    """A new random AES-256 key, base64-encoded."""
    return b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def default_key_id(now: datetime | None = None) -> str:
    """An id for a new key: ``k`` and the UTC date and time, which sort in creation order."""
    return (now or datetime.now(UTC)).strftime("k%Y%m%d%H%M")


def new_key_line(key_id: str | None = None) -> str:
    """``id:base64key`` for a new key, ready for the keys file or ``SOPFLOW_CODEC_KEYS``."""
    key_id = key_id or default_key_id()
    if not _KEY_ID.fullmatch(key_id):
        raise CodecKeyError("key id must be 1-64 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{generate_key()}"
