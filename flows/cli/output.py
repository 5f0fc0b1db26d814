"""How commands answer: JSON on stdout for machines, rich text for people, one-line errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """A one-line error on stderr and a non-zero exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit(data: Any, as_json: bool, human: Callable[[Any], None] | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    elif human is not None:
        human(data)
    else:
        console.print_json(json.dumps(data, default=str))


@contextmanager
def clear_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn the expected failures of a command into one-line errors instead of tracebacks."""
    try:
        yield
    except kinds as err:
        fail(str(err))


def quiet_prefect(verbose: bool) -> None:
    """Prefect's own console lines (run started, finished) only at WARNING unless -v: the
    progress bar and the project's logs say it once. Set before Prefect is first imported."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "DEBUG" if verbose else "WARNING")


def json_logs(as_json: bool) -> None:
    """`--json`: every log line on stderr a JSON object too, Prefect's included."""
    from tasks.logs import configure_logging, json_requested

    if as_json or json_requested():
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER"] = "json"
        configure_logging(json_logs=True)
