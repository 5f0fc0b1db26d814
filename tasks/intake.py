"""Job intake: a folder of photos (plus optional overrides and music) becomes a job.

Binaries go to the artifact store first, then the job and photo rows are written in one
transaction, so a failed intake leaves no half-made job behind.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import ValidationError

from db.listing import ListingError, parse_listing
from db.manual_metadata import ManualMetadata
from db.models import Job, Photo
from db.session import session_scope
from db.validation import one_line
from tasks.media.formats import MEDIA_SUFFIXES, PHOTO_SUFFIXES
from tasks.storage import get_store, keys, sha256_file

log = structlog.get_logger(__name__)

MAX_OVERRIDES_BYTES = 1024 * 1024  # a few hundred bytes per photo, for listings of hundreds of photos
MUSIC_SUFFIXES = frozenset({".mp3", ".wav", ".ogg", ".oga", ".flac", ".m4a", ".aac"})


class IntakeError(ValueError):
    """The request cannot become a job; nothing was written."""


@dataclass(frozen=True)
class JobRequest:
    photos_dir: Path
    metadata_path: Path | None = None
    music_path: Path | None = None
    template: str = "standard"
    target_length: float | None = None
    enable_beat_sync: bool = True
    listing_id: str | None = None
    listing: dict | None = None  # jobs.listing: the title's and agent card's facts (db.listing)
    formats: tuple[str, ...] | None = None  # output formats; None: the template's


def list_photos(photos_dir: Path) -> list[Path]:
    """The folder's photos and the media agents upload in their place (RAW, video), sorted by name.

    Each becomes a photo row: Phase 1 reads the photos and refuses the rest with a reason, so
    nothing an agent uploaded disappears without a word. Other files (notes, spreadsheets) are
    not media and are only logged.
    """
    if not photos_dir.is_dir():
        raise IntakeError(f"photo folder not found: {photos_dir}")
    files = sorted(p for p in photos_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    media = [p for p in files if p.suffix.lower() in MEDIA_SUFFIXES]
    if not any(p.suffix.lower() in PHOTO_SUFFIXES for p in media):
        raise IntakeError(f"no images in {photos_dir} (looked for {', '.join(sorted(PHOTO_SUFFIXES))})")
    ignored = [p.name for p in files if p not in media]
    if ignored:
        log.warning("intake.not_media", folder=str(photos_dir), files=ignored)
    return media


def load_overrides(path: Path | None, photo_names: list[str]) -> dict[str, ManualMetadata]:
    """Read overrides.json: {file name: manual metadata}. Typos are errors, not silent no-ops."""
    if path is None:
        return {}
    if not path.is_file():
        raise IntakeError(f"metadata file not found: {path}")
    if path.stat().st_size > MAX_OVERRIDES_BYTES:
        raise IntakeError(f"{path} is {path.stat().st_size:,} bytes; overrides are at most {MAX_OVERRIDES_BYTES:,}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise IntakeError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise IntakeError(f"{path} must map photo file names to metadata objects")
    unknown = sorted(set(raw) - set(photo_names))
    if unknown:
        raise IntakeError(f"{path} names photos that are not in the folder: {', '.join(unknown)}")
    overrides = {}
    for name, value in raw.items():
        try:
            overrides[name] = ManualMetadata.model_validate(value)
        except ValidationError as err:
            raise IntakeError(one_line(err, f"{path}: {name}")) from None
    return overrides


def validate_template(name: str) -> None:
    from tasks.domain.templates import TEMPLATES

    if name not in TEMPLATES:
        raise IntakeError(f"unknown template {name!r}; expected one of {', '.join(sorted(TEMPLATES))}")


def validate_formats(formats: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The formats asked for, `all` expanded to every one (tasks.domain.formats)."""
    from tasks.domain.formats import ALL, FORMATS, expand

    unknown = [f for f in formats or () if f not in FORMATS and f != ALL]
    if unknown or formats == ():
        raise IntakeError(f"unknown output format {', '.join(unknown) or '(none given)'}; expected some of "
                          f"{', '.join(FORMATS)} (or {ALL})")
    return expand(formats) if formats else None


def create_job(request: JobRequest) -> Job:
    photos = list_photos(request.photos_dir)
    names = [p.name for p in photos]
    overrides = load_overrides(request.metadata_path, names)
    validate_template(request.template)
    if request.music_path is not None:
        if not request.music_path.is_file():
            raise IntakeError(f"music file not found: {request.music_path}")
        if request.music_path.suffix.lower() not in MUSIC_SUFFIXES:
            raise IntakeError(f"unsupported music format {request.music_path.suffix}: use one of {', '.join(sorted(MUSIC_SUFFIXES))}")
    if request.target_length is not None and request.target_length <= 0:
        raise IntakeError("target length must be positive")
    try:
        parse_listing(request.listing)
    except ListingError as err:
        raise IntakeError(str(err)) from None
    formats = validate_formats(request.formats)

    job_id = uuid.uuid4()
    store = get_store()
    bound = log.bind(job_id=str(job_id))
    music_uri = None
    if request.music_path is not None:
        music_uri = store.put_file(keys.music(job_id, request.music_path.name), request.music_path)
    rows = []
    for path in photos:
        meta = overrides.get(path.name, ManualMetadata())
        digest = sha256_file(path)
        uri = store.put_file(keys.photo(job_id, digest, path.name), path)
        rows.append(
            Photo(
                job_id=job_id, s3_uri=uri, original_filename=path.name,
                content_sha256=digest,
                manual_metadata=meta.model_dump(mode="json", exclude_defaults=True),
                room_override=meta.room_override.value if meta.room_override else None,
                exclude=meta.exclude,
            )
        )
    job = Job(
        id=job_id, listing_id=request.listing_id, template_type=request.template,
        target_length=request.target_length, music_uri=music_uri,
        enable_beat_sync=request.enable_beat_sync, listing=request.listing,
        formats=list(formats) if formats else None,
    )
    with session_scope() as session:
        session.add(job)
        session.flush()
        session.add_all(rows)
    bound.info("job.created", photos=len(rows), music=bool(music_uri))
    return job
