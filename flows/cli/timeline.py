"""`picaivid timeline`: show a timeline version, list versions, and apply the editor's edits.

Every edit writes the next version (the old ones stay); after one, only Phase 4 needs to run:
`picaivid run JOB_ID --start-phase assemble`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flows.cli.schema import ensure_schema
from flows.cli.output import clear_errors, console, emit, fail
from flows.state import JobNotFound, as_uuid
from tasks.timeline.edits import EditRefused, apply_edit
from tasks.timeline.versions import NoTimeline, describe_version, list_versions

app = typer.Typer(help="Timelines: show versions and edit them (each edit writes a new version).", no_args_is_help=True)
edit_app = typer.Typer(
    help="Edit the newest timeline version of JOB_ID: edit [--user U] [--base-version N] JOB_ID COMMAND ...",
    no_args_is_help=True,
)
app.add_typer(edit_app, name="edit")

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
Index = Annotated[int, typer.Argument(help="Shot index (0 is the first shot).", min=0)]


@dataclass(frozen=True)
class Target:
    job_id: str  # checked when a subcommand runs, so `edit JOB_ID trim --help` always works
    user: str | None
    base_version: int | None


def _job(job_id: str) -> uuid.UUID:
    ensure_schema()
    with clear_errors(JobNotFound):
        return as_uuid(job_id)


@app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    version: Annotated[int | None, typer.Option("--version", help="Version number (default: the newest).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """One timeline version: its shots, trims, transitions and beat grid summary."""
    with clear_errors(NoTimeline):
        view = describe_version(_job(job_id), version)
    emit(view, as_json, _print_version)


@app.command("versions")
def versions(job_id: Annotated[str, typer.Argument(help="Job id.")], as_json: JsonFlag = False) -> None:
    """Every version of the job's timeline and the edit that made each."""
    rows = list_versions(_job(job_id))
    if not rows:
        fail(f"job {job_id} has no timeline yet (run Phase 3 first)")

    def human(data: list[dict[str, Any]]) -> None:
        table = Table("version", "status", "duration (s)", "made by")
        for r in data:
            table.add_row(str(r["version"]), r["status"], f"{r['total_duration']:.3f}", r["edit"] or "phase 3")
        console.print(table)

    emit(rows, as_json, human)


@edit_app.callback()
def edit(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    user: Annotated[str | None, typer.Option("--user", help="Who edits (edits.user_id).")] = None,
    base_version: Annotated[
        int | None, typer.Option("--base-version", help="Refuse unless this is still the newest version.")
    ] = None,
) -> None:
    ctx.obj = Target(job_id, user, base_version)


def _apply(ctx: typer.Context, edit_type: str, payload: dict[str, Any], as_json: bool) -> None:
    target: Target = ctx.obj
    with clear_errors(EditRefused):
        result = apply_edit(_job(target.job_id), edit_type, payload, user_id=target.user, base_version=target.base_version)
    emit(result, as_json, lambda r: console.print(
        f"{r['edit_type']}: v{r['base_version']} -> v{r['version']}, {r['total_duration']:.3f} s"
        + (f" ({_applied(r['applied'])})" if r["applied"] else "")
        + f"\nrender it: picaivid run {r['job_id']} --start-phase assemble"
    ))


def _applied(applied: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in applied.items())


@edit_app.command("reorder")
def reorder(
    ctx: typer.Context,
    from_index: Annotated[int, typer.Argument(help="Index of the shot to move.", min=0)],
    to_index: Annotated[int, typer.Argument(help="Index it moves to.", min=0)],
    as_json: JsonFlag = False,
) -> None:
    """Move one shot to another place."""
    _apply(ctx, "reorder", {"from_index": from_index, "to_index": to_index}, as_json)


@edit_app.command("trim")
def trim(
    ctx: typer.Context,
    index: Index,
    in_time: Annotated[float | None, typer.Option("--in", help="New in point, seconds into the clip.")] = None,
    out_time: Annotated[float | None, typer.Option("--out", help="New out point, seconds into the clip.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Trim a shot's in and/or out point within its clip."""
    payload = {k: v for k, v in (("in_time", in_time), ("out_time", out_time)) if v is not None}
    _apply(ctx, "trim", {"index": index, **payload}, as_json)


@edit_app.command("change-transition")
def change_transition(
    ctx: typer.Context,
    index: Index,
    transition: Annotated[str, typer.Argument(help="cut, or an xfade name such as fade, dissolve, slideleft.")],
    duration: Annotated[float | None, typer.Option("--duration", help="Seconds (default: the template's).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the transition into a shot."""
    payload: dict[str, Any] = {"index": index, "transition": transition}
    if duration is not None:
        payload["duration"] = duration
    _apply(ctx, "change_transition", payload, as_json)


@edit_app.command("remove-clip")
def remove_clip(ctx: typer.Context, index: Index, as_json: JsonFlag = False) -> None:
    """Remove a shot; the ones after it move up."""
    _apply(ctx, "remove_clip", {"index": index}, as_json)


@edit_app.command("swap-music")
def swap_music(
    ctx: typer.Context,
    music: Annotated[str | None, typer.Argument(help="A music file (uploaded) or a stored URI.")] = None,
    silent: Annotated[bool, typer.Option("--none", help="No music: a silent video.")] = False,
    bpm: Annotated[float | None, typer.Option("--bpm", help="Tempo override.")] = None,
    beat_offset: Annotated[float | None, typer.Option("--beat-offset", help="Seconds to beat one.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace the music; the shots are re-cut to its beats."""
    if silent == (music is not None):
        fail("give a music file or URI, or --none")
    uri = None if silent else _music_uri(_job(ctx.obj.job_id), music)  # type: ignore[arg-type]
    payload = {"music_uri": uri, **{k: v for k, v in (("bpm", bpm), ("beat_offset", beat_offset)) if v is not None}}
    _apply(ctx, "swap_music", payload, as_json)


def _music_uri(job_id: uuid.UUID, music: str) -> str:
    """A URI as given; a local file is uploaded under the job's music key first."""
    if "://" in music:
        return music
    path = Path(music)
    if not path.is_file():
        fail(f"music file not found: {music}")
    from tasks.storage import get_store, keys

    return get_store().put_file(keys.music(job_id, path.name), path)


def _pair(value: str | None, name: str) -> list[float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        fail(f"{name} takes SHORTEST,LONGEST, e.g. 4,8; got {value!r}")
    return [lo, hi]


@edit_app.command("change-pacing")
def change_pacing(
    ctx: typer.Context,
    shot_beats: Annotated[str | None, typer.Option("--shot-beats", help="Shot length in beats: SHORTEST,LONGEST.")] = None,
    shot_seconds: Annotated[str | None, typer.Option("--shot-seconds", help="Without beat sync: SHORTEST,LONGEST.")] = None,
    beat_sync: Annotated[bool | None, typer.Option("--beat-sync/--no-beat-sync", help="Cut on beats, or evenly.")] = None,
    target_length: Annotated[float | None, typer.Option("--target-length", help="Seconds.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change shot lengths, beat sync or the target length; the same shots are re-cut."""
    payload = {
        k: v for k, v in (
            ("shot_beats", _pair(shot_beats, "--shot-beats")), ("shot_seconds", _pair(shot_seconds, "--shot-seconds")),
            ("beat_sync", beat_sync), ("target_length", target_length),
        ) if v is not None
    }
    _apply(ctx, "change_pacing", payload, as_json)


def _print_version(view: dict[str, Any]) -> None:
    pacing = view["pacing"] or {}
    tempo = f"{view['tempo']:.1f} BPM ({view['beat_source']})" if view["tempo"] else "no music"
    console.print(
        f"[bold]v{view['version']}[/] {view['status']}, {view['template']} {view['width']}x{view['height']}@{view['fps']}, "
        f"{view['total_duration']:.3f} s, {tempo}, beat sync {'on' if pacing.get('beat_sync') else 'off'}"
    )
    if view["made_by_edit"]:
        console.print(f"made by edit {view['made_by_edit']['edit_type']}: {view['made_by_edit']['payload']}")
    slowed = any(s["speed"] != 1 for s in view["shots"])
    table = Table("#", "clip", "start", "in", "out", *(["speed"] if slowed else []), "transition", "audio")
    for s in view["shots"]:
        transition = s["transition"] + (f" {s['transition_duration']:.2f}s" if s["transition_duration"] else "")
        speed = [f"{s['speed']:g}x" if s["speed"] != 1 else ""] if slowed else []
        table.add_row(str(s["index"]), str(s["clip_id"]), f"{s['start_time']:.3f}", f"{s['in_time']:.3f}",
                      f"{s['out_time']:.3f}", *speed, transition, s["audio_policy"])
    console.print(table)
