"""`edit-video`: an agent's edits, as Rails inserted them, become a new version and video.

Rails inserts `edits` rows (pending) and sends {"job_id", "action": "edit"}; the relay starts
this flow. It holds the job (flows.job_lock: it waits while the video is still being made),
applies every pending edit onto the newest timeline version as one new version, and re-runs
only Phase 4. When nothing could be applied, the previous video stays as it was.
"""

from __future__ import annotations

from prefect import flow

from flows.job_lock import job_lock
from flows.logs import send_logs_to_prefect
from flows.naming import name_from_parameters, tagged_as
from flows.parameters import JobId
from flows.phases import assemble, run_owner
from flows.state import load_job
from tasks.settings import get_settings
from tasks.timeline.edits import apply_pending_edits


@flow(name="edit-video", flow_run_name=name_from_parameters)
def edit_video(job_id: JobId) -> dict:
    """Apply the job's pending edits (one new timeline version) and render it (Phase 4 only).

    Args:
        job_id: The job's id (jobs.id).
    """
    send_logs_to_prefect()
    job = load_job(job_id)
    with tagged_as(job), job_lock(job.id, run_owner("edit-video"), get_settings().job_lock_wait_s):
        batch = apply_pending_edits(job.id)
        result = {"job_id": str(job.id), "applied": batch.applied, "rejected": batch.rejected,
                  "version": batch.version, "assembled": None}
        if batch.version is not None:
            result["assembled"] = assemble(job.id, timeline_version=batch.version)
    return result
