"""The data contract: every table and field of the design, plus what it implies.

Postgres is the system of record. Enumerated columns are VARCHAR with CHECK constraints
(`native_enum=False`), so adding a value is a plain migration and the database still refuses
values Python does not know.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from db.enums import (
    AudioPolicy,
    ClipStatus,
    ConfidenceTier,
    EditStatus,
    EditType,
    EventType,
    JobStatus,
    MotionType,
    OverlayKind,
    OverlayPosition,
    Phase,
    TimelineStatus,
    TransitionType,
)
from db.listing import (
    AGENT_KEYS,
    BRAND_KEYS,
    CAPTION_LANGUAGES,
    COLOUR_PATTERN,
    MEDIA_URI_PATTERN,
    TOP_KEYS,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING


# Templates a job may name; the database refuses others (tasks.domain.templates defines them,
# and a test keeps the two the same).
TEMPLATE_NAMES = ("standard", "social", "luxury", "square")
MAX_TARGET_LENGTH_S = 600  # ten minutes: longer is a typo, not a listing video
URI_SCHEMES_SQL = f"~ '{MEDIA_URI_PATTERN}'"
OUTPUT_FORMATS = ("16x9", "9x16", "1x1")  # tasks.domain.formats.FORMATS; a test keeps them the same


def sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def only_keys(value: str, keys: tuple[str, ...]) -> str:
    """SQL: the jsonb `value` is absent, or an object with no key outside `keys`."""
    return (f"CASE WHEN {value} IS NULL OR jsonb_typeof({value}) = 'null' THEN true WHEN jsonb_typeof({value}) <> 'object' THEN false "
            f"ELSE {value} - ARRAY[{sql_list(keys)}] = '{{}}'::jsonb END")


def matches_or_absent(path: str, pattern: str) -> str:
    return f"coalesce(listing #>> '{{{path}}}', '') ~ '{pattern}|^$'"


# What the database itself refuses in jobs.listing (db.listing checks the rest at intake).
LISTING_CHECKS = {
    "listing_shape": "listing IS NULL OR (" + " AND ".join(
        [only_keys("listing", TOP_KEYS), only_keys("(listing -> 'agent')", AGENT_KEYS),
         only_keys("(listing -> 'brand')", BRAND_KEYS)]
    ) + ")",
    "listing_media_uri": "listing IS NULL OR (" + " AND ".join(
        matches_or_absent(f"agent,{k}", MEDIA_URI_PATTERN) for k in ("logo_uri", "headshot_uri")) + ")",
    "listing_colour": "listing IS NULL OR (" + " AND ".join(
        matches_or_absent(f"brand,{k}", COLOUR_PATTERN) for k in BRAND_KEYS) + ")",
    "listing_language": f"listing IS NULL OR coalesce(listing ->> 'caption_language', 'en') IN ({sql_list(CAPTION_LANGUAGES)})",
}


def enum_type(enum: type[Enum], name: str) -> sa.Enum:
    """A CHECK-constrained VARCHAR holding the enum's values (not its member names)."""
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def created_at_field() -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def updated_at_field() -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
            onupdate=sa.func.now(),
        ),
    )


def with_default(default: Any, sql: str, **column: Any) -> Any:
    """A plain column whose default lives in the database too, so a bare INSERT gets it."""
    return Field(default=default, sa_column_kwargs={"server_default": sa.text(sql), **column})


def enum_column(enum: type[Enum], name: str, default: Enum | None = None, **column: Any) -> sa.Column:
    server_default = sa.text(f"'{default.value}'") if default is not None else None
    return sa.Column(enum_type(enum, name), nullable=False, server_default=server_default, **column)


def jsonb_field(nullable: bool = False, default: str = "{}") -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(
            JSONB, nullable=nullable, server_default=None if nullable else sa.text(f"'{default}'")
        ),
    )


def fk(target: str, ondelete: str = "CASCADE", nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
        ),
    )


class Job(SQLModel, table=True):
    """One video request. Rails inserts listing_id, target_length, music_uri (and optionally
    template_type, enable_beat_sync, bpm, beat_offset, stop_after); everything else has a
    database default or is the pipeline's to write (docs/rails.md)."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(
            f"target_length IS NULL OR (target_length > 0 AND target_length <= {MAX_TARGET_LENGTH_S})",
            name="target_length_range",
        ),
        sa.CheckConstraint(
            "template_type IN (" + ", ".join(f"'{t}'" for t in TEMPLATE_NAMES) + ")", name="template_type_known"
        ),
        sa.CheckConstraint(f"music_uri IS NULL OR music_uri {URI_SCHEMES_SQL}", name="music_uri_scheme"),
        sa.CheckConstraint("bpm IS NULL OR (bpm > 0 AND bpm <= 400)", name="bpm_range"),
        sa.CheckConstraint("beat_offset IS NULL OR beat_offset >= 0", name="beat_offset_nonnegative"),
        sa.CheckConstraint(
            f"formats IS NULL OR (cardinality(formats) > 0 AND formats <@ ARRAY[{sql_list(OUTPUT_FORMATS)}]::varchar[])",
            name="formats_known",
        ),
        *(sa.CheckConstraint(sql, name=name) for name, sql in LISTING_CHECKS.items()),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4, primary_key=True, sa_column_kwargs={"server_default": sa.text("gen_random_uuid()")}
    )
    listing_id: str | None = Field(default=None, index=True)
    status: JobStatus = Field(
        default=JobStatus.pending, sa_column=enum_column(JobStatus, "job_status", JobStatus.pending, index=True)
    )
    current_phase: Phase | None = Field(
        default=None, sa_column=sa.Column(enum_type(Phase, "job_phase"), nullable=True)
    )
    stop_after: Phase | None = Field(
        default=None, sa_column=sa.Column(enum_type(Phase, "job_stop_after"), nullable=True)
    )
    template_type: str = with_default("standard", "'standard'")
    target_length: float | None = None
    music_uri: str | None = None
    bpm: float | None = None
    beat_offset: float | None = None
    enable_beat_sync: bool = with_default(True, "true")
    listing: dict | None = Field(  # db.listing.Listing: the title's and agent card's facts
        default=None, sa_column=sa.Column(JSONB(none_as_null=True), nullable=True)
    )
    formats: list[str] | None = Field(
        default=None,
        sa_column=sa.Column(ARRAY(sa.String(8)), nullable=True),
        description="Output formats to deliver (16x9, 9x16, 1x1); null: the template's.",
    )
    final_video_uri: str | None = None
    final_video_facts: dict | None = jsonb_field(nullable=True)
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    flow_run_id: str | None = None
    gpu_seconds: float = Field(default=0.0, sa_column=sa.Column(sa.Float, nullable=False, server_default="0"))
    analysis_backends: dict = jsonb_field()
    opening_photo_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("photos.id", ondelete="SET NULL", use_alter=True), nullable=True
        ),
    )
    closing_photo_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("photos.id", ondelete="SET NULL", use_alter=True), nullable=True
        ),
    )
    created_at: datetime | None = created_at_field()
    updated_at: datetime | None = updated_at_field()


class Photo(SQLModel, table=True):
    """One uploaded photo. Rails inserts job_id and s3_uri (optionally original_filename,
    room_override, exclude, manual_metadata); a missing original_filename is the URI's last
    path segment (trigger `photos_original_filename`)."""

    __tablename__ = "photos"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "original_filename"),
        sa.CheckConstraint(f"s3_uri {URI_SCHEMES_SQL}", name="s3_uri_scheme"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: uuid.UUID = fk("jobs.id")
    s3_uri: str
    original_filename: str
    content_sha256: str | None = None
    room_label: str | None = None
    room_override: str | None = None
    exclude: bool = with_default(False, "false")
    manual_metadata: dict = jsonb_field()
    usable: bool = with_default(True, "true")
    unusable_reason: str | None = None
    quality_gate_reason: str | None = Field(
        default=None, description="Why the quality gate refused this photo; null = passed."
    )
    width: int | None = None
    height: int | None = None
    sharpness: float | None = None
    exposure_score: float | None = None
    composition_score: float | None = None
    base_score: float | None = None
    final_score: float | None = None
    room_cluster_id: int | None = fk("room_clusters.id", ondelete="SET NULL", nullable=True)
    # Phase 1's duplicate grouping: the photo kept in this one's place (quality_gate_reason says so).
    duplicate_of_photo_id: int | None = fk("photos.id", ondelete="SET NULL", nullable=True, index=False)
    depth_variance: float | None = None
    depth_layering: float | None = None
    planarity: float | None = None
    depth_uri: str | None = None
    # Phase 1's crop window per output format (tasks.analyze.framing): {"subject": [x, y],
    # "windows": {format: [x, y, w, h]}}, shares of the photo; null until analysed.
    framing: dict | None = jsonb_field(nullable=True)
    embedding: list[float] | None = Field(
        default=None, sa_column=sa.Column(ARRAY(sa.Float), nullable=True)
    )
    created_at: datetime | None = created_at_field()
    updated_at: datetime | None = updated_at_field()


class RoomCluster(SQLModel, table=True):
    """One room of one analysis. A rerun of Phase 1 deletes the clusters of the previous analysis
    that no clip cites and stamps `superseded_at` on the rest (they stay only so that superseded
    clips, which timelines may still show, keep their room); the current analysis is the job's
    clusters with `superseded_at` null, each with its analysis_results row."""

    __tablename__ = "room_clusters"

    id: int | None = Field(default=None, primary_key=True)
    job_id: uuid.UUID = fk("jobs.id")
    room_type: str
    confidence_tier: ConfidenceTier = Field(
        sa_column=sa.Column(enum_type(ConfidenceTier, "cluster_tier"), nullable=False)
    )
    sfm_eligible: bool | None = None  # null: overlap not assessed
    image_count: int
    overlap_score: float | None = None  # null: overlap not assessed
    depth_variance: float | None = None
    label_confidence: float | None = None
    superseded_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    created_at: datetime | None = created_at_field()
    updated_at: datetime | None = updated_at_field()


class AnalysisResult(SQLModel, table=True):
    __tablename__ = "analysis_results"

    id: int | None = Field(default=None, primary_key=True)
    job_id: uuid.UUID = fk("jobs.id")
    room_cluster_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("room_clusters.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    hero_photo_id: int | None = fk("photos.id", ondelete="SET NULL", nullable=True, index=False)
    recommended_motion: MotionType = Field(
        sa_column=sa.Column(enum_type(MotionType, "analysis_motion"), nullable=False)
    )
    allowed_motion_types: list[str] = Field(
        sa_column=sa.Column(ARRAY(sa.String(32)), nullable=False)
    )
    recommended_duration: float
    tier: ConfidenceTier = Field(
        sa_column=sa.Column(enum_type(ConfidenceTier, "analysis_tier"), nullable=False)
    )
    model_recommendation: str
    is_3d_eligible: bool = False
    debug_metrics: dict = jsonb_field()
    created_at: datetime | None = created_at_field()
    updated_at: datetime | None = updated_at_field()


class Clip(SQLModel, table=True):
    __tablename__ = "clips"
    __table_args__ = (
        sa.UniqueConstraint(
            "job_id", "room_cluster_id", "motion_type", "source_photo_ids", "attempt",
            name="uq_clips_natural_key",
        ),
        sa.CheckConstraint("attempt >= 0", name="attempt_nonnegative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: uuid.UUID = fk("jobs.id")
    room_cluster_id: int = fk("room_clusters.id")
    source_photo_ids: list[int] = Field(
        sa_column=sa.Column(ARRAY(sa.Integer), nullable=False)
    )
    motion_type: MotionType = Field(
        sa_column=sa.Column(enum_type(MotionType, "clip_motion"), nullable=False)
    )
    attempt: int = Field(default=0, description="Downgrade step: 0 is the plan, 1.. are safer re-renders.")
    attempts: int = Field(default=0, description="Render tries of this row (Spot retries included).")
    model_used: str | None = None
    is_3d: bool = False
    confidence_tier: ConfidenceTier = Field(
        sa_column=sa.Column(enum_type(ConfidenceTier, "clip_tier"), nullable=False)
    )
    duration: float
    fps: int = 30
    width: int = 1920
    height: int = 1080
    seed: int = 0
    s3_uri: str | None = None  # the 16:9 render
    format_uris: dict | None = jsonb_field(nullable=True)  # {format: uri}: its renders at the job's other formats
    validation_score: float | None = None
    validation_metrics: dict = jsonb_field()
    render_params: dict = jsonb_field()
    status: ClipStatus = Field(
        default=ClipStatus.pending,
        sa_column=sa.Column(enum_type(ClipStatus, "clip_status"), nullable=False, index=True),
    )
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    gpu_seconds: float = Field(default=0.0, sa_column=sa.Column(sa.Float, nullable=False, server_default="0"))
    downgraded_from_id: int | None = fk("clips.id", ondelete="SET NULL", nullable=True, index=False)
    created_at: datetime | None = created_at_field()
    updated_at: datetime | None = updated_at_field()


class Timeline(SQLModel, table=True):
    __tablename__ = "timeline"
    __table_args__ = (sa.UniqueConstraint("job_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: uuid.UUID = fk("jobs.id")
    version: int
    status: TimelineStatus = Field(
        default=TimelineStatus.draft,
        sa_column=sa.Column(enum_type(TimelineStatus, "timeline_status"), nullable=False),
    )
    beat_grid: dict = jsonb_field()
    total_duration: float
    template_type: str
    music_uri: str | None = None
    fps: int = 30
    width: int = 1920
    height: int = 1080
    rendered_uri: str | None = None
    created_at: datetime | None = created_at_field()
    updated_at: datetime | None = updated_at_field()


class TimelineClip(SQLModel, table=True):
    """One shot of a timeline version.

    Plays source seconds [in_time, out_time) of its clip at `speed`, starting at `start_time`
    on the output, so it lasts (out-in)/speed there. `transition_type`/`transition_duration`
    describe the transition *into* this shot from the previous one: a cut at `start_time`, or
    an xfade that runs from `start_time` for `transition_duration` seconds, overlapping the
    previous shot's tail. So shot i starts at
    start_time(i-1) + (out-in)(i-1)/speed(i-1) - transition_duration(i), and the timeline's
    total_duration is the last shot's start_time + its (out-in)/speed. The first shot's
    transition is always a cut.
    """

    __tablename__ = "timeline_clips"
    __table_args__ = (
        sa.UniqueConstraint("timeline_id", "order_index"),
        sa.CheckConstraint("out_time > in_time AND in_time >= 0", name="trim_valid"),
        sa.CheckConstraint("speed > 0", name="speed_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    timeline_id: int = fk("timeline.id")
    clip_id: int = fk("clips.id", ondelete="RESTRICT")
    order_index: int
    in_time: float
    out_time: float
    start_time: float = Field(default=0.0, description="Where the clip starts on the timeline.")
    transition_type: TransitionType = Field(
        default=TransitionType.cut,
        sa_column=sa.Column(enum_type(TransitionType, "transition_type"), nullable=False),
    )
    transition_duration: float = 0.0
    audio_policy: AudioPolicy = Field(
        default=AudioPolicy.music_only,
        sa_column=sa.Column(enum_type(AudioPolicy, "audio_policy"), nullable=False),
    )
    speed: float = Field(
        default=1.0,
        sa_column=sa.Column(sa.Float, nullable=False, server_default="1"),
        description="Playback speed: 1 as rendered, below 1 slowed (Phase 3 fills short footage so).",
    )


class TimelineOverlay(SQLModel, table=True):
    """One card or caption of a timeline version, drawn by Phase 4 over [start_time, end_time).

    `shot_index` is the shot it belongs to (its order_index; null for the disclosure, which
    spans the video): edits that move or drop shots carry it along, and its times are placed
    on that shot's beats. `content` holds the text (tasks.timeline.overlays defines it per
    kind); `branded_only` rows are left out of the MLS-unbranded cut; `visible` false keeps a
    row an edit turned off, so another can turn it back on.
    """

    __tablename__ = "timeline_overlays"
    __table_args__ = (
        sa.UniqueConstraint("timeline_id", "order_index"),
        sa.CheckConstraint("end_time > start_time AND start_time >= 0", name="span_valid"),
        sa.CheckConstraint("fade_duration >= 0", name="fade_nonnegative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    timeline_id: int = fk("timeline.id")
    order_index: int
    kind: OverlayKind = Field(sa_column=sa.Column(enum_type(OverlayKind, "overlay_kind"), nullable=False))
    shot_index: int | None = None
    start_time: float
    end_time: float
    fade_duration: float = 0.0
    position: OverlayPosition = Field(
        sa_column=sa.Column(enum_type(OverlayPosition, "overlay_position"), nullable=False)
    )
    content: dict = jsonb_field()
    branded_only: bool = False
    visible: bool = True


class Edit(SQLModel, table=True):
    """One editor change. Rails inserts timeline_id (the version the agent saw), edit_type,
    payload and user_id; the pipeline sets status to applied (with result_timeline_id and
    applied_at) or rejected (with reason)."""

    __tablename__ = "edits"

    id: int | None = Field(default=None, primary_key=True)
    timeline_id: int = fk("timeline.id")
    result_timeline_id: int | None = fk("timeline.id", ondelete="SET NULL", nullable=True, index=False)
    user_id: str | None = None
    edit_type: EditType = Field(
        sa_column=sa.Column(enum_type(EditType, "edit_type"), nullable=False)
    )
    payload: dict = jsonb_field()
    status: EditStatus = Field(
        default=EditStatus.pending, sa_column=enum_column(EditStatus, "edit_status", EditStatus.pending, index=True)
    )
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    applied_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))
    created_at: datetime | None = created_at_field()


class Event(SQLModel, table=True):
    """The outbox: one row per job state change, written in the state change's transaction and
    delivered to Rails afterwards (flows.publisher), at least once, in id order."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4, sa_column_kwargs={"server_default": sa.text("gen_random_uuid()"), "unique": True}
    )
    job_id: uuid.UUID = fk("jobs.id")
    type: EventType = Field(sa_column=sa.Column(enum_type(EventType, "event_type"), nullable=False))
    data: dict = jsonb_field()
    occurred_at: datetime | None = created_at_field()
    sqs_sent_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))
    webhook_sent_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    attempts: int = with_default(0, "0")
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True, index=True)
    )
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


ALL_TABLES = (
    "jobs", "photos", "room_clusters", "analysis_results", "clips", "timeline", "timeline_clips", "timeline_overlays",
    "edits", "events",
)
UPDATED_AT_TABLES = ("jobs", "photos", "room_clusters", "analysis_results", "clips", "timeline")
"""Tables whose updated_at a trigger keeps current on every UPDATE, whoever writes."""
