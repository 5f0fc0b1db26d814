"""Finding ffmpeg and reporting its failures."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tasks.media.ffmpeg import (
    FFmpegError,
    FFmpegNotFound,
    error_lines,
    ffmpeg_exe,
    run_ffmpeg,
)
from tasks.settings import get_settings


def wrapper(path: Path, real: str, marker: Path) -> Path:
    """An executable that records being called, then runs the real ffmpeg."""
    path.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{real}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_default_ffmpeg_has_what_assembly_uses(env) -> None:
    """libx264, aac, xfade and loudnorm, in one tiny real run."""
    stderr = run_ffmpeg(
        [
            "-f", "lavfi", "-i", "color=red:s=64x64:r=30:d=0.5",
            "-f", "lavfi", "-i", "color=blue:s=64x64:r=30:d=0.5",
            "-f", "lavfi", "-i", "sine=f=440:d=0.8",
            "-filter_complex", "[0][1]xfade=transition=fade:duration=0.2:offset=0.3[v];[2]loudnorm=print_format=json[a]",
            "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-c:a", "aac", "-f", "mp4", os.devnull,
        ],
        "capabilities",
    )
    assert '"input_i"' in stderr and "libx264" in stderr


def test_setting_wins_over_path(env, tmp_path, monkeypatch) -> None:
    real = ffmpeg_exe()
    marker = tmp_path / "called"
    monkeypatch.setenv("PICAIVID_FFMPEG", str(wrapper(tmp_path / "my-ffmpeg", real, marker)))
    get_settings.cache_clear()
    run_ffmpeg(["-version"], "version")
    assert marker.exists()


def test_path_wins_over_the_bundled_build(env, tmp_path, monkeypatch) -> None:
    real = ffmpeg_exe()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "called"
    wrapper(bin_dir / "ffmpeg", real, marker)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert ffmpeg_exe() == str(bin_dir / "ffmpeg")
    run_ffmpeg(["-version"], "version")
    assert marker.exists()


def test_missing_configured_binary_is_a_clear_error(env, monkeypatch) -> None:
    monkeypatch.setenv("PICAIVID_FFMPEG", "/nowhere/ffmpeg")
    get_settings.cache_clear()
    with pytest.raises(FFmpegNotFound, match="PICAIVID_FFMPEG='/nowhere/ffmpeg'"):
        ffmpeg_exe()


def test_failure_carries_ffmpegs_error_lines(env, tmp_path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FFmpegError) as caught:
        run_ffmpeg(["-i", str(missing), "-f", "null", "-"], "reading clip 7")
    err = caught.value
    assert err.returncode != 0
    assert any("No such file or directory" in line for line in err.lines)
    assert "reading clip 7" in str(err) and "No such file or directory" in str(err)
    assert not any(line.startswith("[info]") or "[error]" in line for line in err.lines)


def test_error_lines_prefer_error_level_and_fall_back_to_the_tail() -> None:
    log = "[info] starting\n[in#0 @ 0x1] [error] bad input\n[info] done\n"
    assert error_lines(log) == ["[in#0 @ 0x1] bad input"]
    assert error_lines("[info] a\n[info] b\n") == ["a", "b"]
