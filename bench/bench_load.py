"""Load on the local stack, full size: 20 jobs at once and a burst of 500 relay messages.

    python -m bench.bench_load                      # appends to bench/results/load.md
    python -m bench.bench_load --jobs 5 --burst 100  # a smaller reading

It runs `tests/faults/test_load.py` (the same stack fixtures and the same checks CI runs at a
smaller size) with the sizes given, and writes the figures the test measured: jobs per hour and
p95 job time (from all messages sent to each job's create-video run ending), the stack's peak
process-tree RSS, the most render-clip runs Running at once against the GPU pool's limit, and
messages per second through the relay. A failed check means no figures: the run is reported as
failed with pytest's summary. The machine is shared, so the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "load.md"
HEADER = """# Load on the local stack: jobs at once and a burst of relay messages

`python -m bench.bench_load` appends one dated section per run (issue 20, item 5). It runs
`tests/faults/test_load.py` at full size on the local stack (Prefect server, CPU pool with 4
slots, GPU pool with its concurrency limit, process workers, relay, moto S3/SQS, embedded
PostgreSQL; the CPU renderer stands in for LTX-2). Jobs: 2-3 photos of 320x214 each, a 4 s
square video, clips at 320x180. Job time runs from the moment all `run` messages are sent to
the job's create-video run ending, so it includes the wait for a slot. Peak RSS is the summed
RSS of the stack's process tree (server, workers, relay and every flow run and ffmpeg they
start), sampled every 0.5 s; PostgreSQL and moto are outside it. The burst is sent with the CPU
pool paused, so it measures the relay alone (parse, lock the job row, create or find the run).
The machine is shared with other agents' tests: the load average is recorded beside each run.
"""


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def _load(averages: tuple[float, ...]) -> str:
    return "/".join(f"{x:.1f}" for x in averages)


def _section(figures: dict, load_before: tuple[float, ...], load_after: tuple[float, ...], wall_s: float) -> str:
    gib = 2**30
    return "\n".join([
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        (f"Machine: {_machine()}. Load average (1/5/15 min) before: {_load(load_before)}, after: "
         f"{_load(load_after)}. Whole bench {wall_s:.0f} s (stack start included)."),
        "",
        "| figure | value |",
        "|---|---|",
        f"| jobs at once (clips rendered) | {figures['jobs']} ({figures['clips']}) |",
        f"| jobs per hour | {figures['jobs_per_hour']:.0f} |",
        f"| job time p50 / p95 (from all sent) | {figures['p50_job_s']:.0f} s / {figures['p95_job_s']:.0f} s |",
        f"| create-video run time p95 (Running to end) | {figures['p95_run_s']:.0f} s |",
        f"| peak RSS, stack process tree | {figures['peak_rss_bytes'] / gib:.2f} GiB |",
        (f"| server + workers + relay RSS before / after | {figures['long_lived_rss_before'] / gib:.2f} / "
         f"{figures['long_lived_rss_after'] / gib:.2f} GiB |"),
        (f"| render-clip runs Running at once (clips in work) / GPU pool limit | {figures['peak_render_running']} "
         f"({figures['peak_clips_in_work']}) / {figures['gpu_limit']} |"),
        (f"| burst: messages (duplicates), runs started, dead letters | {figures['burst']} "
         f"({figures['burst_duplicates']}), {figures['burst_runs']}, {figures['burst_dead_letters']} |"),
        f"| relay throughput | {figures['messages_per_s']:.1f} messages/s ({figures['burst_s']:.0f} s) |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--burst", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="picaivid-bench-load-"))  # kept when a check fails: the stack's logs
    figures_path = tmp / "figures.json"
    env = {**os.environ, "PICAIVID_LOAD_JOBS": str(args.jobs), "PICAIVID_LOAD_BURST": str(args.burst),
           "PICAIVID_LOAD_FIGURES": str(figures_path)}
    load_before, started = os.getloadavg(), time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/faults/test_load.py", "-q", "-p", "no:cacheprovider",
         "--show-capture=no", "--basetemp", str(tmp / "pytest"), "-o", "timeout=3600"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    wall_s, load_after = time.monotonic() - started, os.getloadavg()
    if result.returncode != 0:
        sys.exit(f"the load test failed ({result.returncode}); no figures written; logs in {tmp}:\n"
                 f"{result.stdout[-6000:]}")
    figures = json.loads(figures_path.read_text())
    shutil.rmtree(tmp)
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    section = _section(figures, load_before, load_after, wall_s)
    with RESULTS.open("a") as out:
        out.write(section)
    print(section)


if __name__ == "__main__":
    main()
