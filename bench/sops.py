"""The SOPs the execution benchmarks run, compiled through the real linter.

``AUTOMATED`` is the fully automated procedure of ``incidents.py``; ``handwritten.HandIncident``
makes the same activity calls in the same order. ``single_step(type)`` gives the minimal SOP
per step type for ``events.py``: the step, then an ``end``. ``TASK`` is one task with a long SLA
(``update_latency.py``, ``worker_memory.py``).
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

from sopflow.compile.lint import lint_library
from sopflow.contract.plan import Plan

HEAD = """\
apiVersion: sopflow/v1
kind: SOP
id: {id}
version: 1
title: Benchmark {id}
owner: bench
region: US
roles:
  lead: {{description: Lead}}
  responder: {{description: Responder}}
  legal: {{description: Counsel}}
  safety: {{description: Safety}}
  comms: {{description: Comms}}
defaults:
  sla: 30m
steps:
"""

POLICY = """\
apiVersion: sopflow/v1
kind: DisclosurePolicy
id: us-bench
jurisdiction: US
rules:
  - when: request.emergency
    decision: allowed
    legal_basis: 18 U.S.C. 2702(b)(8)
    allow: [basic_subscriber_info]
  - decision: denied
    reason: No emergency basis
"""

# (step id, channel, role): the notifications of AUTOMATED, in order. HandIncident sends
# the same ones.
NOTIFICATIONS: tuple[tuple[str, str, str], ...] = (
    ("page-lead", "pager", "lead"),
    ("tell-legal", "email", "legal"),
    ("tell-safety", "log", "safety"),
    ("tell-comms", "log", "comms"),
    ("tell-responder", "log", "responder"),
)
NOTIFY_MESSAGE = "Incident {{ incident.id }} is {{ incident.severity }}: {{ input.summary }}"

AUTOMATED = (
    HEAD.format(id="bench-auto")
    + """\
  - id: triage
    type: triage
    enrich: [account_history]
    rules:
      - when: input.urgent
        severity: SEV1
        labels: [urgent]
      - severity: SEV3
  - id: route
    type: decision
    branches:
      - when: 'incident.severity == "SEV1"'
        goto: page-lead
      - goto: check
"""
    + "".join(
        f"""\
  - id: {step}
    type: notify
    channel: {channel}
    to: {role}
    message: '{NOTIFY_MESSAGE}'
"""
        for step, channel, role in NOTIFICATIONS
    )
    + """\
  - id: check
    type: disclosure_check
    policy: us-bench
    request: {emergency: input.urgent}
    on: {denied: refuse}
  - id: close
    type: end
    outcome: resolved
  - id: refuse
    type: end
    outcome: declined
"""
)

# One step of each type, each followed by `end` in single_step(); `end` alone is the baseline.
STEP_BODIES: dict[str, str] = {
    "triage": """\
  - id: x
    type: triage
    rules:
      - when: input.urgent
        severity: SEV1
      - severity: SEV3
""",
    "triage+enrich": """\
  - id: x
    type: triage
    enrich: [account_history]
    rules:
      - severity: SEV3
""",
    "task": """\
  - id: x
    type: task
    assignee: responder
    form:
      type: object
      required: [done]
      properties: {done: {type: boolean}}
""",
    "approval": """\
  - id: x
    type: approval
    approvers: [lead]
    on: {rejected: done}
""",
    "decision": """\
  - id: x
    type: decision
    branches:
      - when: input.urgent
        goto: done
      - goto: done
""",
    "disclosure_check": """\
  - id: x
    type: disclosure_check
    policy: us-bench
    request: {emergency: input.urgent}
    on: {denied: done}
""",
    "notify": """\
  - id: x
    type: notify
    channel: log
    to: lead
    message: 'Incident {{ incident.id }}'
""",
    "wait (for)": """\
  - id: x
    type: wait
    for: 1h
""",
    "wait (event)": """\
  - id: x
    type: wait
    event: data-produced
    timeout: 2h
""",
    "parallel (2 notify lanes)": """\
  - id: x
    type: parallel
    branches:
      - steps:
          - {id: a, type: notify, channel: log, to: lead, message: a}
      - steps:
          - {id: b, type: notify, channel: log, to: lead, message: b}
""",
    "postmortem": """\
  - id: x
    type: postmortem
    owner: lead
    due: 5d
""",
}

END = """\
  - id: done
    type: end
    outcome: resolved
"""

TASK = (
    HEAD.format(id="bench-task")
    + """\
  - id: work
    type: task
    assignee: responder
    sla: 30d
    form:
      type: object
      required: [done]
      properties: {done: {type: boolean}}
"""
    + END
)


def single_step(kind: str) -> str:
    """The minimal SOP for one step type: that step, then `end` (just `end` for "end")."""
    slug = kind.split()[0].replace("+", "-").replace("_", "-")
    body = "" if kind == "end" else STEP_BODIES[kind]
    return HEAD.format(id=f"bench-{slug}") + body + END


def compile_sop(sop: str, *extra: str) -> Plan:
    """Compile an SOP (plus policies) through ``lint_library`` in a temporary directory;
    any error diagnostic is a bug in the benchmark."""
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as tmp:
        for index, text in enumerate((sop, *extra)):
            Path(tmp, f"doc{index}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
        result = lint_library(Path(tmp))
        errors = [d.format() for d in result.diagnostics if d.severity == "error"]
        if errors:
            raise ValueError("the benchmark SOP does not compile:\n" + "\n".join(errors))
        [plan] = result.plans.values()
        return plan
