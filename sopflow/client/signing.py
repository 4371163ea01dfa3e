"""Action signing keys: who may vouch for the person behind an action, and the check of it.

The service that authenticates a person (the HTTP API; an operator's CLI in direct mode; the
rehearsal runner) holds an Ed25519 private key and signs every action it sends
(:class:`ActionSigner`). Workers and auditors hold only public keys (:class:`KeyRing`): a
worker refuses an action whose signature does not verify, and ``sopflow audit verify``
checks every recorded action offline.

Keys are files: a private key is PKCS#8 PEM (``NAME.key``, mode 0600: a key others can read
is refused), a public key is SubjectPublicKeyInfo PEM (``NAME.pub``); ``NAME`` is the key's
label (``api``, ``operator``). A key's id is derived from the public key itself (the first
16 hex digits of its SHA-256), so a signature names exactly one key whatever the files are
called. Rotation: add the new public key to the workers' ring, switch the signer to the new
private key, and remove the old public key from the workers once no action signed with it
can still arrive (auditors keep every key that ever signed).

Configuration (environment):

- ``SOPFLOW_SIGNING_KEY``: the private key file this process signs with;
- ``SOPFLOW_TRUSTED_KEYS``: public key files or directories of ``*.pub`` files, separated
  by ``:`` (a worker refuses to start without any);
- without them, the dev keys under ``.sopflow/keys`` (``sopflow dev`` makes them), so the
  worker, the API and the CLI started from one directory trust each other.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sopflow.client.actions import update_id
from sopflow.contract.assertions import (
    CLAIMS_VERSION,
    Signable,
    SignatureRefused,
    claims,
    claims_of,
    signing_bytes,
)
from sopflow.contract.messages import ActionSignature

A = TypeVar("A", bound=Signable)

SIGNING_KEY_ENV = "SOPFLOW_SIGNING_KEY"
TRUSTED_KEYS_ENV = "SOPFLOW_TRUSTED_KEYS"
DEV_KEYS_DIR = Path(".sopflow") / "keys"
DEV_LABELS = ("operator", "api")

# An action is signed just before it is sent: one older than this is a replay or a stuck
# queue, and is refused. Clocks may differ a little between the API and the workers.
MAX_AGE = timedelta(minutes=5)
MAX_SKEW = timedelta(minutes=2)


class KeyFileError(Exception):
    """A key file is missing, unreadable, not an Ed25519 key, or readable by others."""


def key_id_of(public: Ed25519PublicKey) -> str:
    """The id signatures name a key by: derived from the key, not from its file name."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _label(path: Path) -> str:
    return path.name.removesuffix(".key").removesuffix(".pub")


@dataclass(frozen=True, slots=True)
class ActionSigner:
    """A private key that signs actions on behalf of the people its holder authenticated."""

    private: Ed25519PrivateKey
    label: str
    # Derived once: the API signs on every request.
    public: Ed25519PublicKey = field(init=False, repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        public = self.private.public_key()
        object.__setattr__(self, "public", public)
        object.__setattr__(self, "key_id", key_id_of(public))

    @classmethod
    def generate(cls, label: str) -> ActionSigner:
        """A new random key (rehearsals, tests; ``sopflow keys`` writes one to files)."""
        return cls(Ed25519PrivateKey.generate(), label)

    @classmethod
    def from_file(cls, path: Path) -> ActionSigner:
        """The private key in ``path``; KeyFileError if others can read it or it is not one."""
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"signing key {path} can be read by others (mode {stat.filemode(mode)}); "
                f"run: chmod 600 {path}"
            )
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path} is not a PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path} is not an Ed25519 key")
        return cls(key, _label(path))

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``LABEL.key`` (0600) and ``LABEL.pub`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = directory / f"{self.label}.key"
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public = directory / f"{self.label}.pub"
        public.write_bytes(
            self.public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return private, public

    def sign(self, action: A, incident_id: str, request_id: str, issued_at: datetime) -> A:
        """``action`` with a signature over its claims on ``incident_id``."""
        claim_set = claims(action, incident_id, request_id, issued_at, self.key_id)
        value = base64.b64encode(self.private.sign(signing_bytes(claim_set))).decode("ascii")
        signature = ActionSignature(
            key_id=self.key_id, request_id=request_id, issued_at=issued_at, value=value
        )
        # model_copy keeps the action's own class; mypy sees only the bound's union.
        return cast(A, action.model_copy(update={"signature": signature}))


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key a worker or an auditor accepts signatures from."""

    key_id: str
    label: str
    public: Ed25519PublicKey


def _public_from_file(path: Path) -> TrustedKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return TrustedKey(key_id_of(key), _label(path), key)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The public keys whose signatures are accepted, by key id."""

    keys: dict[str, TrustedKey]

    @classmethod
    def of(cls, *signers: ActionSigner) -> KeyRing:
        """A ring trusting ``signers`` (rehearsals and tests)."""
        return cls({s.key_id: TrustedKey(s.key_id, s.label, s.public) for s in signers})

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> KeyRing:
        """The ``*.pub`` files named, or found in the directories named."""
        found: dict[str, TrustedKey] = {}
        for path in paths:
            files = sorted(path.glob("*.pub")) if path.is_dir() else [path]
            for file in files:
                key = _public_from_file(file)
                found[key.key_id] = key
        return cls(found)

    def check(self, action: Signable, incident_id: str) -> TrustedKey:
        """The key that signed ``action`` on ``incident_id``; SignatureRefused if none of
        this ring's keys did, or the signature does not match what the action says. No
        clock: this is what an auditor checks."""
        signature = action.signature
        if signature is None:
            raise SignatureRefused("the action is not signed")
        key = self.keys.get(signature.key_id)
        if key is None:
            raise SignatureRefused(f"signed by unknown key {signature.key_id!r}")
        claim_set = claims_of(action, incident_id, signature)
        assert claim_set["v"] == CLAIMS_VERSION
        try:
            key.public.verify(
                base64.b64decode(signature.value, validate=True), signing_bytes(claim_set)
            )
        except (InvalidSignature, ValueError):
            raise SignatureRefused(
                f"the signature by key {key.key_id} ({key.label}) does not match the action"
            ) from None
        return key

    def verify(self, action: Signable, incident_id: str, update: str, now: datetime) -> TrustedKey:
        """What a worker checks before any validator: :meth:`check`, then that the action
        was signed for this update (a signature is not reusable under another update id)
        and recently (``MAX_AGE``, with ``MAX_SKEW`` for clocks)."""
        key = self.check(action, incident_id)
        assert action.signature is not None
        signed = action.signature
        if update != update_id(action, signed.request_id):
            raise SignatureRefused(
                f"signed for request {signed.request_id!r}, sent as update {update!r} "
                "(a replayed signature)"
            )
        if signed.issued_at > now + MAX_SKEW:
            raise SignatureRefused(f"issued in the future ({signed.issued_at.isoformat()})")
        if now - signed.issued_at > MAX_AGE:
            raise SignatureRefused(
                f"expired: issued {signed.issued_at.isoformat()}, more than "
                f"{int(MAX_AGE.total_seconds() // 60)} minutes before it arrived"
            )
        return key


def _env_paths(name: str) -> list[Path]:
    value = os.environ.get(name, "")
    return [Path(part) for part in value.split(os.pathsep) if part.strip()]


def signer_from_env(label: str = "operator", keys_dir: Path = DEV_KEYS_DIR) -> ActionSigner | None:
    """``$SOPFLOW_SIGNING_KEY``, else ``keys_dir/LABEL.key`` when it exists, else None."""
    configured = os.environ.get(SIGNING_KEY_ENV)
    if configured:
        return ActionSigner.from_file(Path(configured))
    dev = keys_dir / f"{label}.key"
    return ActionSigner.from_file(dev) if dev.exists() else None


def keyring_from_env(keys_dir: Path = DEV_KEYS_DIR) -> KeyRing:
    """``$SOPFLOW_TRUSTED_KEYS``, else the dev keys in ``keys_dir`` (may be empty)."""
    paths = _env_paths(TRUSTED_KEYS_ENV) or ([keys_dir] if keys_dir.is_dir() else [])
    return KeyRing.from_paths(paths)


def ensure_dev_keys(keys_dir: Path = DEV_KEYS_DIR) -> list[Path]:
    """The dev stack's keys (``operator`` for the CLI, ``api`` for the HTTP API), made on
    first use; returns the private key files."""
    made = []
    for label in DEV_LABELS:
        private = keys_dir / f"{label}.key"
        if not private.exists():
            ActionSigner.generate(label).write(keys_dir)
        made.append(private)
    return made
