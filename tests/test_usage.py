"""The wall and CPU seconds the pipeline's logs report (tasks.usage)."""

from __future__ import annotations

import subprocess
import sys

from tasks.usage import Usage


def test_cpu_seconds_include_the_children_a_step_waited_for() -> None:
    started = Usage.now()
    busy = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", busy], check=True)
    spent = started.since()
    assert spent["cpu_s"] >= 0.35  # the child's busy loop, not just this process's waiting
    assert spent["wall_s"] >= spent["cpu_s"] * 0.9 - 0.05
