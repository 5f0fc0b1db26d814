"""Structured logs on stderr (stdout stays clean for --json output), JSON in production."""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure_logging(json_logs: bool | None = None, level: str | None = None) -> None:
    """JSON lines when asked, or when stderr is not a terminal (workers, CI); pretty otherwise."""
    level_name = (level or os.environ.get("PICAIVID_LOG_LEVEL", "INFO")).upper()
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, logging.INFO)),
        # sys.stderr looked up per logger, not once: test runners and Prefect swap it.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
