"""What the soak runs against: a stack it starts itself (faults on, every receiver counted),
or a deployment someone else runs (``--api``), which it never kills.

Against a deployment, the soak needs its library (``bench/soak_library``) served by the API
and run by the workers, a token per soak Roster person (a directory with one file per
handle, as ``sopflow dev`` writes its dev tokens), and the workers' channels pointed at the
sinks this process opens (``--sink-host``/``--sink-port``: the webhook, pager and escalation
channels at ``http://HOST:PORT/<channel>``, email by SMTP at PORT+1). The disclosure log and
the post-mortem drafts are counted when the harness can read them (``--disclosure-log``,
``--artifacts``); forged and replayed signatures are sent when it can reach Temporal with an
operator key the workers trust (``--temporal``, ``--operator-key``). What it cannot check,
it says, and it does not count as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.soak.stack import LIBRARY, Stack
from sopflow.client.signing import ActionSigner
from sopflow.language.roster import load_roster


class TargetError(Exception):
    """The deployment cannot be soaked as configured; the message says what is missing."""


@dataclass
class Target:
    api_url: str
    tokens: dict[str, str]
    address: str | None  # Temporal's frontend, for the signature probes
    operator: ActionSigner | None  # a key the workers trust
    disclosure_log: Path | None
    artifacts: Path | None
    stack: Stack | None = None  # set when the soak started the stack (faults, RSS, CPU)


def local(stack: Stack) -> Target:
    return Target(
        stack.api_url,
        stack.tokens,
        stack.address,
        stack.operator,
        stack.disclosure_log,
        stack.artifacts,
        stack,
    )


def remote(
    api: str,
    tokens_dir: Path,
    *,
    temporal: str | None,
    operator_key: Path | None,
    disclosure_log: Path | None,
    artifacts: Path | None,
) -> Target:
    """A deployment at ``api`` (its ``/api/v1`` base URL), acting with the tokens in
    ``tokens_dir``; TargetError when a soak person has no token or a file is unusable."""
    people = sorted(load_roster(LIBRARY).people)
    tokens: dict[str, str] = {}
    for handle in people:
        path = tokens_dir / handle
        if not path.is_file():
            raise TargetError(f"no token for {handle} in {tokens_dir} (one file per person)")
        tokens[handle] = path.read_text(encoding="utf-8").strip()
    if (temporal is None) != (operator_key is None):
        raise TargetError("--temporal and --operator-key go together (the signature probes)")
    operator = ActionSigner.from_file(operator_key) if operator_key is not None else None
    return Target(api.rstrip("/"), tokens, temporal, operator, disclosure_log, artifacts)
