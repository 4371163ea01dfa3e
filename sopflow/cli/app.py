"""The ``sopflow`` entry point: one typer app, commands grouped by who uses them."""

from __future__ import annotations

import typer

from sopflow.cli import authoring, stack

app = typer.Typer(
    name="sopflow",
    help="Escalation-response SOPs: author, lint, compile and run them on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("lint")(authoring.lint)
app.command("compile")(authoring.compile_cmd)
app.command("graph")(authoring.graph)
app.command("diff")(authoring.diff)
app.command("publish")(authoring.publish)
app.command("schema")(authoring.schema)
app.command("setup")(stack.setup)
app.command("dev")(stack.dev)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
