"""Rehearsal wall time for an SOP whose timers span a week (target: under 5 s).

The SOP has four human steps with SLAs of hours to days and escalation chains, a decision,
an approval, a 3-day timed wait and a wait for an external event with a 2-day timeout. The
rehearsal acts late on purpose, so SLA timers fire and escalate, and the simulated clock
covers more than 7 days. What is timed is the whole command an author runs,
``sopflow rehearse FILE`` in a fresh process (test server start included), median of N runs.

    .venv/bin/python bench/rehearsal.py [--runs 5] [--check]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOFLOW = Path(sys.executable).parent / "sopflow"
TARGET_S = 5.0

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: week-long
version: 1
title: A procedure whose timers span a week
owner: bench
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
  legal: {description: Counsel}
defaults:
  sla: 4h
steps:
  - id: intake
    type: task
    assignee: responder
    sla: 2h
    escalate: [lead, legal]
  - id: review
    type: task
    assignee: legal
    sla: 1d
    escalate: [lead]
    form:
      type: object
      required: [go]
      properties: {go: {type: boolean}}
  - id: route
    type: decision
    branches:
      - when: steps.review.output.go
        goto: approve
      - goto: declined
  - id: approve
    type: approval
    approvers: [lead, legal]
    quorum: 2
    distinct: true
    sla: 12h
    escalate: [lead]
    on: {rejected: declined}
  - id: cool_off
    type: wait
    for: 3d
  - id: response
    type: wait
    event: response-received
    timeout: 2d
    on: {timeout: chase}
  - id: close
    type: end
    outcome: resolved
  - id: chase
    type: task
    assignee: responder
    sla: 1d
    escalate: [lead]
  - id: chased
    type: end
    outcome: chased
  - id: declined
    type: end
    outcome: declined
"""

ROSTER = """\
apiVersion: sopflow/v1
kind: Roster
people:
  ana: {name: Ana, region: US, roles: [responder]}
  ben: {name: Ben, region: US, roles: [lead]}
  cy: {name: Cy, region: US, roles: [legal]}
  di: {name: Di, region: US, roles: [lead]}
"""

REHEARSAL = """\
apiVersion: sopflow/v1
kind: Rehearsal
sop: week-long@1
actions:
  - after: 5h            # intake breached at 2h (lead), 4h (legal)
    complete: {step: intake, as: ana}
  - after: 30h
    note: {as: ben, text: still waiting on counsel}
  - after: 6h            # review breached at 1d
    complete: {step: review, as: cy, data: {go: true}}
  - after: 20h           # approval breached at 12h
    vote: {step: approve, as: ben, decision: approve, reason: fine}
  - after: 1h
    vote: {step: approve, as: di, decision: approve, reason: fine}
  - after: 4d            # the 3-day cool-off runs, then the response never comes
    note: {as: ben, text: chasing}
  - after: 2d            # the response timed out meanwhile; chase sits past its 1-day SLA
    complete: {step: chase, as: ana}
expect:
  path: [intake, review, route, approve, cool_off, response, chase, chased]
  outcome: chased
  breached: [intake, review, approve, chase]
  rejected_actions: 0
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sop.yaml").write_text(SOP, encoding="utf-8")
        (root / "roster.yaml").write_text(ROSTER, encoding="utf-8")
        file = root / "week.yaml"
        file.write_text(REHEARSAL, encoding="utf-8")
        times, simulated = [], 0
        for _ in range(args.runs):
            began = time.perf_counter()
            done = subprocess.run(
                [str(SOFLOW), "rehearse", "--definitions", str(root), "--format", "json"],
                capture_output=True,
                text=True,
                check=False,
            )
            times.append(time.perf_counter() - began)
            if done.returncode != 0:
                sys.exit(f"the rehearsal failed:\n{done.stdout}\n{done.stderr}")
            [result] = json.loads(done.stdout)["rehearsals"]
            simulated = result["simulated_seconds"]
    median = statistics.median(times)
    days = simulated / 86400
    ok = median < TARGET_S and days >= 7
    print(
        f"rehearsal of a week-long SOP: {days:.1f} simulated days in {median:.2f}s wall "
        f"(median of {args.runs}; min {min(times):.2f}s, max {max(times):.2f}s); "
        f"target < {TARGET_S:.0f}s: {'met' if ok else 'MISSED'}"
    )
    if args.json:
        print(json.dumps({"wall_s_median": median, "simulated_days": days, "runs": times}))
    if args.check and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
