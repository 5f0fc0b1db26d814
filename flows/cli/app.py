"""The `picaivid` commands: database, jobs, runs, the demo."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import structlog
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from db.enums import PHASE_ORDER
from flows.cli.output import clear_errors, console, emit, err_console, fail, json_logs, quiet_prefect
from flows.cli.prefect_server import app as prefect_server_app
from flows.cli.rails import cancel, edits_app, events, publish_events
from flows.cli.report import report
from flows.cli.schema import ensure_schema
from flows.cli.stack import app as stack_app
from flows.cli.timeline import app as timeline_app
from flows.state import JobNotFound, PhaseOrderError, as_uuid
from tasks.intake import IntakeError, JobRequest, create_job
from tasks.logs import configure_logging
from tasks.usage import Usage

app = typer.Typer(help="Picaivid: listing photos to a beat-synced marketing video.", no_args_is_help=True)
db_app = typer.Typer(help="The system-of-record database.", no_args_is_help=True)
job_app = typer.Typer(help="Create jobs.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(job_app, name="job")
app.command("report")(report)
app.add_typer(timeline_app, name="timeline")
app.add_typer(stack_app, name="stack")
app.add_typer(edits_app, name="edits")
app.command("cancel")(cancel)
app.command("events")(events)
app.command("publish-events")(publish_events)
app.add_typer(prefect_server_app, name="prefect-server")

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
PHASES = ", ".join(p.value for p in PHASE_ORDER)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False) -> None:
    quiet_prefect(verbose)
    configure_logging(level="DEBUG" if verbose else None)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Migrate the database (embedded PostgreSQL unless DATABASE_URL is set) to the newest schema."""
    from db.migrate import current_revision, upgrade
    from db.session import database_url

    url = database_url()
    upgrade(url)
    emit({"revision": current_revision(url)}, as_json, lambda d: console.print(f"database at revision {d['revision']}"))


@job_app.command("create")
def job_create(
    photos: Annotated[Path, typer.Option("--photos", help="Folder of listing photos.")],
    metadata: Annotated[Optional[Path], typer.Option("--metadata", help="overrides.json: file name → manual metadata.")] = None,
    music: Annotated[Optional[Path], typer.Option("--music", help="Music track.")] = None,
    template: Annotated[str, typer.Option("--template", help="Template name.")] = "standard",
    target_length: Annotated[Optional[float], typer.Option("--target-length", help="Seconds.")] = None,
    no_beat_sync: Annotated[bool, typer.Option("--no-beat-sync", help="Even pacing, no beat snapping.")] = False,
    listing_id: Annotated[Optional[str], typer.Option("--listing-id")] = None,
    listing: Annotated[Optional[Path], typer.Option("--listing", help="listing.json: address, price, agent, brand (docs/rails.md).")] = None,
    formats: Annotated[Optional[str], typer.Option("--formats", help="Output formats, e.g. 16x9,9x16, or all (default: the template's).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Upload the photos (and music) and create the job; prints its id."""
    ensure_schema()
    with clear_errors(IntakeError):
        job = create_job(JobRequest(photos, metadata, music, template, target_length, not no_beat_sync, listing_id,
                                    read_listing(listing), tuple(formats.split(",")) if formats else None))
    emit({"job_id": str(job.id)}, as_json, lambda d: console.print(d["job_id"]))


def read_listing(path: Path | None) -> dict | None:
    import json

    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise IntakeError(f"listing file {path}: {err}") from None


@app.command("run")
def run(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    start_phase: Annotated[Optional[str], typer.Option("--start-phase", help=f"One of {PHASES}.")] = None,
    stop_after: Annotated[Optional[str], typer.Option("--stop-after", help=f"One of {PHASES}.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run create_video here, recorded on the local Prefect server (started once, then reused)."""
    json_logs(as_json)
    result = _run_with_progress(job_id, start_phase, stop_after, show=not as_json)
    emit(result, as_json, lambda d: console.print(f"job {d['job_id']}: {d['status']} after {', '.join(d['phases']) or 'nothing to do'}"))


@app.command("show")
def show(job_id: Annotated[str, typer.Argument(help="Job id.")], as_json: JsonFlag = False) -> None:
    """The job's state and what each phase produced."""
    from db.queries import job_summary

    ensure_schema()
    with clear_errors(JobNotFound, LookupError):
        summary = job_summary(as_uuid(job_id))
    emit(summary, as_json, _print_summary)


@app.command("demo")
def demo(
    out: Annotated[Optional[Path], typer.Option("--out", help="Where the sample listing is made.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    template: Annotated[str, typer.Option("--template")] = "standard",
    target_length: Annotated[Optional[float], typer.Option("--target-length")] = 30.0,
    formats: Annotated[str, typer.Option("--formats", help="Output formats.")] = "16x9,9x16",
    as_json: JsonFlag = False,
) -> None:
    """Make the sample listing (with a sample address and agent) and run it end to end; saves
    a contact sheet of every format's branded and unbranded cut beside it."""
    from tasks.assemble.contact_sheet import contact_sheet
    from flows.dev.sample_listing import DEMO_LISTING, make_agent_media, make_listing
    from tasks.settings import get_settings
    from tasks.storage import get_store, keys

    started = Usage.now()
    json_logs(as_json)
    ensure_schema()
    root = out or get_settings().data_dir / "demo" / f"seed-{seed}"
    with console.status("rendering the sample listing…", spinner="dots") if not as_json else nullcontext():
        listing = make_listing(root, seed=seed)
        store = get_store()
        media = {f"{p.stem}_uri": store.put_file(keys.agent_media("demo", p.name), p)
                 for p in make_agent_media(root / "agent")}
    structlog.get_logger(__name__).info("demo.listing_made", photos=len(listing.photos), **started.since())
    details = {**DEMO_LISTING, "agent": {**DEMO_LISTING["agent"], **media}}
    with clear_errors(IntakeError):
        job = create_job(JobRequest(root / "photos", listing.overrides_path, listing.music_path, template, target_length,
                                    True, f"demo-{seed}", details, tuple(formats.split(","))))
    result = _run_with_progress(str(job.id), None, None, show=not as_json)
    from db.queries import job_summary

    summary = job_summary(job.id)
    facts = summary["job"]["final_video_facts"] or {}
    sheet = contact_sheet(job.id, root / "contact-sheet.jpg") if facts.get("deliveries") else None
    emit({**result, "final_video_uri": summary["job"]["final_video_uri"], "deliveries": facts.get("deliveries"),
          "captions": facts.get("captions"), "contact_sheet": str(sheet) if sheet else None}, as_json,
         lambda d: console.print(f"job {d['job_id']}: {d['status']}; video at {d['final_video_uri']}; "
                                 f"contact sheet {d['contact_sheet']}"))


@app.command("relay")
def relay(
    queue_url: Annotated[Optional[str], typer.Option("--queue-url", help="Default: PICAIVID_QUEUE_URL.")] = None,
    dead_letter_url: Annotated[Optional[str], typer.Option("--dead-letter-url", help="Default: PICAIVID_DEAD_LETTER_QUEUE_URL.")] = None,
    deployment: Annotated[str, typer.Option("--deployment")] = "create-video/create-video",
    wait_seconds: Annotated[int, typer.Option("--wait-seconds", min=0, max=20, help="SQS long-poll wait.")] = 20,
) -> None:
    """Long-poll the Rails queue and start one create_video run per message (until SIGTERM)."""
    from flows.relay import PrefectLauncher, Relay
    from tasks.settings import get_settings

    settings = get_settings()
    queue_url = queue_url or settings.queue_url
    dead_letter_url = dead_letter_url or settings.dead_letter_queue_url
    if not queue_url or not dead_letter_url:
        fail("set --queue-url and --dead-letter-url (or PICAIVID_QUEUE_URL / PICAIVID_DEAD_LETTER_QUEUE_URL)")
    Relay(queue_url, dead_letter_url, PrefectLauncher(deployment), wait_seconds=wait_seconds).run_forever()


@app.command("gpu-usage")
def gpu_usage_command(
    since: Annotated[Optional[str], typer.Option("--since", help="YYYY-MM-DD (UTC).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """GPU hours per day and GPU seconds per job."""
    from datetime import date

    from tasks.costs import gpu_usage

    ensure_schema()
    try:
        since_day = date.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since must be a date like 2026-01-31, got {since!r}")
    usage = gpu_usage(since_day)

    def human(d: dict) -> None:
        table = Table("day (UTC)", "GPU hours")
        for row in d["days"]:
            table.add_row(row["day"], f"{row['gpu_hours']:.3f}")
        console.print(table)
        console.print(f"total {d['total_gpu_hours']:.3f} GPU hours over {len(d['jobs'])} jobs")

    emit(usage, as_json, human)


# --------------------------------------------------------------------------- helpers


def _prefect_api(show: bool) -> str:
    """The shared local Prefect server's API (flows.local_api), started here if none answers."""
    from flows.local_api import LocalApiError, ensure_local_api

    def starting() -> None:
        if show:
            err_console.print("starting the local Prefect server (once; later commands reuse it)…")

    with clear_errors(LocalApiError):
        return ensure_local_api(on_start=starting)


def _run_with_progress(job_id: str, start_phase: str | None, stop_after: str | None, show: bool) -> dict:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.create_video import checked_request, create_video
    from flows.job_lock import JobBusy, JobLockLost, job_lock
    from flows.progress import phase_listener
    from tasks.settings import get_settings

    ensure_schema()
    with clear_errors(JobNotFound, PhaseOrderError, ValueError):  # before any Prefect server starts
        request = checked_request(job_id, start_phase, stop_after)
    api_url = _prefect_api(show)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} phases"),
                        TimeElapsedColumn(), console=console, disable=not show, transient=False)
    task = progress.add_task("create_video", total=len(PHASE_ORDER))

    def advance(phase: str, event: str) -> None:
        progress.update(task, description=f"{phase}: {event}")
        if event == "finished":
            progress.advance(task)

    with clear_errors(JobBusy, JobLockLost), job_lock(request[0], f"picaivid run (pid {os.getpid()})",
                                                     get_settings().job_lock_wait_s, provisional=True), \
            progress, phase_listener(advance), temporary_settings({PREFECT_API_URL: api_url}):
        try:
            return create_video(*request)
        except JobLockLost:  # another run has the job now: its row is that run's
            raise
        except Exception as err:  # the job row already holds the failure
            from db.queries import job_summary

            error = job_summary(as_uuid(job_id))["job"]["error"] or f"{type(err).__name__}: {err}"
            fail(f"job {job_id} failed: {error}")


def _print_summary(summary: dict) -> None:
    job = summary["job"]
    console.print(f"[bold]job {job['id']}[/]  status [bold]{job['status']}[/]  phase {job['current_phase'] or '-'}")
    if job["error"]:
        console.print(f"[red]error:[/] {job['error']}")
    a = summary["analyze"]
    table = Table("phase", "produced")
    table.add_row("analyze", f"{a['photos']} photos ({len(a['unusable'])} unusable, {len(a['gated'])} gated, "
                  f"{len(a['excluded'])} excluded), {len(a['clusters'])} rooms")
    r = summary["render"]
    table.add_row("render", f"{r['clips']} clips {r['by_status']}")
    t = summary["timeline"]["versions"]
    table.add_row("timeline", f"{len(t)} versions" + (f", newest v{t[-1]['version']} {t[-1]['duration']:.2f}s" if t else ""))
    table.add_row("assemble", job["final_video_uri"] or "-")
    console.print(table)
