"""What a program lead reads when something is wrong: the root cause first and once, with
what follows from it folded under the summary; messages in the author's words (`&&`, not the
CEL grammar; what to indent, not the YAML parser's state), steps named by id."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.compile.lint import lint_library
from sopflow.contract.expressions import syntax_problem
from sopflow.language.form_schema import schema_problem
from tests.conftest import WriteLib

pytestmark = pytest.mark.unit

runner = CliRunner()

REGIONS = """\
apiVersion: sopflow/v1
kind: Regions
regions:
  US: {timezone: America/New_York, team: us}
  UK: {timezone: Europe/London, team: uk}
"""
ROSTER = """\
apiVersion: sopflow/v1
kind: Roster
people:
  alice: {name: Alice, region: US, roles: [responder]}
  bob: {name: Bob, region: US, roles: [lead]}
"""
SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: demo
version: 1
title: Demo
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
defaults:
  sla: 1h
steps:
  - id: work
    type: task
    assignee: responder
    escalate: [lead]
    when: WHEN
  - id: close
    type: end
    outcome: done
"""
VARIANT = """\
apiVersion: sopflow/v1
kind: Variant
id: demo
version: 1
region: UK
changes:
  - set: {step: work, sla: 2h}
"""
REHEARSAL = """\
apiVersion: sopflow/v1
kind: Rehearsal
sop: demo@1
actions:
  - complete: {step: work, as: alice}
expect:
  outcome: done
"""


def library(write_lib: WriteLib, sop: str) -> Path:
    files = {"regions.yaml": REGIONS, "roster.yaml": ROSTER, "demo/v1.yaml": sop}
    files["demo/v1-uk.yaml"] = VARIANT
    files |= {f"demo/rehearsals/{n}.yaml": REHEARSAL for n in ("a", "b", "c")}
    return write_lib(files)


def test_one_typo_is_one_error_and_what_follows_is_folded(write_lib: WriteLib) -> None:
    root = library(write_lib, SOP.replace("WHEN", "input.x > 1 and input.y"))
    result = lint_library(root)
    assert [(d.path, d.code) for d in result.diagnostics] == [("lib/demo/v1.yaml", "E400")]
    assert result.diagnostics[0].message == "CEL syntax error: use `&&` instead of `and`"
    assert sorted(d.path for d in result.folded) == [
        f"lib/demo/rehearsals/{n}.yaml" for n in ("a", "b", "c")
    ]
    assert {d.follows for d in result.folded} == {"lib/demo/v1.yaml"}
    # The base region is not called a variant.
    assert "demo@1 (US) does not lint clean" in result.folded[0].message
    out = runner.invoke(app, ["lint", str(root)])
    assert out.exit_code == 1
    assert out.stdout.count("error[") == 1
    assert "3 more follow from these and are not shown" in out.stderr
    every = runner.invoke(app, ["lint", str(root), "--all"])
    assert every.stdout.count("error[") == 4 and every.stdout.startswith("lib/demo/v1.yaml")


def test_a_yaml_break_is_the_only_error_shown(write_lib: WriteLib) -> None:
    broken = SOP.replace("WHEN", "input.x").replace("  - id: close\n", "  - id: close\n   x: 1\n")
    root = library(write_lib, broken)
    result = lint_library(root)
    [only] = result.diagnostics
    assert (only.path, only.code) == ("lib/demo/v1.yaml", "E101")
    assert only.message.startswith("YAML syntax error: this line is not indented like")
    assert "[did not find expected" in only.message  # the parser's words, for searching
    # The variant's base and the rehearsals' SOP are hidden by the break: no false E500.
    codes = sorted((d.code, d.follows) for d in result.folded)
    assert codes == [("E500", "lib/demo/v1.yaml")] + [("E603", "lib/demo/v1.yaml")] * 3


def test_shared_documents_come_first(write_lib: WriteLib) -> None:
    root = library(write_lib, SOP.replace("WHEN", "input.x"))
    (root / "regions.yaml").write_text(REGIONS.replace(", team: uk", ""), encoding="utf-8")
    (root / "demo" / "v1-uk.yaml").write_text(VARIANT.replace("sla", "slaa"), encoding="utf-8")
    paths = [d.path for d in lint_library(root).diagnostics]
    assert paths[0] == "lib/regions.yaml" and paths[-1] == "lib/demo/v1-uk.yaml"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("input.x > 1 and input.y", "use `&&` instead of `and`"),
        ("input.x or input.y", "use `||` instead of `or`"),
        ("not input.x", "use `!` instead of `not`"),
        ("input.x = 1", "use `==` to compare"),
        ("input.x >", "the expression ends too early"),
        ("input.x == 'a", "a string is not closed"),
        ("(input.x", "a `(` is not closed"),
    ],
)
def test_cel_syntax_errors_say_what_to_write(source: str, says: str) -> None:
    problem = syntax_problem(source)
    assert problem is not None and says in problem.message
    assert "expecting {" not in problem.message  # never the grammar's token sets


def test_steps_are_named_by_id(write_lib: WriteLib) -> None:
    sop = SOP.replace("WHEN", "input.x").replace("    outcome: done", "    outcom: done")
    sop = sop.replace("    escalate: [lead]\n", "    escalate: [lead]\n    next: clos\n")
    root = write_lib({"regions.yaml": REGIONS, "roster.yaml": ROSTER, "demo/v1.yaml": sop})
    messages = [d.message for d in lint_library(root).diagnostics]
    assert "unknown field `outcom` in step `close` (did you mean `outcome`?)" in messages
    assert "missing required field `outcome` in step `close`" in messages


def test_a_jump_to_no_step_names_the_step_it_is_in(write_lib: WriteLib) -> None:
    sop = SOP.replace("WHEN", "input.x").replace(
        "    escalate: [lead]\n", "    escalate: [lead]\n    next: clos\n"
    )
    root = write_lib({"regions.yaml": REGIONS, "roster.yaml": ROSTER, "demo/v1.yaml": sop})
    [found] = lint_library(root).diagnostics
    assert found.message == "step `work`: `next` names no step `clos` (did you mean `close`?)"


def test_a_form_field_at_the_wrong_indentation_is_called_that() -> None:
    form = {
        "type": "object",
        "properties": {"outcome": {"type": "string", "notes": {"type": "string"}}},
    }
    problem = schema_problem(form)
    assert problem is not None
    assert problem.message.startswith("`notes` is not a JSON Schema keyword: it looks like a")
    assert "did you mean" not in problem.message
    typo = schema_problem({"type": "object", "requird": ["a"]})
    assert typo is not None and "(did you mean `required`?)" in typo.message


HOLD = """\
apiVersion: sopflow/v1
kind: SOP
id: hold
version: 1
title: Hold
owner: tests
region: US
roles:
  responder: {description: Responder}
defaults:
  sla: 1h
steps:
  - id: decide
    type: task
    assignee: responder
  - id: cool_off
    type: wait
    for: 90d
  - id: notify_user
    type: task
    assignee: responder
  - id: close
    type: end
    outcome: done
"""


@pytest.mark.parametrize(("after", "warned"), [("1d", True), ("91d", False)])
def test_a_rehearsal_action_before_its_step_can_be_active_is_warned_at_the_action(
    write_lib: WriteLib, after: str, warned: bool
) -> None:
    story = (
        "apiVersion: sopflow/v1\nkind: Rehearsal\nsop: hold@1\nactions:\n"
        "  - complete: {step: decide, as: alice}\n"
        f"  - after: {after}\n    complete: {{step: notify_user, as: alice}}\n"
        "expect:\n  outcome: done\n"
    )
    roster = ROSTER.replace("[lead]", "[responder]")
    root = write_lib({"roster.yaml": roster, "hold/v1.yaml": HOLD, "hold/story.yaml": story})
    found = [d for d in lint_library(root).diagnostics if d.code == "W601"]
    if not warned:
        assert found == []
        return
    [one] = found
    assert (one.path, one.line) == ("lib/hold/story.yaml", 7)
    assert "step `notify_user` cannot be active 1d after the start" in one.message
    assert "every way to it waits at least 90d" in one.message


APPROVE_AGAIN = """\
apiVersion: sopflow/v1
kind: SOP
id: clear
version: 1
title: Clear
owner: tests
region: US
description: An approval an event sends the incident back through.
roles: {lead: {description: Lead}}
defaults: {sla: 1h}
on_event:
  recheck: {goto: approve}
steps:
  - id: approve
    type: approval
    approvers: [lead]
    quorum: 2
    four_eyes: false
    on: {approved: done, rejected: done}
  - id: done
    type: end
    outcome: done
"""


@pytest.mark.parametrize(("between", "warned"), [("", True), ("recheck", False)])
def test_a_second_vote_is_warned_unless_an_event_sends_the_approval_round_again(
    write_lib: WriteLib, between: str, warned: bool
) -> None:
    signal = f"  - signal: {{event: {between}}}\n" if between else ""
    story = (
        "apiVersion: sopflow/v1\nkind: Rehearsal\nsop: clear@1\nactions:\n"
        "  - vote: {step: approve, as: bob, decision: approve, reason: ok}\n"
        f"{signal}"
        "  - vote: {step: approve, as: bob, decision: approve, reason: ok}\n"
        "expect:\n  outcome: done\n"
    )
    roster = ROSTER.replace(
        "alice: {name: Alice, region: US, roles: [responder]}",
        "carol: {name: Carol, region: US, roles: [lead]}\n"
        "  dan: {name: Dan, region: US, roles: [lead]}",
    )
    root = write_lib(
        {"roster.yaml": roster, "clear/v1.yaml": APPROVE_AGAIN, "clear/story.yaml": story}
    )
    found = [d.message for d in lint_library(root).diagnostics if d.code == "W601"]
    assert found == (
        ["the engine will refuse this action: bob has already voted on `approve`"] if warned else []
    )


CHECK_AGAIN = """\
apiVersion: sopflow/v1
kind: SOP
id: package
version: 1
title: Package
owner: tests
region: US
description: A check whose rejection sends the package back to be prepared again.
roles: {lead: {description: Lead}}
defaults: {sla: 1h}
steps:
  - id: prepare
    type: task
    assignee: lead
    form: {type: object, properties: {ref: {type: string}}}
  - id: check
    type: approval
    approvers: [lead]
    four_eyes: false
    on: {approved: done, rejected: prepare}
  - id: done
    type: end
    outcome: done
"""


def test_a_vote_in_the_next_round_of_a_check_is_not_warned(write_lib: WriteLib) -> None:
    story = (
        "apiVersion: sopflow/v1\nkind: Rehearsal\nsop: package@1\nactions:\n"
        "  - complete: {step: prepare, as: carol, data: {ref: a}}\n"
        "  - vote: {step: check, as: bob, decision: reject, reason: wrong window}\n"
        "  - complete: {step: prepare, as: carol, data: {ref: b}}\n"
        "  - vote: {step: check, as: bob, decision: approve, reason: ok}\n"
        "expect:\n  outcome: done\n"
    )
    roster = ROSTER.replace(
        "alice: {name: Alice, region: US, roles: [responder]}",
        "carol: {name: Carol, region: US, roles: [lead]}",
    )
    root = write_lib(
        {"roster.yaml": roster, "package/v1.yaml": CHECK_AGAIN, "package/story.yaml": story}
    )
    assert [d.format() for d in lint_library(root).diagnostics if d.code == "W601"] == []
