"""The Rails contract from a shell: apply pending edits, cancel a job, read and publish its events.

Each command does what the matching queue message does (docs/rails.md), so an operator can
act without SQS and see what Rails was told.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from flows.cli.output import clear_errors, console, emit
from flows.state import JobNotFound, load_job

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
JobId = Annotated[str, typer.Argument(help="Job id.")]

edits_app = typer.Typer(help="Edits Rails inserted (status pending): apply them.", no_args_is_help=True)


@edits_app.command("apply")
def edits_apply(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Apply the job's pending edits as one new timeline version and re-render (Phase 4 only)."""
    from flows.edit_video import edit_video

    with clear_errors(JobNotFound):
        result = edit_video(load_job(job_id).id)

    def human(r: dict[str, Any]) -> None:
        console.print(f"applied {len(r['applied'])} edits, rejected {len(r['rejected'])}"
                      + (f"; v{r['version']} rendered to {r['assembled']['uri']}" if r["version"] else ""))
        for edit_id, reason in r["rejected"].items():
            console.print(f"  edit {edit_id} rejected: {reason}", highlight=False)

    emit(result, as_json, human)


def cancel(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Cancel the job: its row says cancelled, and every run of it is stopped."""
    from dataclasses import asdict

    from flows.cancel import cancel_job

    with clear_errors(JobNotFound):
        result = cancel_job(job_id)
    emit(asdict(result), as_json, lambda r: console.print(
        f"job {r['job_id']} cancelled; stopped {len(r['stopped_runs'])} runs" if r["cancelled"]
        else f"job {r['job_id']}: {r['reason']}"))


def events(job_id: JobId, as_json: JsonFlag = False) -> None:
    """The job's events, oldest first, and where each was delivered."""
    from db.events import job_events
    from db.session import session_scope

    with clear_errors(JobNotFound):
        job = load_job(job_id)
    with session_scope() as session:
        rows = job_events(session, job.id)

    def human(data: list[dict[str, Any]]) -> None:
        table = Table("occurred (UTC)", "type", "data", "sqs", "webhook", "last error")
        for e in data:
            table.add_row(e["occurred_at"][:19], e["type"], str(e["data"]), "sent" if e["sqs_sent_at"] else "-",
                          "sent" if e["webhook_sent_at"] else "-", e["last_error"] or "")
        console.print(table)

    emit(rows, as_json, human)


def publish_events() -> None:
    """Deliver the events outbox to PICAIVID_EVENTS_QUEUE_URL and PICAIVID_WEBHOOK_URL (until SIGTERM)."""
    from flows.publisher import Publisher

    with clear_errors(ValueError):
        publisher = Publisher()
    publisher.run_forever()
