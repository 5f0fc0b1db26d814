"""Spot interruption for real: a worker process gets SIGTERM in the middle of a render."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from db.enums import ClipStatus
from db.models import Clip
from db.session import session_scope
from tasks.media.video import probe
from tasks.render.clip_unit import render_clip
from tasks.render.heartbeat import last_change
from tasks.storage import keys
from tests.render.clip_makers import plan_long_clip


def clip_row(clip_id: int) -> Clip:
    with session_scope() as session:
        return session.exec(select(Clip).where(Clip.id == clip_id)).one()


def start_long_render(store, listing_root: Path, monkeypatch: pytest.MonkeyPatch, log_path: Path
                      ) -> tuple[uuid.UUID, int, subprocess.Popen]:
    """A render worker process on a long clip, returned once it has started rendering."""
    job_id, clip_id = plan_long_clip(store, listing_root, monkeypatch)
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "tasks.render.phase", "--clip", str(clip_id)],
                                  stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while "clip_render_started" not in log_path.read_text():
        assert worker.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, "the worker never started rendering"
        time.sleep(0.05)
    return job_id, clip_id, worker


@pytest.mark.slow
def test_sigterm_marks_the_clip_interrupted_keeps_partial_output_and_exits(
    db: str, store, listing_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    job_id, clip_id, worker = start_long_render(store, listing_root, monkeypatch, log_path)
    assert clip_row(clip_id).status is ClipStatus.rendering
    time.sleep(1.5)  # frames are being written now
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=120)
    took = time.monotonic() - sent
    output = log_path.read_text()
    print(f"worker exited {took:.2f} s after SIGTERM:\n{output}")
    assert code == 128 + signal.SIGTERM, output
    assert took < 120
    row = clip_row(clip_id)
    assert row.status is ClipStatus.interrupted and row.s3_uri is None
    partial_uri = store.uri_for(keys.clip(job_id, clip_id, partial=True))
    assert store.exists(partial_uri) and partial_uri in row.error
    partial = probe(store.get_file(partial_uri, tmp_path / "partial.mp4"))
    assert 0 < partial.frame_count < 1200 and (partial.width, partial.height) == (640, 360)
    assert "sigterm_received" in output and "clip_interrupted" in output  # logs flushed before exit

    # the retry (another worker, after the Spot replacement) finishes the same row
    with session_scope() as session:  # keep the retry short: same row, shorter clip
        session.get(Clip, clip_id).duration = 1.0
    result = render_clip(clip_id)
    assert result["status"] == "done" and result["chain"] == [clip_id]
    assert clip_row(clip_id).attempts == 2


@pytest.mark.slow
def test_a_render_keeps_its_row_alive_and_a_killed_one_goes_silent(
    db: str, store, listing_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The heartbeat the dispatcher reads: fresh while the render runs, silent once it is
    killed with no chance to say so."""
    monkeypatch.setenv("PICAIVID_RENDER_HEARTBEAT_S", "0.2")
    _, clip_id, worker = start_long_render(store, listing_root, monkeypatch, tmp_path / "worker.log")
    try:
        readings = []
        for _ in range(8):
            time.sleep(0.25)
            readings.append(last_change(clip_id))
        # beats every 0.2 s; a 2 s margin rides out a loaded 2-core CI box (the dispatcher allows 180 s)
        assert all(status == "rendering" and age < 2.0 for status, age in readings), readings
    finally:
        worker.kill()  # SIGKILL: no handler runs, the row stays `rendering`
        worker.wait()
    time.sleep(1.5)
    status, age = last_change(clip_id)
    assert status == "rendering" and age >= 1.5
