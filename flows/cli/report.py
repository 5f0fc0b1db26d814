"""`picaivid report JOB_ID -o report.html`: the Phase 1 review page as one HTML file.

Mount with `app.command("report")(report)` in flows.cli.app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.output import clear_errors, console, emit
from flows.cli.schema import ensure_schema
from flows.state import JobNotFound, as_uuid


def report(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML page.")] = Path(
        "report.html"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Phase 1 review: rooms, heroes, tiers, motion, depth and each override's effect, with pictures."""
    from tasks.analyze.report import build_report

    ensure_schema()
    with clear_errors(JobNotFound, LookupError, ValueError):
        page = build_report(as_uuid(job_id))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    emit(
        {"job_id": job_id, "report": str(output.resolve()), "bytes": len(page.encode())},
        as_json,
        lambda d: console.print(f"report written to {d['report']}"),
    )
