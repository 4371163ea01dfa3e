"""``sopflow lsp``: the language server for editors (docs/editors.md).

It speaks LSP on stdin and stdout, which is what an editor starts it for; with ``--tcp`` it
listens on 127.0.0.1 instead (for debugging a client). Nothing but the protocol may reach
stdout, so its logs go to stderr, where editors keep a server's output.
"""

from __future__ import annotations

import logging
import sys

import typer


def lsp(
    tcp: int | None = typer.Option(
        None,
        "--tcp",
        min=1,
        max=65535,
        metavar="PORT",
        help="Listen on 127.0.0.1:PORT instead of stdio (one client at a time).",
    ),
    stdio: bool = typer.Option(
        False,
        "--stdio",
        help="Speak LSP on stdin/stdout (the default; accepted because clients pass it).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each request to stderr."),
) -> None:
    """Run the language server: lint as you type, hover docs, go to definition, completion,
    and the `sopflow.mermaid` preview command."""
    if stdio and tcp is not None:
        raise typer.BadParameter("--stdio and --tcp exclude each other")
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.WARNING,
        format="sopflow lsp: %(levelname)s %(name)s: %(message)s",
    )
    # Imported here: pygls takes ~0.5 s to import, which every other command would pay.
    from sopflow.lsp.features import create_server

    server = create_server()
    if tcp is not None:
        # Loopback only: the server reads any file a client names, so it must not listen
        # where other machines can reach it.
        server.start_tcp("127.0.0.1", tcp)
    else:
        server.start_io()
