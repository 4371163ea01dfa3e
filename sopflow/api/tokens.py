"""Per-person API tokens: issued by ``sopflow token``, checked by the HTTP API.

A token reads ``sft_<id>_<secret>``: the id (12 hex characters) is public and names the
token in ``list`` and ``revoke``; the secret carries 256 bits from ``secrets``. The store
keeps only the SHA-256 digest of the whole token, so a copy of the file lets nobody in.

The store is one JSON file (``$SOPFLOW_TOKENS``, default ``.sopflow/tokens.json``), mode
0600, replaced atomically on every change; writers hold an exclusive ``flock`` on a sibling
``.lock`` file so two processes issuing at once never lose a record. Readers take no lock:
``os.replace`` means they always see a whole file. ``authenticate`` runs on every HTTP
request, so it keeps the parsed file in memory and re-reads it only when the file's
``(mtime_ns, size, inode)`` changed: one ``stat`` per call, and a revoke made by another
process is seen on the very next call.

This module imports no web framework and no Temporal: the CLI and the API both use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TOKEN_PREFIX = "sft_"  # noqa: S105 (a prefix, not a secret)
DEV_TOKENS_DIR = "dev-tokens"
TOKENS_ENV = "SOPFLOW_TOKENS"
STORE_VERSION = 1

_ID_BYTES = 6  # 12 hex characters
_SECRET_BYTES = 32  # 256 bits; token_urlsafe gives 43 characters
_TOKEN_RE = re.compile(r"sft_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_ID_RE = re.compile(r"[0-9a-f]{12}")
# A dev token file is named after its user: refuse anything that could leave the directory.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_Stamp = tuple[int, int, int]


class TokenError(Exception):
    """The store cannot answer (unreadable, corrupt, unwritable) or the request names no
    token; the message is for people."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One token as anyone may see it: never the secret, never its digest."""

    id: str
    user: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Whether the token lets its user in at ``now``."""
        return self.status(now) == "active"

    def status(self, now: datetime) -> str:
        """``"active"``, ``"expired"`` or ``"revoked"`` (a revoked token stays revoked even
        if it has since expired: that is what someone did to it)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _utc(now) >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class _Entry:
    record: TokenRecord
    digest: str


def _utc(now: datetime | None) -> datetime:
    """``now`` as aware UTC (the current time when None); a naive time is a bug: its zone
    is unknown."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime (e.g. datetime.now(UTC)), not a naive one")
    return now.astimezone(UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _write_private(path: Path, text: str) -> _Stamp:
    """Replace ``path`` with ``text`` atomically, mode 0600 (a temporary file in the same
    directory, then ``os.replace``): a reader sees the old file or the new one, never half.
    Returns the new file's stamp."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # mkstemp's 0600 already; say it, not rely on it
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
            stamp = _stamp(os.fstat(out.fileno()))
        Path(tmp).replace(path)  # os.replace: atomic on POSIX
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    # The rename itself must survive a crash, or a revoke could silently come undone.
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return stamp


class TokenStore:
    """The token file at ``path``, with an in-memory copy refreshed when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, _Entry] = {}
        self._stamp: _Stamp | None = None

    @classmethod
    def from_env(cls, state_dir: Path = Path(".sopflow")) -> TokenStore:
        """``$SOPFLOW_TOKENS`` (a file path), else ``state_dir / "tokens.json"``."""
        configured = os.environ.get(TOKENS_ENV)
        return cls(Path(configured) if configured else state_dir / "tokens.json")

    # --- reading

    def _current(self) -> dict[str, _Entry]:
        """The tokens by id, re-read only when the file changed since the last read."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._entries, self._stamp = {}, None
            return self._entries
        except OSError as exc:
            raise TokenError(f"cannot read the token store {self.path}: {exc.strerror}") from None
        if _stamp(st) != self._stamp:
            self._load()
        return self._entries

    def _load(self) -> None:
        # Stamp the descriptor we read, not the path: the file may be replaced in between.
        try:
            with self.path.open("rb") as src:
                stamp = _stamp(os.fstat(src.fileno()))
                raw = src.read()
        except FileNotFoundError:
            self._entries, self._stamp = {}, None
            return
        except OSError as exc:
            raise TokenError(f"cannot read the token store {self.path}: {exc.strerror}") from None
        self._entries = self._parse(raw)
        self._stamp = stamp

    def _parse(self, raw: bytes) -> dict[str, _Entry]:
        def corrupt(why: str) -> TokenError:
            return TokenError(
                f"the token store {self.path} is corrupt ({why}); restore it from the "
                "state directory's backup, or move it aside and issue new tokens"
            )

        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise corrupt(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("tokens"), list):
            raise corrupt('not {"version": 1, "tokens": [...]}')
        if doc.get("version") != STORE_VERSION:
            raise corrupt(f"version {doc.get('version')!r}, this sopflow reads {STORE_VERSION}")
        entries: dict[str, _Entry] = {}
        for n, item in enumerate(doc["tokens"]):
            try:
                entry = _entry(item)
            except (KeyError, TypeError, ValueError) as exc:
                raise corrupt(f"token #{n + 1}: {exc}") from None
            if entry.record.id in entries:
                raise corrupt(f"token id {entry.record.id} appears twice")
            entries[entry.record.id] = entry
        return entries

    def records(self) -> list[TokenRecord]:
        """Every token (active, expired and revoked), oldest first."""
        entries = self._current().values()
        return sorted((e.record for e in entries), key=lambda r: (r.created_at, r.id))

    def authenticate(self, token: str, now: datetime | None = None) -> TokenRecord | None:
        """The record of ``token`` when it is known and active at ``now``; None for a
        malformed, unknown, expired or revoked one. TokenError when the store is unreadable
        or corrupt: the caller must refuse service, not guess."""
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            return None
        entry = self._current().get(match.group(1))
        if entry is None:
            return None
        # Constant-time, so response times say nothing about how much of a digest matched.
        if not hmac.compare_digest(_digest(token), entry.digest):
            return None
        return entry.record if entry.record.active(_utc(now)) else None

    # --- writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, _Entry]]:
        """Hold the store's write lock; yield a fresh copy of the tokens to change."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TokenError(f"cannot lock the token store {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield dict(self._current())
        finally:
            os.close(fd)  # closing releases the lock

    def _save(self, entries: dict[str, _Entry]) -> None:
        """Write ``entries`` (under the lock) and remember them as the current state."""
        doc = {
            "version": STORE_VERSION,
            "tokens": [_dump(e) for e in sorted(entries.values(), key=_order)],
        }
        try:
            stamp = _write_private(self.path, json.dumps(doc, indent=2) + "\n")
        except OSError as exc:
            raise TokenError(f"cannot write the token store {self.path}: {exc}") from None
        self._entries, self._stamp = entries, stamp

    def issue(
        self, user: str, *, expires_in: timedelta | None = None, now: datetime | None = None
    ) -> tuple[str, TokenRecord]:
        """A new token for ``user``: the plaintext (returned this once, never stored) and
        its record. The caller checks ``user`` against the Roster."""
        if not user or user != user.strip():
            raise TokenError(f"{user!r} is not a user handle")
        if expires_in is not None and expires_in <= timedelta(0):
            raise TokenError("a token's lifetime must be positive")
        created = _utc(now)
        with self._locked() as entries:
            token_id = secrets.token_hex(_ID_BYTES)
            while token_id in entries:  # 48 bits: a clash is rare, never impossible
                token_id = secrets.token_hex(_ID_BYTES)
            token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
            expires = created + expires_in if expires_in is not None else None
            record = TokenRecord(token_id, user, created, expires, None)
            entries[token_id] = _Entry(record, _digest(token))
            self._save(entries)
        return token, record

    def revoke(
        self,
        token_id: str | None = None,
        *,
        user: str | None = None,
        now: datetime | None = None,
    ) -> list[TokenRecord]:
        """Revoke one token by id, or every token of ``user``; exactly one of the two.
        Returns the records revoked now (a token already revoked is not revoked again).
        TokenError for an id the store does not hold."""
        if (token_id is None) == (user is None):
            raise ValueError("revoke one token_id or every token of a user, exactly one")
        when = _utc(now)
        with self._locked() as entries:
            if token_id is not None:
                if token_id not in entries:
                    raise TokenError(f"no token with id {token_id!r} in {self.path}")
                chosen = [entries[token_id]]
            else:
                chosen = [e for e in entries.values() if e.record.user == user]
            revoked: list[TokenRecord] = []
            for entry in chosen:
                if entry.record.revoked_at is None:
                    record = replace(entry.record, revoked_at=when)
                    entries[record.id] = _Entry(record, entry.digest)
                    revoked.append(record)
            if revoked:
                self._save(entries)
        return sorted(revoked, key=lambda r: (r.created_at, r.id))


def _order(entry: _Entry) -> tuple[datetime, str]:
    return (entry.record.created_at, entry.record.id)


def _dump(entry: _Entry) -> dict[str, Any]:
    r = entry.record
    return {
        "id": r.id,
        "user": r.user,
        "sha256": entry.digest,
        "created_at": _time(r.created_at),
        "expires_at": _time(r.expires_at),
        "revoked_at": _time(r.revoked_at),
    }


def _entry(item: Any) -> _Entry:
    """One stored token; KeyError/TypeError/ValueError say what is wrong with it."""
    if not isinstance(item, dict):
        raise TypeError("not an object")
    token_id, user, digest = item["id"], item["user"], item["sha256"]
    if not isinstance(token_id, str) or not _ID_RE.fullmatch(token_id):
        raise ValueError(f"id {token_id!r} is not 12 hex characters")
    if not isinstance(user, str) or not user:
        raise ValueError(f"user {user!r} is not a handle")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("sha256 is not a SHA-256 hex digest")
    created = _stamp_field(item, "created_at")
    if created is None:
        raise ValueError("created_at is missing")
    record = TokenRecord(
        token_id, user, created, _stamp_field(item, "expires_at"), _stamp_field(item, "revoked_at")
    )
    return _Entry(record, digest)


def _stamp_field(item: dict[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{key} {value!r} has no time zone")
    return parsed.astimezone(UTC)


# --- the dev stack


def dev_token(user: str, directory: Path) -> str | None:
    """The token in ``directory/<user>``, if that file exists (stripped), else None."""
    try:
        text = (directory / user).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read the dev token {directory / user}: {exc}") from None
    return text or None


def ensure_dev_tokens(
    store: TokenStore, users: Iterable[str], directory: Path, *, now: datetime | None = None
) -> dict[str, Path]:
    """For each user, a file ``directory/<user>`` (mode 0600) holding an active token of
    theirs; reuses a file whose token still authenticates, issues a fresh one otherwise."""
    files: dict[str, Path] = {}
    for user in users:
        if not _SAFE_NAME.fullmatch(user):
            raise TokenError(f"{user!r} cannot name a dev token file")
        path = directory / user
        existing = dev_token(user, directory)
        record = store.authenticate(existing, now) if existing else None
        if record is not None and record.user == user:
            # Reused as is; only tighten a mode someone loosened.
            try:
                path.chmod(0o600)
            except OSError as exc:
                raise TokenError(f"cannot protect the dev token {path}: {exc}") from None
        else:
            token, _ = store.issue(user, now=now)
            try:
                _write_private(path, token + "\n")
            except OSError as exc:
                raise TokenError(f"cannot write the dev token {path}: {exc}") from None
        files[user] = path
    return files
