"""Phase 4's deliveries against real PostgreSQL and a real store: both cuts of every requested
format, posters, caption files, the logo read through the store, and the completion event."""

from __future__ import annotations

import io

import av
import pysubs2
import pytest
from PIL import Image
from sqlmodel import select

from db.contract import check
from db.enums import OverlayKind, OverlayPosition
from db.events import completed_data
from db.models import Job, Timeline, TimelineOverlay
from db.session import session_scope
from tasks.assemble.delivery import is_faststart
from tasks.assemble.errors import SourceError
from tasks.assemble.phase import run_assemble
from tasks.domain.overlays import Overlay
from tasks.storage import keys
from tests.assemble.media import shot
from tests.assemble.test_phase import add_timeline, create_job


def audio_packets(video: bytes) -> bytes:
    with av.open(io.BytesIO(video)) as container:
        return b"".join(bytes(packet) for packet in container.demux(container.streams.audio[0]) if packet.size)


def listing(logo_uri: str) -> dict:
    return {"address_lines": ["1428 Orchard Lane"], "price": {"amount": 849000, "currency": "USD"},
            "agent": {"name": "Jordan Avery", "phone": "(217) 555-0142", "logo_uri": logo_uri},
            "brand": {"primary": "#1F3A5F", "accent": "#E8B04B"}}


def add_overlays(job_id, overlays: list[Overlay]) -> None:
    with session_scope() as s:
        timeline = s.exec(select(Timeline).where(Timeline.job_id == job_id)).one()
        for i, o in enumerate(overlays):
            s.add(TimelineOverlay(timeline_id=timeline.id, order_index=i, kind=o.kind, shot_index=o.shot_index,
                                  start_time=o.start_time, end_time=o.end_time, fade_duration=o.fade_duration,
                                  position=o.position, content=o.content, branded_only=o.branded_only,
                                  visible=o.visible))


@pytest.fixture
def job(db, fast, store, cards, tmp_path):
    job_id, ids = create_job(store, cards, ["c1", "c2a"])
    logo = io.BytesIO()
    Image.new("RGBA", (90, 30), (232, 176, 75, 255)).save(logo, "PNG")
    logo_uri = store.put_bytes(keys.agent_media("t", "logo.png"), logo.getvalue())
    with session_scope() as s:
        row = s.get(Job, job_id)
        row.listing, row.formats = listing(logo_uri), ["16x9", "9x16"]
        s.add(row)
    add_timeline(job_id, 1, [shot(ids["c1"], cards["c1"], 0.0, 1.2),
                             shot(ids["c2a"], cards["c2a"], 0.0, 1.5, policy="clip_only")])  # with its own sound
    add_overlays(job_id, [
        Overlay(OverlayKind.title, 0, {"address": ["1428 Orchard Lane"], "price": "$849,000"}, OverlayPosition.middle,
                start_time=0.1, end_time=1.1, fade_duration=0.2),
        Overlay(OverlayKind.agent_card, 1, {"name": "Jordan Avery", "phone": "(217) 555-0142", "logo_uri": logo_uri},
                OverlayPosition.middle, branded_only=True, start_time=1.3, end_time=2.7, fade_duration=0.2),
    ])
    return job_id


@pytest.mark.slow
def test_every_format_gets_both_cuts_posters_and_captions(job, store) -> None:
    result = run_assemble(job)

    with session_scope() as s:
        row = s.get(Job, job)
        facts = row.final_video_facts
        data = completed_data(row)
    assert result["uri"] == row.final_video_uri == store.uri_for(keys.final(job, 1, "16x9"))
    assert facts["faststart"] is True and set(facts["deliveries"]) == {"16x9", "9x16"}
    sizes = {"16x9": (1920, 1080), "9x16": (1080, 1920)}
    for fmt, cuts in facts["deliveries"].items():
        assert cuts["branded"]["video"] != cuts["unbranded"]["video"]
        for cut in ("branded", "unbranded"):
            assert cuts[cut]["faststart"] and store.exists(cuts[cut]["video"])
            poster = Image.open(io.BytesIO(store.get_bytes(cuts[cut]["poster"])))
            assert (poster.format, poster.size) == ("JPEG", sizes[fmt])
    assert facts["unbranded_video_uri"] == store.uri_for(keys.final(job, 1, "16x9-unbranded"))
    # one mix serves every format and cut: the same AAC packets in all four files
    sounds = {audio_packets(store.get_bytes(cuts[cut]["video"]))
              for cuts in facts["deliveries"].values() for cut in ("branded", "unbranded")}
    assert len(sounds) == 1 and len(next(iter(sounds))) > 5_000  # the tone, not silence (under 1 kB)
    branded = pysubs2.SSAFile.from_string(store.get_bytes(facts["captions"]["branded"]["vtt"]).decode())
    unbranded = pysubs2.SSAFile.from_string(store.get_bytes(facts["captions"]["unbranded"]["srt"]).decode())
    assert [e.plaintext for e in branded] == ["1428 Orchard Lane\n$849,000", "Jordan Avery\n(217) 555-0142"]
    assert [(e.start, e.end) for e in branded] == [(100, 1100), (1300, 2700)]
    assert [e.plaintext for e in unbranded] == ["1428 Orchard Lane\n$849,000"]  # no agent in the MLS cut
    assert facts["generated_motion"] == {"any": False, "clip_ids": [], "disclosed": False}
    title, agent = facts["overlays"]
    assert title["cuts"] == ["branded", "unbranded"] and agent["cuts"] == ["branded"]
    assert min(title["contrast"].values()) >= 4.5 and set(agent["contrast"]) == {"16x9/branded", "9x16/branded"}
    # the completion event lists every delivery and matches its schema
    check("event", {"event_id": "0c4b8d1e-2f3a-4b5c-9d6e-8f7a6b5c4d3e", "job_id": str(job), "type": "job.completed",
                    "occurred_at": "2026-12-04T10:21:40+00:00", "listing_id": None, "data": data})
    assert set(data["formats"]) == set(data["unbranded_formats"]) == set(data["posters"]) == {"16x9", "9x16"}
    assert data["captions"] == facts["captions"]["branded"] and data["generated_motion"] is False


def test_a_missing_logo_is_named(job, store) -> None:
    with session_scope() as s:
        logo = s.get(Job, job).listing["agent"]["logo_uri"]
    store.delete(logo)
    with pytest.raises(SourceError, match=r"agent card logo: .*logo.png is missing from the artifact store"):
        run_assemble(job)


def test_faststart_is_read_from_the_boxes(tmp_path) -> None:
    def box(kind: bytes, body: bytes = b"") -> bytes:
        return (8 + len(body)).to_bytes(4, "big") + kind + body

    (tmp_path / "fast.mp4").write_bytes(box(b"ftyp", b"isom") + box(b"moov", b"x" * 20) + box(b"mdat", b"y" * 50))
    (tmp_path / "slow.mp4").write_bytes(box(b"ftyp", b"isom") + box(b"mdat", b"y" * 50) + box(b"moov", b"x" * 20))
    assert is_faststart(tmp_path / "fast.mp4") and not is_faststart(tmp_path / "slow.mp4")
