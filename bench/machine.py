"""What every benchmark records beside its figures: the machine, the moment and the load on it."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def cpu_name() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor())


def describe(*extras: str) -> str:
    """`<cpu>, <n> cores[, extras...]`: the libraries whose speed the figures depend on go in extras."""
    return ", ".join([cpu_name(), f"{os.cpu_count()} cores", *extras])


def stamp() -> tuple[str, float]:
    """The section's UTC time and the 1-minute load average when it starts."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), os.getloadavg()[0]


def append_section(results: Path, header: str, heading: str, body: str) -> None:
    """One dated section at the end of a results file (made with its header the first time)."""
    results.parent.mkdir(parents=True, exist_ok=True)
    if not results.exists():
        results.write_text(header)
    with results.open("a") as out:
        out.write(f"\n## {heading}\n\n{body}")
