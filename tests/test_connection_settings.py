"""How the worker, the API and the CLI decide to use TLS towards Temporal."""

from __future__ import annotations

import pytest

from sopflow.client.connection import tls_from_env

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("env", "tls"),
    [
        ({}, False),  # the dev server: plain loopback
        ({"TEMPORAL_TLS": "1"}, True),
        ({"TEMPORAL_API_KEY": "k"}, True),  # a key never goes in the clear by default
        ({"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "0"}, False),  # unless turned off by name
        ({"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "true"}, True),
    ],
)
def test_tls_follows_the_flag_and_is_on_with_an_api_key(
    env: dict[str, str], tls: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "TEMPORAL_TLS",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_CERT",
        "TEMPORAL_TLS_KEY",
        "TEMPORAL_TLS_CA",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tls_from_env() is tls
