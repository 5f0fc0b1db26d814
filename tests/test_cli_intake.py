"""`picaivid job create / show / run / db upgrade`: the happy path and every error the CLI promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def _photos(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (64, 48), (40 * i % 255, 120, 200)).save(folder / name)
    return folder


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_job_create_uploads_and_records(db: str, tmp_path: Path) -> None:
    from sqlmodel import select

    from db.models import Job, Photo
    from db.session import session_scope
    from tasks.storage import get_store

    photos = _photos(tmp_path / "in", ["b.jpg", "a.png"])
    (photos / "notes.txt").write_text("not a photo")
    overrides = tmp_path / "o.json"
    overrides.write_text(json.dumps({"a.png": {"hero_global": True, "room_override": "kitchen", "hero_priority": 2},
                                     "b.jpg": {"exclude": True}}))
    music = tmp_path / "m.wav"
    import numpy as np
    import soundfile as sf

    sf.write(music, np.zeros(22050, np.float32), 22050)
    res = invoke("job", "create", "--photos", str(photos), "--metadata", str(overrides), "--music", str(music),
                 "--target-length", "20", "--no-beat-sync", "--listing-id", "L-1", "--json")
    assert res.exit_code == 0, res.output
    job_id = json.loads(res.stdout)["job_id"]
    with session_scope() as s:
        job = s.get(Job, __import__("uuid").UUID(job_id))
        rows = {p.original_filename: p for p in s.exec(select(Photo).where(Photo.job_id == job.id))}
    assert (job.listing_id, job.target_length, job.enable_beat_sync) == ("L-1", 20.0, False)
    assert set(rows) == {"a.png", "b.jpg"}  # notes.txt is not a photo
    assert rows["a.png"].room_override == "kitchen" and rows["a.png"].manual_metadata["hero_global"] is True
    assert rows["b.jpg"].exclude is True
    store = get_store()
    assert store.get_bytes(rows["a.png"].s3_uri) == (photos / "a.png").read_bytes()
    assert store.exists(job.music_uri)

    shown = invoke("show", job_id, "--json")
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.stdout)
    assert summary["job"]["status"] == "pending" and summary["analyze"]["photos"] == 2


@pytest.mark.parametrize(
    "setup,args,message",
    [
        ("none", ["job", "create", "--photos", "{tmp}/missing"], "photo folder not found"),
        ("empty", ["job", "create", "--photos", "{tmp}/in"], "no images in"),
        ("photos", ["job", "create", "--photos", "{tmp}/in", "--metadata", "{tmp}/nope.json"], "metadata file not found"),
        ("bad_json", ["job", "create", "--photos", "{tmp}/in", "--metadata", "{tmp}/o.json"], "not valid JSON"),
        ("typo", ["job", "create", "--photos", "{tmp}/in", "--metadata", "{tmp}/o.json"], "not in the folder: c.jpg"),
        ("bad_key", ["job", "create", "--photos", "{tmp}/in", "--metadata", "{tmp}/o.json"], "hero_globl"),
        ("bad_room", ["job", "create", "--photos", "{tmp}/in", "--metadata", "{tmp}/o.json"], "room_override"),
        ("photos", ["job", "create", "--photos", "{tmp}/in", "--music", "{tmp}/none.mp3"], "music file not found"),
        ("photos", ["job", "create", "--photos", "{tmp}/in", "--template", "western"], "unknown template 'western'"),
        ("photos", ["show", "00000000-0000-0000-0000-000000000000"], "no job with id"),
        ("photos", ["show", "garbage"], "no job with id garbage"),
        ("photos", ["run", "00000000-0000-0000-0000-000000000000"], "no job with id"),
    ],
)
def test_cli_errors_are_one_line(db: str, tmp_path: Path, setup: str, args: list[str], message: str) -> None:
    from sqlmodel import func, select

    from db.models import Job
    from db.session import session_scope

    (tmp_path / "in").mkdir()
    if setup != "empty" and setup != "none":
        _photos(tmp_path / "in", ["a.jpg", "b.jpg"])
    overrides = {
        "bad_json": "{not json",
        "typo": json.dumps({"c.jpg": {"exclude": True}}),
        "bad_key": json.dumps({"a.jpg": {"hero_globl": True}}),
        "bad_room": json.dumps({"a.jpg": {"room_override": "ballroom"}}),
    }
    if setup in overrides:
        (tmp_path / "o.json").write_text(overrides[setup])
    res = invoke(*[a.format(tmp=tmp_path) for a in args])
    assert res.exit_code != 0
    assert message in res.stderr
    assert "Traceback" not in res.output and len(res.stderr.strip().splitlines()) <= 2
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(Job)).one() == 0  # nothing half-made


def test_run_refuses_reversed_phases(db: str, tmp_path: Path) -> None:
    res = invoke("job", "create", "--photos", str(_photos(tmp_path / "in", ["a.jpg"])), "--json")
    job_id = json.loads(res.stdout)["job_id"]
    res = invoke("run", job_id, "--start-phase", "assemble", "--stop-after", "analyze")
    assert res.exit_code != 0 and "comes after" in res.stderr
    res = invoke("run", job_id, "--start-phase", "paint")
    assert res.exit_code != 0 and "unknown phase 'paint'" in res.stderr


def test_db_upgrade_reports_revision(db: str) -> None:
    res = invoke("db", "upgrade", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["revision"] == head_revision()


@pytest.mark.parametrize("revision", [None, "0003"])
def test_unmigrated_database_is_one_clear_line_before_any_work(
    env: Path, pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, revision: str | None
) -> None:
    """A fresh (or old) DATABASE_URL: which database, its revision, the command; nothing uploaded."""
    import uuid

    from db.migrate import upgrade
    from db.session import database_name
    from tasks.settings import get_settings
    from tests.conftest import empty_database

    url = empty_database(pg_server_url, "fresh")
    name = database_name(url)
    if revision:
        upgrade(url, revision)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    photos = _photos(tmp_path / "in", ["a.jpg"])
    for args in (["job", "create", "--photos", str(photos)], ["show", str(uuid.uuid4())],
                 ["timeline", "versions", str(uuid.uuid4())]):
        res = invoke(*args)
        assert res.exit_code != 0
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.output, res.output
        assert name in lines[0] and "picaivid db upgrade" in lines[0] and head_revision() in lines[0]
        assert (f"at revision {revision}" if revision else "not migrated") in lines[0]
    assert not (env.parent / "artifacts").exists()  # refused before uploading anything


def test_every_uploaded_file_is_its_own_object(db: str, tmp_path: Path) -> None:
    """Names that reduce to one key, hostile names, RAW and video: each is a row of its own whose
    object reads back as its content_sha256; only non-media files stay out."""
    from sqlmodel import select

    from db.models import Photo
    from db.session import session_scope
    from tasks.storage import get_store, sha256_bytes

    names = ["kitchen 1.jpg", "kitchen_1.jpg", "it's \"ours\"; rm -rf.jpg", "ünïcødé 😀 vue.png",
             "--rf (copy).JPG", "IMG_0001.CR2", "walkthrough.MOV"]
    folder = _photos(tmp_path / "in", names[:5])
    (folder / "IMG_0001.CR2").write_bytes(b"II*\x00" + bytes(64))
    (folder / "walkthrough.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  " + bytes(64))
    (folder / "listing.xlsx").write_bytes(b"PK")
    res = invoke("job", "create", "--photos", str(folder), "--json")
    assert res.exit_code == 0, res.output
    with session_scope() as s:
        rows = list(s.exec(select(Photo)))
    assert sorted(r.original_filename for r in rows) == sorted(names)
    assert len({r.s3_uri for r in rows}) == len(rows)
    store = get_store()
    for row in rows:
        data = store.get_bytes(row.s3_uri)
        assert sha256_bytes(data) == row.content_sha256 == sha256_bytes((folder / row.original_filename).read_bytes())


def head_revision() -> str:
    from db.migrate import head_revision

    return head_revision()


def test_embedded_postgres_when_database_url_is_unset(tmp_path: Path) -> None:
    """A laptop with nothing installed: the CLI starts its own PostgreSQL and migrates it."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PICAIVID_DATABASE_URL"}}
    env["PICAIVID_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout, not an installed one
    cmd = [sys.executable, "-m", "flows.cli", "db", "upgrade", "--json"]
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["revision"] == head_revision()
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").is_file()
