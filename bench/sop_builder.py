"""Build one synthetic SOP: 6-25 steps of every type, wired so that it lints clean.

Shape of every SOP: ``triage`` first, then a body of blocks (tasks, notifications, waits,
decisions, approvals, disclosure checks with their approval, parallel lanes, a post-mortem),
then ``close`` (end: resolved) and the refusal path (``refuse`` -> ``declined``) that every
approval's ``on.rejected`` and every disclosure check's ``on.denied`` points at. Every step is
reachable; every jump stays within its own list; every expression names real steps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from bench.vocab import (
    API,
    CATEGORIES,
    CHANNELS,
    CONDITION_FIELDS,
    CORE_ROLES,
    DATA_CATEGORIES,
    FORM_FIELDS,
    INPUT_EXTRAS,
    POLICY_FACTS,
    POLICY_KINDS,
    PRIVACY,
    PROSE,
    ROLES,
    SLAS,
    TASK_VERBS,
    THEMES,
    Folded,
    policy_id,
)


def condition_for(step_id: str, name: str) -> str:
    """A CEL condition on field ``name`` of task ``step_id``'s form."""
    ref = f"steps.{step_id}.output.{name}"
    schema = FORM_FIELDS[name]
    if "enum" in schema:
        return f'{ref} == "{schema["enum"][0]}"'
    if schema.get("type") == "integer":
        return f"{ref} >= 7"
    if name == "categories":
        return f'"contents" in {ref}'
    if name == "accounts":
        return f"size({ref}) > 1"
    return ref


@dataclass
class SopBuilder:
    """Builds the SOP document ``gen-NNNN`` from its own random stream."""

    rng: random.Random
    number: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    # (step id, form field) pairs that expressions can read, in the order the steps appear.
    readable: list[tuple[str, str]] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    policy_kind: str = "emergency"
    count: int = 0
    approvals: int = 0
    room: int = 0  # steps the block being built may use

    def new_id(self, base: str) -> str:
        """A step id not used yet in this SOP (``verify``, ``verify_2``, ...)."""
        candidate, n = base, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{base}_{n}"
        self.ids.add(candidate)
        self.count += 1
        return candidate

    def condition(self) -> str:
        """A random CEL condition over the input, the incident and earlier tasks' outputs."""
        rng = self.rng
        options = [
            # Not the bare fact a disclosure check builds (`emergency` is input.imminent_threat):
            # a branch that decided it would make the check's outcomes dead (W309).
            "input.imminent_threat && size(input.target_accounts) > 0",
            f'input.category == "{rng.choice(CATEGORIES)}"',
            "size(input.target_accounts) > 1",
            'incident.severity == "SEV1"',
        ]
        if self.readable:
            step_id, name = rng.choice(self.readable[-6:])
            options += [condition_for(step_id, name)] * 3
        first = rng.choice(options)
        if rng.random() < 0.3:
            return f"{first} {rng.choice(('&&', '||'))} {rng.choice(options)}"
        return first

    def message(self, what: str) -> str | Folded:
        """A notification text with ``{{ }}`` placeholders."""
        parts = [f"Incident {{{{ incident.id }}}} ({{{{ incident.severity }}}}): {what}"]
        parts.append("for request {{ input.request_id }}.")
        if self.readable and self.rng.random() < 0.6:
            step_id, name = self.rng.choice(self.readable)
            parts.append(f"Latest finding: {{{{ steps.{step_id}.output.{name} }}}}.")
        if self.rng.random() < 0.4:
            parts.append(self.rng.choice(PROSE))
            return Folded(" ".join(parts))
        return " ".join(parts)

    def form(self) -> dict[str, Any]:
        names = self.rng.sample(list(FORM_FIELDS), self.rng.randint(2, 6))
        if not any(n in CONDITION_FIELDS for n in names):
            names.insert(0, self.rng.choice(CONDITION_FIELDS))
        required = [n for n in names if self.rng.random() < 0.6] or names[:1]
        return {
            "type": "object",
            "required": required,
            "additionalProperties": False,
            "properties": {n: FORM_FIELDS[n] for n in names},
        }

    def human(self, step: dict[str, Any], top: bool) -> None:
        """SLA, escalation chain and timeout policy of a human step."""
        rng = self.rng
        if rng.random() < 0.7:
            step["sla"] = rng.choice(SLAS)
        step["escalate"] = rng.sample(["lead", "legal"], rng.randint(1, 2))
        roll = rng.random()
        if top and roll < 0.15:
            step["on_timeout"] = {"goto": "refuse"}
        elif roll < 0.25:
            step["on_timeout"] = "fail"

    def task(self, top: bool = True, verb: str | None = None) -> dict[str, Any]:
        rng = self.rng
        verb = verb or rng.choice(TASK_VERBS)
        step: dict[str, Any] = {"id": self.new_id(verb), "type": "task"}
        step["title"] = f"{verb.capitalize()} the request"
        if rng.random() < 0.5:
            step["description"] = Folded(" ".join(rng.sample(PROSE, 2)))
        if top and self.readable and rng.random() < 0.2:
            step["when"] = self.condition()
        extra = [r for r in ("specialist", "commander") if r in self.roles]
        step["assignee"] = rng.choice(["responder", "responder", "legal", *extra])
        self.human(step, top)
        step["form"] = self.form()
        for name in step["form"]["properties"]:
            if name in CONDITION_FIELDS:
                self.readable.append((step["id"], name))
        return step

    def notify(self) -> dict[str, Any]:
        rng = self.rng
        channel = rng.choice(CHANNELS)
        to = rng.choice(["input.requester.email", *self.roles]) if channel == "email" else "lead"
        step: dict[str, Any] = {"id": self.new_id(f"notify_{channel}"), "type": "notify"}
        step["title"] = f"Tell {'the requester' if to.startswith('input') else to} by {channel}"
        step.update(channel=channel, to=to, message=self.message("status update"))
        return step

    def wait(self) -> dict[str, Any]:
        rng = self.rng
        step: dict[str, Any] = {"id": self.new_id("wait"), "type": "wait"}
        roll = rng.random()
        if roll < 0.4:
            step["title"] = "Give the requester time to answer"
            step["for"] = rng.choice(("15m", "2h", "1d", "P1D"))
        elif roll < 0.8:
            step["title"] = "Wait for the agency's reply"
            step.update(event=rng.choice(("agency-reply", "data.produced")), timeout="3d")
        else:
            step["title"] = "Hold until the review window opens"
            step["until"] = 'timestamp(input.received_at) + duration("24h")'
        return step

    def approval(self, top: bool = True) -> dict[str, Any]:
        rng = self.rng
        step: dict[str, Any] = {"id": self.new_id("approve"), "type": "approval"}
        step["title"] = "Counsel and lead approve"
        step["approvers"] = rng.choice((["legal", "lead"], ["legal"], ["lead"]))
        step["quorum"] = rng.choice((1, 1, 2))
        if rng.random() < 0.3:
            step.update(distinct=True, four_eyes=True)
        self.human(step, top)
        step.setdefault("on_timeout", "escalate")  # an SLA-bound approval says what happens
        step["on"] = {"rejected": "refuse"}
        self.approvals += 1
        return step

    def decision(self) -> dict[str, Any]:
        step: dict[str, Any] = {"id": self.new_id("route"), "type": "decision"}
        step["title"] = "Which way?"
        # The default branch and any forward branch are filled in by ``finish``.
        step["branches"] = [{"when": self.condition(), "goto": "refuse"}]
        return step

    def disclosure(self) -> list[dict[str, Any]]:
        check: dict[str, Any] = {"id": self.new_id("disclosure"), "type": "disclosure_check"}
        check["title"] = "Disclosure check"
        check["policy"] = policy_id("US", self.policy_kind)
        check["request"] = dict(POLICY_FACTS[self.policy_kind])
        approve = self.approval()
        produce = self.task(verb="produce")
        check["on"] = {
            "allowed": produce["id"],
            "needs_approval": approve["id"],
            "denied": "refuse",
        }
        approve["on"]["approved"] = produce["id"]
        return [check, approve, produce]

    def parallel(self) -> dict[str, Any]:
        """Two or three lanes of one or two steps each, using at most ``self.room`` steps."""
        rng, room = self.rng, min(self.room, 7)
        step: dict[str, Any] = {"id": self.new_id("lanes"), "type": "parallel"}
        step["title"] = "Work the lanes at once"
        step["join"] = rng.choice(("all", "all", "any"))
        lanes = min(rng.randint(2, 3), room - 1)
        spare = room - 1 - lanes
        branches = []
        for lane in range(lanes):
            size = 1 + (1 if spare > 0 and rng.random() < 0.5 else 0)
            spare -= size - 1
            makers = (lambda: self.task(top=False), self.notify, self.wait)
            branch: dict[str, Any] = {"steps": [rng.choice(makers)() for _ in range(size)]}
            if rng.random() < 0.5:
                branch = {"name": f"lane-{lane + 1}", **branch}
            branches.append(branch)
        step["branches"] = branches
        return step

    def postmortem(self) -> dict[str, Any]:
        step = {"id": self.new_id("postmortem"), "type": "postmortem", "owner": "lead"}
        step.update(due=self.rng.choice(("5d", "1w", "2w")), template="default")
        return step

    def body(self, budget: int) -> None:
        """Fill ``budget`` steps with blocks; at least one approval maps ``rejected``."""
        blocks: list[tuple[Any, int, int]] = [  # (maker, weight, smallest size)
            (self.task, 30, 1),
            (self.notify, 16, 1),
            (self.wait, 8, 1),
            (self.decision, 10, 1),
            (self.approval, 8, 1),
            (self.disclosure, 12, 3),
            (self.parallel, 10, 3),
        ]
        while budget > 0:
            # Keep one slot for an approval until one exists: it makes `refuse` reachable.
            self.room = budget - (0 if self.approvals else 1)
            if self.room == 0:
                maker: Any = self.approval
            else:
                fits = [(m, w) for m, w, smallest in blocks if smallest <= self.room]
                maker = self.rng.choices([m for m, _ in fits], [w for _, w in fits])[0]
            before = self.count
            made = maker()
            self.steps.extend(made if isinstance(made, list) else [made])
            budget -= self.count - before

    def finish(self) -> None:
        """Resolve decisions' branches now that every step after them is known."""
        close = next(i for i, s in enumerate(self.steps) if s["id"] == "close")
        for i, step in enumerate(self.steps[:close]):
            if step["type"] != "decision":
                continue
            ahead = [s["id"] for s in self.steps[i + 2 : close + 1]]
            if ahead and self.rng.random() < 0.6:
                step["branches"].append({"when": self.condition(), "goto": self.rng.choice(ahead)})
            step["branches"].append({"goto": self.steps[i + 1]["id"]})

    def build(self) -> dict[str, Any]:
        """The whole SOP document."""
        rng = self.rng
        slug, title = THEMES[self.number % len(THEMES)]
        self.policy_kind = rng.choice(POLICY_KINDS)
        extras = [r for r in ROLES if r not in CORE_ROLES and rng.random() < 0.4]
        self.roles = list(CORE_ROLES) + (list(ROLES)[3:] if self.number == 1 else extras)
        roles = {r: {"description": ROLES[r]} for r in self.roles}
        if self.number == 1:  # the first SOP declares every role the roster hands out
            roles[PRIVACY[0]] = {"description": PRIVACY[1]}
        size = rng.randint(6, 25)
        self.steps.append(self.triage())
        self.body(size - 4 - (1 if rng.random() < 0.3 else 0))
        if self.count < size - 3:
            self.steps.append(self.postmortem())
        self.steps.append({"id": self.new_id("close"), "type": "end", "outcome": "resolved"})
        refuse = self.notify()
        refuse.update(id="refuse", title="Tell the requester we cannot act", next="declined")
        self.ids.add("refuse")
        self.steps.append(refuse)
        self.steps.append({"id": self.new_id("declined"), "type": "end", "outcome": "declined"})
        self.finish()
        return {
            "apiVersion": API,
            "kind": "SOP",
            "id": f"gen-{self.number:04d}",
            "version": 1,
            "title": f"{title} (synthetic #{self.number})",
            "owner": "risk-response",
            "region": "US",
            "description": Folded(f"Synthetic {slug} procedure. " + " ".join(rng.sample(PROSE, 3))),
            "input": self.input_schema(),
            "roles": roles,
            "defaults": {
                "sla": rng.choice(("30m", "1h")),
                "retry": {"max_attempts": 5, "initial_interval": "1s", "backoff": 2.0},
            },
            "steps": self.steps,
        }

    def triage(self) -> dict[str, Any]:
        step: dict[str, Any] = {"id": self.new_id("triage"), "type": "triage", "title": "Severity"}
        step["rules"] = [
            {"when": "input.imminent_threat", "severity": "SEV1", "labels": ["imminent"]},
            {"when": f'input.category == "{self.rng.choice(CATEGORIES)}"', "severity": "SEV2"},
            {"severity": self.rng.choice(("SEV2", "SEV3"))},
        ]
        if self.rng.random() < 0.3:
            step["enrich"] = ["account_lookup"]
        return step

    def input_schema(self) -> dict[str, Any]:
        # Every optional field is declared: conditions may read any of them, and lint checks
        # `input.<field>` against the declared properties.
        extras = list(INPUT_EXTRAS)
        requester = {
            "type": "object",
            "required": ["agency", "email"],
            "properties": {
                "agency": {"type": "string"},
                "email": {"type": "string", "format": "email"},
            },
        }
        return {
            "type": "object",
            "required": ["request_id", "requester", "imminent_threat", "category"],
            "properties": {
                "request_id": {"type": "string"},
                "requester": requester,
                "imminent_threat": {"type": "boolean"},
                "category": {"enum": CATEGORIES},
                "target_accounts": {"type": "array", "items": {"type": "string"}},
                "data_requested": {"type": "array", "items": {"enum": DATA_CATEGORIES}},
                **{name: INPUT_EXTRAS[name] for name in extras},
            },
        }
