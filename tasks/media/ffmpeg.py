"""The ffmpeg binary: where it is, and running it so that a failure says what ffmpeg said.

Looked up in order: the `PICAIVID_FFMPEG` setting (a path or a name on PATH), `ffmpeg` on PATH,
then the static build that imageio-ffmpeg ships (libx264, aac, xfade, loudnorm inside), so a bare
laptop and a container with a system ffmpeg both work without configuration.

Every run logs at `level+info`: each stderr line carries its level, which is how the error lines
are told apart from ffmpeg's chatter without guessing from their wording.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import structlog

from tasks.settings import get_settings

log = structlog.get_logger(__name__)

ERROR_LEVELS = ("[error]", "[fatal]", "[panic]")
LEVEL_TAG = re.compile(r"\[(?:panic|fatal|error|warning|info|verbose|debug|trace)\] ")
TAIL_LINES = 8  # shown when ffmpeg failed without a line at error level
MAX_ERROR_LINES = 12  # the first ones name the cause; the rest are its consequences
# `-benchmark`'s closing line: the run's own CPU and wall seconds (its maxrss line is not read:
# on Linux it starts from the forking parent's peak, so it says more about us than about ffmpeg)
BENCH_TIMES = re.compile(r"bench: utime=([\d.]+)s stime=([\d.]+)s rtime=([\d.]+)s")


class FFmpegNotFound(FileNotFoundError):
    """No usable ffmpeg binary."""


class FFmpegError(RuntimeError):
    """ffmpeg exited non-zero; `lines` are its error lines (or the tail of its stderr)."""

    def __init__(self, what: str, returncode: int, lines: list[str]) -> None:
        self.what = what
        self.returncode = returncode
        self.lines = lines
        detail = "\n".join(f"  {line}" for line in lines) or "  (no output)"
        super().__init__(f"ffmpeg failed ({what}, exit {returncode}):\n{detail}")


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run (looked up each time: PATH and settings may change)."""
    configured = get_settings().ffmpeg
    if configured:
        found = shutil.which(configured) or (configured if Path(configured).is_file() else None)
        if not found:
            raise FFmpegNotFound(f"PICAIVID_FFMPEG={configured!r} is not an executable file")
        return found
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def error_lines(stderr: str) -> list[str]:
    """The lines ffmpeg logged at error level or worse, without their level tags."""
    lines = [line for line in stderr.splitlines() if any(level in line for level in ERROR_LEVELS)]
    if not lines:
        lines = [line for line in stderr.splitlines() if line.strip()][-TAIL_LINES:]
    return [strip_level(line) for line in lines[:MAX_ERROR_LINES]]


def strip_level(line: str) -> str:
    """`[Parsed_loudnorm_0 @ 0x1] [info] {` -> `[Parsed_loudnorm_0 @ 0x1] {`."""
    return LEVEL_TAG.sub("", line, count=1).rstrip()


def run_ffmpeg(args: Sequence[str], what: str) -> str:
    """Run ffmpeg with `args` (inputs, filters, outputs); return its stderr, level tags removed.

    `what` names the step in the error (e.g. "segment 2 (clips 4, 7)") so that a failure
    points at the input that caused it.
    """
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-benchmark", "-y",
               *args]
    proc = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    if proc.returncode != 0:
        raise FFmpegError(what, proc.returncode, error_lines(proc.stderr))
    log.debug("ffmpeg.finished", what=what, **usage(proc.stderr))
    return "\n".join(strip_level(line) for line in proc.stderr.splitlines())


def usage(stderr: str) -> dict[str, float]:
    """ffmpeg's own account of a run (`-benchmark`): CPU and wall seconds, so a slow assembly
    shows which of its steps took the time."""
    times = BENCH_TIMES.search(stderr)
    if not times:
        return {}
    user, system, wall = (float(v) for v in times.groups())
    return {"cpu_s": round(user + system, 2), "wall_s": round(wall, 2)}
