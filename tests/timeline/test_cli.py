"""`picaivid timeline ...` through Typer's runner, against the app object itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli.timeline import app
from tasks.timeline.phase import run_timeline
from tests.timeline.rows import P, Room, Seeded, music_file, seed

runner = CliRunner()


@pytest.fixture(autouse=True)
def logs_on_stderr() -> None:
    """As the main `picaivid` callback sets up before any mounted command runs."""
    from tasks.logs import configure_logging

    configure_logging(json_logs=True)


@pytest.fixture
def job(db: str, store, tmp_path: Path) -> Seeded:
    rooms = [Room("front_exterior", [P("front", 0.8, duration=6.0)]), Room("kitchen", [P("kit", 0.6, duration=6.0)]),
             Room("bedroom", [P("bed", 0.6, duration=6.0)]), Room("backyard", [P("yard", 0.5, duration=6.0)])]
    seeded = seed(store, rooms, music=music_file(tmp_path, 120.0, 30.0), target_length=16.0)
    run_timeline(seeded.job_id)
    return seeded


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def ok_json(*args: str) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_show_newest_and_an_older_version(job: Seeded) -> None:
    view = ok_json("show", job.job_id)
    assert view["version"] == 1 and len(view["shots"]) == 4 and view["made_by_edit"] is None
    assert view["tempo"] == pytest.approx(120, rel=0.02) and view["pacing"]["beat_sync"] is True
    ok_json("edit", job.job_id, "remove-clip", 1)
    assert ok_json("show", job.job_id)["made_by_edit"]["edit_type"] == "remove_clip"
    human = invoke("show", job.job_id, "--version", 1)
    assert human.exit_code == 0 and "v1" in human.stdout and "front" not in human.stderr


def test_every_edit_subcommand_writes_a_version(job: Seeded, tmp_path: Path) -> None:
    steps = [
        ("reorder", 1, 2),
        ("trim", 1, "--in", 0.5, "--out", 3.5),
        ("change-transition", 2, "dissolve", "--duration", 0.5),
        ("remove-clip", 1),
        ("swap-music", music_file(tmp_path, 100.0, 30.0)),
        ("change-pacing", "--shot-beats", "2,4"),
        ("change-pacing", "--no-beat-sync"),
        ("swap-music", "--none"),
    ]
    for version, step in enumerate(steps, start=2):
        result = ok_json("edit", "--user", "cli-test", job.job_id, *step)
        assert result["version"] == version, step
    history = ok_json("versions", job.job_id)
    assert [v["edit"] for v in history] == [None, "reorder", "trim", "change_transition", "remove_clip", "swap_music",
                                            "change_pacing", "change_pacing", "swap_music"]
    newest = ok_json("show", job.job_id)
    assert newest["music_uri"] is None and newest["pacing"]["beat_sync"] is False


def test_a_refused_edit_is_one_line_and_a_nonzero_exit(job: Seeded) -> None:
    result = invoke("edit", job.job_id, "trim", 42, "--in", "0.1")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "no shot at index 42" in result.stderr
    assert ok_json("show", job.job_id)["version"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("change-transition", 0, "fade"), "first shot always starts with a cut"),
        (("change-transition", 1, "spin"), "transition: Input should be"),
        (("change-pacing", "--shot-beats", "four"), "--shot-beats takes SHORTEST,LONGEST"),
        (("swap-music",), "give a music file or URI, or --none"),
        (("swap-music", "missing.mp3"), "music file not found: missing.mp3"),
        (("reorder", 0, 0), "already at index 0"),
    ],
)
def test_refusals(job: Seeded, args: tuple, message: str) -> None:
    result = invoke("edit", job.job_id, *args)
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_stale_base_version_and_unknown_jobs(job: Seeded) -> None:
    assert invoke("edit", "--base-version", 1, job.job_id, "remove-clip", 0).exit_code == 0
    stale = invoke("edit", "--base-version", 1, job.job_id, "remove-clip", 0)
    assert stale.exit_code == 1 and "not the newest" in stale.stderr
    missing = invoke("show", "00000000-0000-0000-0000-000000000000")
    assert missing.exit_code == 1 and "has no timeline yet" in missing.stderr
    bad = invoke("show", "not-a-uuid")
    assert bad.exit_code == 1 and "no job with id not-a-uuid" in bad.stderr
