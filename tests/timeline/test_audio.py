"""Music decoding through FFmpeg (PyAV), for every format the intake accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from tasks.timeline.audio import AudioError, load_mono
from tests.timeline.audio_fixtures import SR, write_click_track


def _encode(src: Path, dest: Path, *args: str) -> Path:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(src), *args, str(dest)], check=True)
    return dest


@pytest.mark.parametrize(("suffix", "args"), [(".m4a", ("-c:a", "aac")), (".ogg", ("-c:a", "libvorbis")), (".flac", ())])
def test_compressed_formats_decode_to_the_same_clicks(tmp_path: Path, suffix: str, args: tuple[str, ...]) -> None:
    wav = tmp_path / "clicks.wav"
    clicks = write_click_track(wav, 120, seconds=4.0)
    y = load_mono(_encode(wav, tmp_path / f"clicks{suffix}", "-ar", "44100", "-ac", "2", *args), SR)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) / SR == pytest.approx(4.0, abs=0.06)
    # the loudest sample of each click's first 100 ms sits at the click, not before
    for t in clicks[:4]:
        window = np.abs(y[int(t * SR) - 200 : int((t + 0.1) * SR)])
        assert int(np.argmax(window)) - 200 >= -20


def test_not_audio_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "song.mp3"
    bogus.write_bytes(b"this is not music")
    with pytest.raises(AudioError, match="song.mp3"):
        load_mono(bogus, SR)


def test_a_file_without_audio_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "silent.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "color=c=black:s=64x64:d=1",
         "-c:v", "libx264", str(video)],
        check=True,
    )
    with pytest.raises(AudioError, match="no audio stream"):
        load_mono(video, SR)
