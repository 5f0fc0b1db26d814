"""SIGTERM for render workers: stop the clip in flight, keep what exists, exit in time.

Spot gives two minutes between SIGTERM and the kill. While a render runs inside
`stop_on_sigterm()`, SIGTERM raises a stop in the main thread at once (so even a long model
call stops); the clip unit catches it (`STOPS`), calls `request_stop`, which sets a flag that
frame loops on other threads check through `raise_if_stopping()` and arms a watchdog that
hard-exits the process if the clean path (mark the clip interrupted, upload partial output,
flush logs) has not finished within `sigterm_grace_s`.

Who raises the stop depends on the host. A bare process (`python -m tasks.render.phase`) gets
our handler, which raises `Interrupted`, a SystemExit (code 143 = 128 + SIGTERM): `except
Exception` blocks let it through, and left uncaught it ends the process quietly. Inside a
Prefect engine the engine's own SIGTERM bridge is left in place and raises `TerminationSignal`:
`prefect flow-run execute` only stops its engine gracefully (reschedule on a Spot SIGTERM,
cancel) when the engine acknowledges the intent first, and the engine acknowledges only while
that bridge is the installed handler; replaced, the supervisor SIGKILLs the engine at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import structlog
from prefect.exceptions import TerminationSignal

log = structlog.get_logger(__name__)

EXIT_CODE = 128 + signal.SIGTERM

_stopping = threading.Event()


class Interrupted(SystemExit):
    """The worker was told to stop (SIGTERM)."""

    def __init__(self) -> None:
        super().__init__(EXIT_CODE)


STOPS: tuple[type[BaseException], ...] = (Interrupted, TerminationSignal)
"""What a SIGTERM raises in render code: ours, or the Prefect engine's (see the module doc)."""


def request_stop(grace_s: float) -> None:
    """Ask every render in this process to stop, and arm the hard-exit watchdog.

    The SIGTERM handler below calls it; a host that owns SIGTERM itself (a Prefect worker
    running clips on threads) calls it from its own handler.
    """
    if not _stopping.is_set():
        _stopping.set()
        log.warning("sigterm_received", grace_s=grace_s)
        _arm_watchdog(grace_s)


def raise_if_stopping() -> None:
    if _stopping.is_set():
        raise Interrupted()


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed pipe: nothing more can be written anyway
            pass


def _arm_watchdog(grace_s: float) -> None:
    def hard_exit() -> None:
        log.error("sigterm_grace_exceeded", grace_s=grace_s)
        flush_logs()
        os._exit(EXIT_CODE)

    timer = threading.Timer(grace_s, hard_exit)
    timer.daemon = True
    timer.start()


@contextmanager
def stop_on_sigterm(grace_s: float) -> Iterator[None]:
    """Turn SIGTERM into `Interrupted` for the duration of the block (main thread only).

    A handler a host already installed (a Prefect engine's) is left alone: what it raises is in
    `STOPS` too. Off the main thread a handler cannot be installed; the block still honours a
    stop that the host requested (`request_stop`), through `raise_if_stopping()` in frame loops.
    """
    if threading.current_thread() is not threading.main_thread() or callable(signal.getsignal(signal.SIGTERM)):
        yield
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if _stopping.is_set():
            return  # already unwinding; a second SIGTERM must not interrupt the cleanup
        request_stop(grace_s)
        raise Interrupted()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        # None: the previous handler was not set from Python; the default is the honest restore
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
