"""Structured logs for the long-running processes (the worker, the HTTP API): JSON lines for
machines, readable lines on a terminal, and records from the standard library's loggers
(the Temporal SDK's replay-safe workflow logger, uvicorn) rendered the same way."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging() -> None:
    """Send structlog and stdlib logging to stdout through one renderer."""
    renderer = (
        structlog.dev.ConsoleRenderer()
        if sys.stdout.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ]
    )
    # Stdlib records (the workflow's logger carries incident, SOP and step as extras).
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.ExtraAdder(allow=("incident", "sop", "step")),
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    logging.basicConfig(handlers=[handler], level=logging.INFO, force=True)
