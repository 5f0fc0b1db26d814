"""The project's log records into Prefect's run log, with their levels (no print capture).

Prefect's API handler ships a record to the flow or task run it was logged in; a record
logged outside any run (a CLI command before its flow starts, a helper thread) stays on the
console only, instead of Prefect warning about a missing run.
"""

from __future__ import annotations

import logging

from tasks.logs import PROJECT_LOGGERS, ensure_logging, formatter, plain_message


def _in_a_run(record: logging.LogRecord) -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def send_logs_to_prefect() -> None:
    """Idempotent; flows call it as they start (a worker's process has configured nothing)."""
    from prefect.logging.handlers import APILogHandler

    ensure_logging()
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        if any(isinstance(h, APILogHandler) for h in logger.handlers):
            continue
        handler = APILogHandler()
        handler.setFormatter(formatter(plain_message))
        handler.addFilter(_in_a_run)
        logger.addHandler(handler)
