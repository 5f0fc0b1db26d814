"""`picaivid events / cancel`: what Rails was told, and a cancel that has nothing to stop."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from db.enums import Phase
from db.models import Job
from db.session import session_scope
from flows.cli import app
from flows.state import mark_finished, mark_phase_started

runner = CliRunner()


def test_events_lists_what_rails_was_told_and_a_completed_job_is_not_cancelled(db: str) -> None:
    with session_scope() as s:
        job = Job(listing_id="L-5", final_video_uri="file:///videos/final.mp4",
                  final_video_facts={"duration": 8.0, "format": "1x1", "timeline_version": 1})
        s.add(job)
    mark_phase_started(job.id, Phase.assemble)
    mark_finished(job.id, Phase.assemble)

    res = runner.invoke(app, ["events", str(job.id), "--json"])
    assert res.exit_code == 0, res.output
    events = json.loads(res.stdout)
    assert [e["type"] for e in events] == ["phase.started", "job.completed"]
    assert events[1]["data"]["final_video_uri"] == "file:///videos/final.mp4" and events[1]["sqs_sent_at"] is None

    res = runner.invoke(app, ["cancel", str(job.id), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"job_id": str(job.id), "cancelled": False,
                                      "reason": "the job has already completed: nothing to cancel", "stopped_runs": []}
    human = runner.invoke(app, ["events", str(job.id)])
    assert "job.completed" in human.stdout and human.exit_code == 0


def test_unknown_jobs_get_one_line(db: str) -> None:
    for command in ("events", "cancel"):
        res = runner.invoke(app, [command, "00000000-0000-0000-0000-000000000000"])
        assert res.exit_code == 1 and "no job with id" in res.output, (command, res.output)
