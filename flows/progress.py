"""In-process phase events, so a CLI can draw progress for a flow running in ephemeral mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, str], None]
_listeners: list[Listener] = []


def notify(phase: str, event: str) -> None:
    for listener in list(_listeners):
        listener(phase, event)


@contextmanager
def phase_listener(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
