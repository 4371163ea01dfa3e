"""Per-person API tokens: the store (hashing, expiry, revocation, the file and its lock, the
dev stack's token files) and the ``sopflow token`` commands."""

from __future__ import annotations

import json
import multiprocessing
import stat
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sopflow.api.tokens import (
    DEV_TOKENS_DIR,
    TOKEN_PREFIX,
    TokenError,
    TokenStore,
    dev_token,
    ensure_dev_tokens,
)
from sopflow.cli.tokens import token_app
from tests.conftest import SHIPPED

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "state" / "tokens.json")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the store


def test_issue_then_authenticate(store: TokenStore) -> None:
    token, record = store.issue("amoreno", now=T0)
    assert token.startswith(f"{TOKEN_PREFIX}{record.id}_")
    assert len(record.id) == 12 and int(record.id, 16) >= 0
    assert (record.user, record.created_at, record.expires_at, record.revoked_at) == (
        "amoreno",
        T0,
        None,
        None,
    )
    assert store.authenticate(token, now=T0) == record
    # A fresh instance reads the same file.
    assert TokenStore(store.path).authenticate(token, now=T0) == record
    assert store.records() == [record]


def test_every_token_is_different(store: TokenStore) -> None:
    tokens = {store.issue("amoreno", now=T0)[0] for _ in range(5)}
    assert len(tokens) == 5
    assert len({r.id for r in store.records()}) == 5


def test_a_wrong_secret_with_a_right_id_is_refused(store: TokenStore) -> None:
    token, record = store.issue("amoreno", now=T0)
    secret = token[len(f"{TOKEN_PREFIX}{record.id}_") :]
    other = "A" * len(secret) if secret != "A" * len(secret) else "B" * len(secret)
    assert store.authenticate(f"{TOKEN_PREFIX}{record.id}_{other}", now=T0) is None
    # One character changed at the end.
    flipped = token[:-1] + ("x" if token[-1] != "x" else "y")
    assert store.authenticate(flipped, now=T0) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sft_",
        "sft__",
        "Bearer sft_0123456789ab_" + "a" * 43,
        "sft_0123456789ab_" + "a" * 43 + "\n",
        "sft_0123456789AB_" + "a" * 43,
        "sft_0123456789a_" + "a" * 43,
        "sft_0123456789ab_" + "a" * 42,
        "sft_0123456789ab_" + "a" * 42 + "!",
        "xyz_0123456789ab_" + "a" * 43,
        "0123456789ab",
        "sft_0123456789ab_" + "a" * 10_000,
    ],
)
def test_malformed_tokens_are_refused(store: TokenStore, text: str) -> None:
    store.issue("amoreno", now=T0)
    assert store.authenticate(text, now=T0) is None


def test_an_unknown_id_is_refused(store: TokenStore) -> None:
    store.issue("amoreno", now=T0)
    assert store.authenticate("sft_0123456789ab_" + "a" * 43, now=T0) is None


def test_expiry(store: TokenStore) -> None:
    token, record = store.issue("amoreno", expires_in=timedelta(days=30), now=T0)
    assert record.expires_at == T0 + timedelta(days=30)
    just_before = T0 + timedelta(days=30) - timedelta(microseconds=1)
    assert store.authenticate(token, now=just_before) == record
    assert record.status(just_before) == "active"
    assert store.authenticate(token, now=T0 + timedelta(days=30)) is None
    assert record.status(T0 + timedelta(days=30)) == "expired"
    assert not record.active(T0 + timedelta(days=31))


def test_a_lifetime_must_be_positive(store: TokenStore) -> None:
    with pytest.raises(TokenError, match="positive"):
        store.issue("amoreno", expires_in=timedelta(0), now=T0)
    assert store.records() == []


def test_revoke_by_id(store: TokenStore) -> None:
    token, record = store.issue("amoreno", now=T0)
    keep, _ = store.issue("amoreno", now=T0)
    later = T0 + timedelta(hours=1)
    [revoked] = store.revoke(record.id, now=later)
    assert (revoked.id, revoked.revoked_at) == (record.id, later)
    assert revoked.status(later) == "revoked"
    assert store.authenticate(token, now=later) is None
    assert store.authenticate(keep, now=later) is not None
    # Again: nothing newly revoked, no error.
    assert store.revoke(record.id, now=later) == []


def test_revoke_an_unknown_id(store: TokenStore) -> None:
    store.issue("amoreno", now=T0)
    with pytest.raises(TokenError, match="no token with id 'ffffffffffff'"):
        store.revoke("ffffffffffff")


def test_revoke_needs_exactly_one_selector(store: TokenStore) -> None:
    with pytest.raises(ValueError):
        store.revoke()
    with pytest.raises(ValueError):
        store.revoke("0123456789ab", user="amoreno")


def test_revoke_by_user(store: TokenStore) -> None:
    a1, _ = store.issue("amoreno", now=T0)
    a2, _ = store.issue("amoreno", expires_in=timedelta(days=1), now=T0)
    d1, _ = store.issue("dokafor", now=T0)
    revoked = store.revoke(user="amoreno", now=T0)
    assert [r.user for r in revoked] == ["amoreno", "amoreno"]
    assert store.authenticate(a1, now=T0) is None
    assert store.authenticate(a2, now=T0) is None
    assert store.authenticate(d1, now=T0) is not None
    assert store.revoke(user="amoreno", now=T0) == []
    assert store.revoke(user="nobody", now=T0) == []


def test_a_revoke_by_another_process_is_seen_on_the_next_call(store: TokenStore) -> None:
    token, record = store.issue("amoreno", now=T0)
    api = TokenStore(store.path)  # the HTTP API's instance, with its in-memory copy
    assert api.authenticate(token, now=T0) == record
    assert api.authenticate(token, now=T0) == record  # cached
    TokenStore(store.path).revoke(record.id, now=T0)  # the CLI's
    assert api.authenticate(token, now=T0) is None
    # And a token issued elsewhere is accepted at once.
    fresh, _ = TokenStore(store.path).issue("dokafor", now=T0)
    assert api.authenticate(fresh, now=T0) is not None


def test_a_missing_store_holds_no_tokens(tmp_path: Path) -> None:
    empty = TokenStore(tmp_path / "nowhere" / "tokens.json")
    assert empty.records() == []
    assert empty.authenticate("sft_0123456789ab_" + "a" * 43) is None
    assert not (tmp_path / "nowhere").exists()


def test_the_file_holds_digests_only_and_is_private(store: TokenStore) -> None:
    token, record = store.issue("amoreno", now=T0)
    text = store.path.read_text(encoding="utf-8")
    secret = token[len(f"{TOKEN_PREFIX}{record.id}_") :]
    assert token not in text and secret not in text
    doc = json.loads(text)
    assert doc["version"] == 1
    [item] = doc["tokens"]
    assert set(item) == {"id", "user", "sha256", "created_at", "expires_at", "revoked_at"}
    assert len(item["sha256"]) == 64
    assert mode(store.path) == 0o600
    assert mode(store.path.parent) == 0o700
    # Nothing left behind but the store and its lock.
    assert sorted(p.name for p in store.path.parent.iterdir()) == [
        "tokens.json",
        "tokens.json.lock",
    ]


def test_a_loosened_mode_is_tightened_on_the_next_write(store: TokenStore) -> None:
    store.issue("amoreno", now=T0)
    store.path.chmod(0o644)
    store.issue("amoreno", now=T0)
    assert mode(store.path) == 0o600


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"version": 2, "tokens": []}',
        '{"version": 1}',
        '{"version": 1, "tokens": [{"id": "xyz"}]}',
        '{"version": 1, "tokens": [{"id": "0123456789ab", "user": "a", "sha256": "00",'
        ' "created_at": "2026-01-01T00:00:00Z"}]}',
    ],
)
def test_a_corrupt_store_is_an_error_naming_the_file(store: TokenStore, content: str) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(content, encoding="utf-8")
    with pytest.raises(TokenError, match=r"tokens\.json is corrupt"):
        store.records()
    with pytest.raises(TokenError, match="corrupt"):
        store.authenticate("sft_0123456789ab_" + "a" * 43)
    with pytest.raises(TokenError, match="corrupt"):
        store.issue("amoreno")
    assert store.path.read_text(encoding="utf-8") == content  # never overwritten


def test_a_store_that_becomes_corrupt_is_noticed(store: TokenStore) -> None:
    token, _ = store.issue("amoreno", now=T0)
    assert store.authenticate(token, now=T0) is not None
    store.path.write_text("garbage", encoding="utf-8")
    with pytest.raises(TokenError, match="corrupt"):
        store.authenticate(token, now=T0)


def test_a_naive_now_is_refused(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="aware"):
        store.issue("amoreno", now=datetime(2026, 1, 1))


def test_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPFLOW_TOKENS", raising=False)
    assert TokenStore.from_env(tmp_path).path == tmp_path / "tokens.json"
    assert TokenStore.from_env().path == Path(".sopflow/tokens.json")
    monkeypatch.setenv("SOPFLOW_TOKENS", str(tmp_path / "elsewhere.json"))
    assert TokenStore.from_env(tmp_path).path == tmp_path / "elsewhere.json"


def _issue_many(path: str, user: str, count: int, start: Barrier) -> None:
    store = TokenStore(Path(path))
    start.wait()  # every process issues at the same moment: the lock must serialise them
    for _ in range(count):
        store.issue(user)


def test_concurrent_issues_from_several_processes_are_all_kept(store: TokenStore) -> None:
    # spawn, not fork: a clean interpreter per process, as separate CLI runs would be.
    # Without the flock this keeps a third of the records, every run.
    ctx = multiprocessing.get_context("spawn")
    users = [f"user{n}" for n in range(4)]
    start = ctx.Barrier(len(users))
    procs = [
        ctx.Process(target=_issue_many, args=(str(store.path), user, 10, start)) for user in users
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * len(users)
    records = store.records()
    assert len(records) == 40 and len({r.id for r in records}) == 40
    assert {u: sum(r.user == u for r in records) for u in users} == dict.fromkeys(users, 10)


# --- the dev stack's token files


def test_ensure_dev_tokens_writes_private_files(store: TokenStore, tmp_path: Path) -> None:
    directory = tmp_path / "state" / DEV_TOKENS_DIR
    files = ensure_dev_tokens(store, ["amoreno", "dokafor"], directory, now=T0)
    assert files == {"amoreno": directory / "amoreno", "dokafor": directory / "dokafor"}
    for user, path in files.items():
        assert mode(path) == 0o600
        token = dev_token(user, directory)
        assert token is not None
        record = store.authenticate(token, now=T0)
        assert record is not None and record.user == user
    assert dev_token("slee", directory) is None


def test_ensure_dev_tokens_reuses_a_valid_file(store: TokenStore, tmp_path: Path) -> None:
    directory = tmp_path / DEV_TOKENS_DIR
    ensure_dev_tokens(store, ["amoreno"], directory, now=T0)
    before = dev_token("amoreno", directory)
    ensure_dev_tokens(store, ["amoreno"], directory, now=T0)
    assert dev_token("amoreno", directory) == before
    assert len(store.records()) == 1


def test_ensure_dev_tokens_replaces_a_revoked_token(store: TokenStore, tmp_path: Path) -> None:
    directory = tmp_path / DEV_TOKENS_DIR
    ensure_dev_tokens(store, ["amoreno"], directory, now=T0)
    old = dev_token("amoreno", directory)
    store.revoke(user="amoreno", now=T0)
    ensure_dev_tokens(store, ["amoreno"], directory, now=T0)
    new = dev_token("amoreno", directory)
    assert new is not None and new != old
    assert store.authenticate(new, now=T0) is not None
    assert mode(directory / "amoreno") == 0o600


def test_ensure_dev_tokens_replaces_another_users_token(store: TokenStore, tmp_path: Path) -> None:
    directory = tmp_path / DEV_TOKENS_DIR
    directory.mkdir()
    someone_else, _ = store.issue("dokafor", now=T0)
    (directory / "amoreno").write_text(someone_else + "\n", encoding="utf-8")
    ensure_dev_tokens(store, ["amoreno"], directory, now=T0)
    token = dev_token("amoreno", directory)
    assert token is not None and token != someone_else
    record = store.authenticate(token, now=T0)
    assert record is not None and record.user == "amoreno"


def test_ensure_dev_tokens_refuses_a_path_as_a_user(store: TokenStore, tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="cannot name"):
        ensure_dev_tokens(store, ["../escape"], tmp_path / DEV_TOKENS_DIR, now=T0)


# --- the CLI


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(token_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_issue_prints_the_token_alone(store: TokenStore) -> None:
    code, out, err = cli(
        "issue", "amoreno", "--expires", "30d", "--definitions", str(SHIPPED),
        "--store", str(store.path),
    )  # fmt: skip
    assert code == 0, err
    token = out.strip()
    assert out == token + "\n"
    record = store.authenticate(token)
    assert record is not None and record.user == "amoreno"
    assert record.expires_at is not None
    assert record.expires_at - record.created_at == timedelta(days=30)
    assert record.id in err and "shown once" in err
    assert token not in err


def test_cli_issue_refuses_a_person_not_in_the_roster(store: TokenStore) -> None:
    code, out, err = cli(
        "issue", "mallory", "--definitions", str(SHIPPED), "--store", str(store.path)
    )
    assert code == 1
    assert out == ""
    assert err.startswith("error: ") and "mallory" in err
    assert not store.path.exists()


def test_cli_issue_refuses_a_bad_duration(store: TokenStore) -> None:
    code, out, err = cli(
        "issue", "amoreno", "--expires", "30", "--definitions", str(SHIPPED),
        "--store", str(store.path),
    )  # fmt: skip
    assert code == 2
    assert out == "" and "no unit" in err
    assert not store.path.exists()


def test_cli_list_json(store: TokenStore) -> None:
    _, kept = store.issue("amoreno", expires_in=timedelta(days=3650))
    _, gone = store.issue("dokafor")
    store.revoke(gone.id)
    code, out, err = cli("list", "--json", "--store", str(store.path))
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["id"], r["user"], r["status"]) for r in rows] == [
        (kept.id, "amoreno", "active"),
        (gone.id, "dokafor", "revoked"),
    ]
    assert set(rows[0]) == {"id", "user", "created_at", "expires_at", "revoked_at", "status"}
    assert rows[0]["expires_at"].endswith("Z") and rows[1]["expires_at"] is None
    digests = [t["sha256"] for t in json.loads(store.path.read_text())["tokens"]]
    assert not any(d in out for d in digests)


def test_cli_list_table(store: TokenStore) -> None:
    _, record = store.issue("amoreno")
    code, out, err = cli("list", "--store", str(store.path))
    assert code == 0, err
    assert record.id in out and "amoreno" in out and "active" in out and "never" in out
    assert "1 token in" in err


def test_cli_list_a_corrupt_store(store: TokenStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{", encoding="utf-8")
    code, out, err = cli("list", "--store", str(store.path))
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "corrupt" in err and "Traceback" not in err


def test_cli_list_reads_the_store_from_the_environment(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, record = store.issue("amoreno")
    monkeypatch.setenv("SOPFLOW_TOKENS", str(store.path))
    code, out, _ = cli("list", "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [record.id]


def test_cli_revoke_by_id(store: TokenStore) -> None:
    token, record = store.issue("amoreno")
    code, out, err = cli("revoke", record.id, "--store", str(store.path))
    assert code == 0, err
    assert out == f"revoked {record.id} (amoreno)\n"
    assert store.authenticate(token) is None


def test_cli_revoke_a_pasted_token_never_echoes_it(store: TokenStore) -> None:
    token, record = store.issue("amoreno")
    code, out, err = cli("revoke", token, "--store", str(store.path))
    assert code == 0, err
    assert out == f"revoked {record.id} (amoreno)\n"
    assert token not in out + err


def test_cli_revoke_an_unknown_id(store: TokenStore) -> None:
    store.issue("amoreno")
    code, out, err = cli("revoke", "ffffffffffff", "--store", str(store.path))
    assert (code, out) == (1, "")
    assert err.startswith("error: no token with id 'ffffffffffff'")


def test_cli_revoke_by_user(store: TokenStore) -> None:
    t1, _ = store.issue("amoreno")
    t2, _ = store.issue("amoreno")
    other, _ = store.issue("dokafor")
    code, out, err = cli("revoke", "--user", "amoreno", "--store", str(store.path))
    assert code == 0, err
    assert out.count("revoked ") == 2
    assert store.authenticate(t1) is None and store.authenticate(t2) is None
    assert store.authenticate(other) is not None
    code, _, err = cli("revoke", "--user", "nobody", "--store", str(store.path))
    assert code == 1 and "'nobody' has no tokens" in err


@pytest.mark.parametrize("args", [[], ["0123456789ab", "--user", "amoreno"]])
def test_cli_revoke_needs_exactly_one_selector(store: TokenStore, args: list[str]) -> None:
    code, out, _ = cli("revoke", *args, "--store", str(store.path))
    assert (code, out) == (2, "")
