"""The disclosure log: an append-only, hash-chained record of every disclosure decision.

One JSON object per line (JSON Lines), keys sorted, no spaces. Each record carries
``prev_hash``, the hash of the record before it (64 zeros for the first), and ``hash =
sha256(prev_hash + canonical JSON of the record without "hash")``; editing, removing or
reordering a record breaks every hash after it, and ``verify_log`` finds the first break.
Removing records from the *end* cannot be seen from the file alone: keep the last hash
somewhere else (the audit report prints it) to catch that too.

Writers hold an exclusive ``flock`` on the file while they read its tail and append, so
workers on one host never fork the chain. (flock does not reach across NFS: one log per host
or per data region, on local disk.)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

LOG_ENV = "SOPFLOW_DISCLOSURE_LOG"
DEFAULT_LOG = Path(".sopflow/disclosure-log.jsonl")
GENESIS_HASH = "0" * 64
RECORD_FIELDS = (
    "seq",
    "at",
    "incident_id",
    "step",
    "sop",
    "version",
    "region",
    "policy",
    "rule",
    "decision",
    "allow",
    "legal_basis",
    "reason",
    "facts",
    "idempotency_key",
    "prev_hash",
    "hash",
)


class DisclosureLogError(RuntimeError):
    """The log cannot be appended to (it is torn or not a log): a person must look."""


class Verification(NamedTuple):
    """The answer of ``verify_log``."""

    ok: bool
    first_broken_seq: int | None
    message: str


def log_path() -> Path:
    """``$SOPFLOW_DISCLOSURE_LOG``, else ``.sopflow/disclosure-log.jsonl``."""
    return Path(os.environ.get(LOG_ENV) or DEFAULT_LOG)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the bytes the hash is taken over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def record_hash(record: Mapping[str, Any]) -> str:
    """The hash a record must carry: over its ``prev_hash`` and every field but ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256((str(body.get("prev_hash")) + canonical_json(body)).encode()).hexdigest()


def append_once(path: Path, entry: Mapping[str, Any], *, key: str) -> tuple[dict[str, Any], bool]:
    """Append ``entry`` (the record's fields but seq, at, prev_hash and hash) unless a record
    with idempotency key ``key`` is already there. Returns the record and whether it is new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            existing, last = _scan(fh, key, path)
            if existing is not None:
                return existing, False
            record: dict[str, Any] = {
                **entry,
                "idempotency_key": key,
                "seq": last["seq"] + 1 if last else 1,
                "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "prev_hash": last["hash"] if last else GENESIS_HASH,
            }
            record["hash"] = record_hash(record)
            # "a" mode: the write lands at the end whatever the read position.
            fh.write((canonical_json(record) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
            return record, True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _scan(
    fh: BinaryIO, key: str, path: Path
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The record holding ``key`` if any, and the last record."""
    needle = f'"idempotency_key":{canonical_json(key)}'.encode()
    fh.seek(0)
    found: dict[str, Any] | None = None
    last_line = b""
    lineno = 0
    for line in fh:
        lineno += 1
        last_line = line
        # Only lines that could hold the key are parsed: the log grows for years.
        if found is None and needle in line:
            record = _parse(line, lineno, path)
            if record.get("idempotency_key") == key:
                found = record
    if not last_line:
        return found, None
    if not last_line.endswith(b"\n"):
        raise DisclosureLogError(f"{path}:{lineno}: the last record is incomplete (torn write)")
    return found, _parse(last_line, lineno, path)


def _parse(line: bytes, lineno: int, path: Path) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        raise DisclosureLogError(f"{path}:{lineno}: not a JSON record") from None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        raise DisclosureLogError(f"{path}:{lineno}: not a disclosure-log record")
    return record


def verify_log(path: Path) -> Verification:
    """Walk the chain from the first record. ``first_broken_seq`` is the sequence number the
    first bad record should have had (its line number, as records start at 1)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return Verification(False, None, f"{path}: no such file")
    except OSError as exc:
        return Verification(False, None, f"{path}: cannot read: {exc.strerror}")
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        prev, seq = GENESIS_HASH, 0
        for seq, line in enumerate(fh, start=1):
            problem = _check(line, seq, prev)
            if problem is not None:
                return Verification(False, seq, f"{path}:{seq}: record {seq}: {problem}")
            prev = json.loads(line)["hash"]
    if seq == 0:
        return Verification(True, None, f"{path}: empty log")
    return Verification(True, None, f"{path}: {seq} records, chain intact; last hash {prev}")


def _check(line: bytes, seq: int, prev: str) -> str | None:
    """What is wrong with one line of the chain, or None."""
    if not line.endswith(b"\n"):
        return "incomplete (no end of line)"
    try:
        record = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if record["seq"] != seq:
        return f"seq is {record['seq']!r}, expected {seq} (a record removed or moved?)"
    if record["prev_hash"] != prev:
        return "prev_hash is not the hash of the record before (a record removed or moved?)"
    try:
        expected = record_hash(record)
    except ValueError:
        return "holds a value that has no canonical JSON form"
    if record["hash"] != expected:
        return "hash does not match the record's content (edited after it was written)"
    return None
