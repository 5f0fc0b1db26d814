"""Loudness: two-pass loudnorm to the target, and an independent EBU R128 reading of the result.

Pass 1 runs loudnorm in measuring mode over the finished mix; pass 2 feeds those measurements
back so the gain is linear (one gain for the whole video) where the true peak allows, and
loudnorm's dynamic mode only where it does not. The result is read back with `ebur128`, a
different ffmpeg filter, so the stored facts are not the normaliser grading its own work.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

SILENCE_LUFS = -70.0  # EBU R128's absolute gate: anything quieter has no integrated loudness


@dataclass(frozen=True)
class LoudnessTarget:
    integrated: float  # LUFS
    true_peak: float  # dBTP handed to loudnorm (already below the ceiling by the codec margin)
    loudness_range: float  # LU


@dataclass(frozen=True)
class Measurement:
    integrated: float
    true_peak: float
    loudness_range: float
    threshold: float
    offset: float  # loudnorm's suggested gain offset for pass 2

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.integrated) or self.integrated <= SILENCE_LUFS


def measure_filter(target: LoudnessTarget) -> str:
    return (
        f"loudnorm=I={target.integrated}:TP={target.true_peak}:LRA={target.loudness_range}"
        ":print_format=json"
    )


def normalize_filter(target: LoudnessTarget, measured: Measurement) -> str:
    return (
        f"loudnorm=I={target.integrated}:TP={target.true_peak}:LRA={target.loudness_range}"
        f":measured_I={measured.integrated}:measured_TP={measured.true_peak}"
        f":measured_LRA={measured.loudness_range}:measured_thresh={measured.threshold}"
        f":offset={measured.offset}:linear=true"
    )


def parse_loudnorm(stderr: str) -> Measurement:
    """loudnorm's JSON block (the last `{...}` in ffmpeg's log)."""
    start, end = stderr.rfind("{"), stderr.rfind("}")
    if start < 0 or end < start:
        raise ValueError("ffmpeg printed no loudnorm measurement")
    data = json.loads(stderr[start : end + 1])
    return Measurement(
        integrated=float(data["input_i"]),
        true_peak=float(data["input_tp"]),
        loudness_range=float(data["input_lra"]),
        threshold=float(data["input_thresh"]),
        offset=float(data["target_offset"]),
    )


def parse_ebur128(stderr: str) -> tuple[float | None, float | None]:
    """(integrated LUFS, true peak dBTP) from ebur128's summary; None where there is no signal."""
    integrated = re.findall(r"^\s*I:\s+(-?[\d.]+|-inf) LUFS", stderr, flags=re.MULTILINE)
    peak = re.findall(r"^\s*Peak:\s+(-?[\d.]+|-inf) dBFS", stderr, flags=re.MULTILINE)
    if not integrated:
        raise ValueError("ffmpeg printed no ebur128 summary")
    lufs = float(integrated[-1])
    tp = float(peak[-1]) if peak else None
    return (
        lufs if lufs > SILENCE_LUFS else None,
        tp if tp is not None and math.isfinite(tp) else None,
    )
