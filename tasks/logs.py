"""Project logs: structlog events through stdlib logging, so each line keeps its level everywhere.

structlog builds the event; the stdlib loggers of the project's packages carry it to handlers,
each rendering it its own way: rich text on stderr for people (the default; one plain line per
record when stderr is no terminal), JSON lines with
`PICAIVID_LOG_FORMAT=json` (workers in production, `--json` on the CLI), and plain
`event key=value` text for Prefect's run log (flows.logs adds that handler), where the level
travels as the record's level, not as text. stdout stays clean for --json output.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog
from rich.console import Console
from rich.logging import RichHandler

PROJECT_LOGGERS = ("flows", "tasks", "db")
# Third-party lines nobody can act on: torchao 0.18 on torch 2.14 re-registers enums torch now
# handles itself, and diffusers reports torchao tensor classes we never load, on every LTX-2 import.
QUIETED = ("torch.utils._pytree", "diffusers.quantizers.torchao.torchao_quantizer")
_OURS = "_picaivid_console"  # marks the console handler this module owns (re-configuring replaces it)
_state: dict[str, Any] = {"configured": False}

_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_requested() -> bool:
    return os.environ.get("PICAIVID_LOG_FORMAT", "").strip().lower() == "json"


def plain_message(_: Any, __: str, event: dict[str, Any]) -> str:
    """`event key=value ...`: the line a person reads in Prefect's UI or beside rich's level column."""
    fields = {k: v for k, v in event.items()
              if k not in ("event", "level", "logger", "timestamp", "exc_info", "exception")}
    pairs = (f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in fields.items())
    text = " ".join([str(event.get("event", "")), *pairs])
    return f"{text}\n{event['exception']}" if "exception" in event else text


def plain_line(logger: Any, name: str, event: dict[str, Any]) -> str:
    """One line per record where rich's columns would wrap (stderr not a terminal: CI, files)."""
    return f"{str(event.get('timestamp', ''))[11:19]} {event.get('level', '').upper():<7} {plain_message(logger, name, event)}"


def formatter(renderer: Any) -> logging.Formatter:
    """A stdlib formatter that renders structlog events (and foreign records) with `renderer`."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    renderer],
        foreign_pre_chain=_PRE_CHAIN,
    )


class _StderrHandler(logging.StreamHandler):
    """Looks sys.stderr up per record: test runners and Prefect swap it."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _console_handler(json_logs: bool) -> logging.Handler:
    if json_logs or not sys.stderr.isatty():
        handler: logging.Handler = _StderrHandler()
        handler.setFormatter(formatter(structlog.processors.JSONRenderer() if json_logs else plain_line))
    else:
        handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False, rich_tracebacks=False,
                              log_time_format="%H:%M:%S")
        handler.setFormatter(formatter(plain_message))
    setattr(handler, _OURS, True)
    return handler


def configure_logging(json_logs: bool | None = None, level: str | None = None) -> None:
    """Rich text on stderr, or JSON lines when asked (argument, else PICAIVID_LOG_FORMAT=json).

    Without `level`, a level set earlier in the process stays (`-v` then `--json`), else
    PICAIVID_LOG_LEVEL, else INFO."""
    level_name = (level or _state.get("level") or os.environ.get("PICAIVID_LOG_LEVEL", "INFO")).upper()
    _state["level"] = level_name
    numeric = getattr(logging, level_name, logging.INFO)
    json_logs = json_requested() if json_logs is None else json_logs
    structlog.configure(
        processors=[*_PRE_CHAIN, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(numeric)
        logger.propagate = False  # the root logger's handlers (Prefect's console) would print it twice
        for old in [h for h in logger.handlers if getattr(h, _OURS, False)]:
            logger.removeHandler(old)
        logger.addHandler(_console_handler(json_logs))
    for name in QUIETED:
        logging.getLogger(name).setLevel(logging.ERROR)
    _state["configured"] = True


def ensure_logging() -> None:
    """Configure with the environment's defaults unless a caller (the CLI) already did."""
    if not _state["configured"]:
        configure_logging()
