"""Wall and CPU seconds of a step, as the pipeline's own logs report them.

CPU seconds count every thread of this process and the child processes it has waited for
(each ffmpeg run), so a step that keeps two cores busy shows about twice its wall time, and a
benchmark can read from the logs where the time went without timing anything itself.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    wall: float  # time.monotonic()
    cpu: float  # user + system seconds of this process and its waited-for children

    @classmethod
    def now(cls) -> Usage:
        t = os.times()
        return cls(time.monotonic(), t.user + t.system + t.children_user + t.children_system)

    def since(self) -> dict[str, float]:
        """`wall_s` and `cpu_s` from this snapshot until now, for a log line."""
        later = Usage.now()
        return {"wall_s": round(later.wall - self.wall, 3), "cpu_s": round(later.cpu - self.cpu, 3)}


def cores() -> int:
    """CPU cores this process may run on (its affinity, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc keeps it in each thread's arena otherwise).

    A 1080p clip passes hundreds of MB of frames and maps through the heap; once its render
    thread is done they are free but still counted against the process, through the next
    phases, unless trimmed.
    """
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        pass
