"""How commands answer: JSON on stdout for machines, rich text for people, one-line errors."""

from __future__ import annotations

import json
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
