"""A clip in work says it is alive: its row's `updated_at` is touched every few seconds.

A render that dies without a word (the machine gone, SIGKILL, no SIGTERM handler reached)
leaves its row `rendering` forever; the dispatcher tells such a row from a slow render by
how long the row has been silent, measured by Postgres's own clock so no two machines'
clocks are compared.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import structlog

from db.session import session_scope
from tasks.domain.clip_lifecycle import IN_WORK

log = structlog.get_logger(__name__)


def touch(clip_id: int) -> None:
    """Mark the clip alive, only while it is in work (a finished row keeps its last change)."""
    with session_scope() as s:
        s.execute(sa.text("UPDATE clips SET updated_at = now() WHERE id = :id AND status IN :in_work")
                  .bindparams(sa.bindparam("in_work", expanding=True)), {"id": clip_id, "in_work": sorted(s.value for s in IN_WORK)})


def last_change(clip_id: int) -> tuple[str, float]:
    """The clip row's status and the seconds since it last changed (a beat counts)."""
    with session_scope() as s:
        status, age = s.execute(sa.text(
            "SELECT status, EXTRACT(EPOCH FROM now() - updated_at) FROM clips WHERE id = :id"), {"id": clip_id}).one()
    return status, float(age or 0.0)


@contextmanager
def heartbeat(clip_id: int, every_s: float) -> Iterator[None]:
    """Touch the clip every `every_s` seconds from a daemon thread while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                touch(clip_id)
            except Exception as err:  # noqa: BLE001 — a missed beat must not stop the render
                log.warning("clip_heartbeat_failed", clip_id=clip_id, error=f"{type(err).__name__}: {err}")

    thread = threading.Thread(target=beat, name=f"clip-{clip_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
