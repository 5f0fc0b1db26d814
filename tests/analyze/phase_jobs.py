"""Jobs for the Phase 1 tests: the sample listing (made once per process) put into a real store
and real PostgreSQL, photo by photo, so each test can add its own broken or flagged photos."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from db.models import Job, Photo
from db.session import session_scope
from tasks.storage import get_store, keys, sha256_bytes


@lru_cache(maxsize=1)
def sample_listing():
    """The procedural sample house (seed 0), rendered once; its files are only ever read."""
    from flows.dev.sample_listing import make_listing

    return make_listing(Path(tempfile.mkdtemp(prefix="picaivid-listing-")), seed=0, music_seconds=2.0)


@dataclass
class JobPhoto:
    name: str
    data: bytes
    metadata: dict | None = None
    room_override: str | None = None
    exclude: bool = False


def create_job(photos: list[JobPhoto], template: str = "standard") -> uuid.UUID:
    """A job row and its photo rows, the photos' bytes in the configured store."""
    store = get_store()
    job_id = uuid.uuid4()
    with session_scope() as s:
        s.add(Job(id=job_id, template_type=template))
        s.flush()
        for p in photos:
            uri = store.put_bytes(keys.photo(job_id, sha256_bytes(p.data), p.name), p.data)
            s.add(
                Photo(
                    job_id=job_id,
                    s3_uri=uri,
                    original_filename=p.name,
                    manual_metadata=p.metadata or {},
                    room_override=p.room_override,
                    exclude=p.exclude,
                )
            )
    return job_id


def listing_photos(
    listing, overrides: dict[str, dict] | None = None, only: list[str] | None = None
) -> list[JobPhoto]:
    overrides = overrides or {}
    return [
        JobPhoto(p.path.name, Path(p.path).read_bytes(), overrides.get(p.path.name))
        for p in listing.photos
        if only is None or p.path.stem in only
    ]
