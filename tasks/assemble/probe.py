"""Facts about a rendered video, stored on the job: what was actually produced, measured.

Frame count is counted by demuxing (tasks.media.video.probe), duration is the container's own
stream duration, and loudness is read by ffmpeg's ebur128 filter: independent readings, so a
fault in one (a dropped frame, a short audio track) shows up as a disagreement between them.
"""

from __future__ import annotations

from pathlib import Path

import av

from tasks.assemble.loudness import parse_ebur128
from tasks.media.ffmpeg import run_ffmpeg
from tasks.media.video import probe


def probe_output(path: Path) -> dict:
    """Duration, fps, size, frame count, codecs, audio, loudness (JSON-ready)."""
    video = probe(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else container.duration / 1e6
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_facts = (
            {
                "codec": audio.codec_context.name,
                "sample_rate": audio.sample_rate,
                "channels": audio.channels,
                "duration": float(audio.duration * audio.time_base) if audio.duration else None,
            }
            if audio is not None
            else None
        )
    lufs, peak = loudness(path) if audio is not None else (None, None)
    return {
        "duration": round(duration, 6),
        "fps": video.fps,
        "width": video.width,
        "height": video.height,
        "frame_count": video.frame_count,
        "video_codec": video.codec,
        "pix_fmt": video.pix_fmt,
        "audio": audio_facts,
        "loudness_lufs": lufs,
        "true_peak_dbtp": peak,
        "size_bytes": path.stat().st_size,
    }


def loudness(path: Path) -> tuple[float | None, float | None]:
    """(integrated LUFS, true peak dBTP) of the first audio stream; None for silence."""
    stderr = run_ffmpeg(
        ["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"],
        f"measuring loudness of {path.name}",
    )
    return parse_ebur128(stderr)
