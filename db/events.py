"""The events outbox: what Rails hears, written in the same transaction as the change it reports.

A state change and its event commit together or not at all, so a process that dies after the
commit loses nothing: the publisher (flows.publisher) delivers whatever is still unsent.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from db.contract import check
from db.enums import EventType
from db.models import Event, Job


def wire(event: Event, listing_id: str | None) -> dict[str, Any]:
    """The event as Rails receives it (event.schema.json)."""
    occurred = event.occurred_at or datetime.now(UTC)
    return {
        "event_id": str(event.event_id),
        "job_id": str(event.job_id),
        "type": EventType(event.type).value,
        "occurred_at": occurred.isoformat(),
        "listing_id": listing_id,
        "data": event.data,
    }


def record_event(session: Session, job: Job, kind: EventType, data: dict[str, Any]) -> Event:
    """Add one event to the caller's transaction; a shape the schema refuses is a bug, so it raises."""
    event = Event(event_id=uuid.uuid4(), job_id=job.id, type=kind, data=data)
    check("event", wire(event, job.listing_id))
    session.add(event)
    return event


def completed_data(job: Job) -> dict[str, Any]:
    """What Rails needs to fetch and show the final video."""
    facts = job.final_video_facts or {}
    fmt = facts.get("format", "16x9")
    deliveries = facts.get("deliveries") or {}

    def per_format(cut: str, what: str) -> dict[str, str] | None:
        return {name: d[cut][what] for name, d in deliveries.items() if d.get(cut, {}).get(what)} or None

    data = {
        "final_video_uri": job.final_video_uri,
        "duration": facts.get("duration"),
        "format": fmt,
        "formats": per_format("branded", "video") or {fmt: job.final_video_uri},
        "width": facts.get("width"),
        "height": facts.get("height"),
        "fps": facts.get("fps"),
        "timeline_version": facts.get("timeline_version"),
        "unbranded_video_uri": facts.get("unbranded_video_uri"),
        "unbranded_formats": per_format("unbranded", "video"),
        "poster_uri": facts.get("poster_uri"),
        "posters": per_format("branded", "poster"),
        "unbranded_posters": per_format("unbranded", "poster"),
        "captions": (facts.get("captions") or {}).get("branded"),
        "unbranded_captions": (facts.get("captions") or {}).get("unbranded"),
        "generated_motion": (facts.get("generated_motion") or {}).get("any"),
    }
    return {k: v for k, v in data.items() if v is not None}


def job_events(session: Session, job_id: uuid.UUID) -> list[dict[str, Any]]:
    """A job's events, oldest first, as sent, with where each has been delivered."""
    rows = session.exec(
        select(Event, Job.listing_id).join(Job, Job.id == Event.job_id).where(Event.job_id == job_id).order_by(Event.id)
    ).all()
    return [
        {**wire(event, listing_id), "sqs_sent_at": event.sqs_sent_at, "webhook_sent_at": event.webhook_sent_at,
         "attempts": event.attempts, "last_error": event.last_error}
        for event, listing_id in rows
    ]
