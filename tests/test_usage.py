"""The wall and CPU seconds the pipeline's logs report (tasks.usage)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tasks.usage import Usage


def test_cpu_seconds_include_the_children_a_step_waited_for() -> None:
    started = Usage.now()
    busy = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", busy], check=True)
    spent = started.since()
    assert spent["cpu_s"] >= 0.35  # the child's busy loop, not just this process's waiting
    assert spent["wall_s"] >= spent["cpu_s"] * 0.9 - 0.05


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")
def test_freed_frames_go_back_to_the_os() -> None:
    """What a clip's render thread freed stops counting against the process once trimmed."""
    code = """
import threading, numpy as np, psutil
from tasks.usage import release_free_memory
def churn():  # as a render does: one frame freed raises glibc's mmap threshold, and later
    frame = np.ones(8_000_000 // 8)  # frames come from the thread's heap, which keeps freed pages
    del frame
    keep = [np.ones(3_000_000 // 8 * (1 + i % 2)) for i in range(100)]
    last = np.ones(1000)  # still in use: the heap cannot shrink from its top
    keep.clear()
t = threading.Thread(target=churn); t.start(); t.join()
before = psutil.Process().memory_info().rss
release_free_memory()
print(before - psutil.Process().memory_info().rss)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) > 50_000_000
