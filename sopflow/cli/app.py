"""The ``sopflow`` entry point: one typer app, commands grouped by who uses them."""

from __future__ import annotations

import os
import sys

import typer

from sopflow.cli import (
    audit,
    authoring,
    channels,
    claims,
    codec,
    handoff,
    incidents,
    lsp,
    metrics,
    migrate,
    oncall,
    postmortem,
    rehearse,
    retire,
    scaffold,
    serve,
    stack,
    tasks,
    tokens,
    wellbeing,
)

app = typer.Typer(
    name="sopflow",
    help="Escalation-response SOPs: author, lint, compile and run them on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("init")(scaffold.init)
app.command("lint")(authoring.lint)
app.command("compile")(authoring.compile_cmd)
app.command("graph")(authoring.graph)
app.command("diff")(authoring.diff)
app.command("publish")(authoring.publish)
app.command("retire")(retire.retire)
app.command("migrate")(migrate.migrate_cmd)
app.command("schema")(authoring.schema)
app.command("lsp")(lsp.lsp)
app.command("setup")(stack.setup)
app.command("dev")(stack.dev)
app.command("serve")(serve.serve)
app.command("oncall")(oncall.oncall)
app.command("handoff")(handoff.handoff)
app.command("wellbeing")(wellbeing.wellbeing)
app.command("away")(claims.away)
app.command("channels")(channels.channels)
app.command("metrics")(metrics.metrics)

incident_app = typer.Typer(
    help="Run incidents: start, list, show, signal, cancel, severity, update.",
    no_args_is_help=True,
)
incident_app.command("start")(incidents.start)
incident_app.command("list")(incidents.list_incidents)
incident_app.command("show")(incidents.show)
incident_app.command("signal")(tasks.signal)
incident_app.command("cancel")(tasks.cancel)
incident_app.command("severity")(tasks.severity)
incident_app.command("update")(tasks.post_update)
app.add_typer(incident_app, name="incident")

new_app = typer.Typer(
    help="Start a document from a template: sop, variant, policy, rehearsal.",
    no_args_is_help=True,
)
new_app.command("sop")(scaffold.new_sop)
new_app.command("variant")(scaffold.new_variant)
new_app.command("policy")(scaffold.new_policy)
new_app.command("rehearsal")(scaffold.new_rehearsal)
app.add_typer(new_app, name="new")

task_app = typer.Typer(
    help="A responder's queue and actions: list, complete, approve, reject, note.",
    no_args_is_help=True,
)
task_app.command("list")(tasks.list_tasks)
task_app.command("complete")(tasks.complete)
task_app.command("approve")(tasks.approve)
task_app.command("reject")(tasks.reject)
task_app.command("note")(tasks.note)
task_app.command("claim")(claims.claim)
task_app.command("release")(claims.release)
task_app.command("assign")(claims.assign)
app.add_typer(task_app, name="task")
app.add_typer(postmortem.postmortem_app, name="postmortem")

app.command("rehearse")(rehearse.rehearse)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(codec.codec_app, name="codec")
app.add_typer(tokens.token_app, name="token")


def main() -> None:
    """Run the CLI, then leave without interpreter teardown: the Temporal client's Rust
    threads can abort a finalizing interpreter ("PyGILState_Release", temporalio/sdk-python
    #300), which would turn a successful command into exit 134."""
    try:
        app()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
