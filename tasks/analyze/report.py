"""The Phase 1 review page: one self-contained HTML file for the design's "Manual Testing For
Phase 1" (room grouping, hero selection, confidence tiers, recommended motion, override effects).

Everything shown comes from Postgres and the artifact store, i.e. what later phases will read;
pictures are inlined as base64, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import uuid
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from sqlmodel import select

from db.models import AnalysisResult, Job, Photo, RoomCluster
from db.session import session_scope
from tasks.analyze.scoring import HERO_PRIORITY_BONUS, manual_bonus
from tasks.depth.storage import decode_depth_png
from tasks.domain.manual_flags import active_flags, effective_flags
from tasks.domain.photos import why_unusable
from tasks.media.images import UnusablePhoto, decode_photo
from tasks.storage import ArtifactNotFound, ArtifactStore, get_store
from tasks.uri_policy import RefusedInput

THUMB_SIDE = 240


@dataclass
class ReportData:
    job: Job
    photos: dict[int, Photo]
    rooms: list[tuple[RoomCluster, AnalysisResult]]
    thumbs: dict[int, str] = field(default_factory=dict)  # photo id -> data URI
    depth_thumbs: dict[int, str] = field(default_factory=dict)


def load_report_data(job_id: uuid.UUID, store: ArtifactStore | None = None) -> ReportData:
    """The current analysis of the job (clusters that have an analysis_results row) and pictures."""
    store = store or get_store()
    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise LookupError(f"no job with id {job_id}")
        photos = {p.id: p for p in s.exec(select(Photo).where(Photo.job_id == job_id).order_by(Photo.id))}
        rooms = list(
            s.exec(
                select(RoomCluster, AnalysisResult)
                .join(AnalysisResult, AnalysisResult.room_cluster_id == RoomCluster.id)
                .where(RoomCluster.job_id == job_id)
                .order_by(RoomCluster.id)
            ).all()
        )
    data = ReportData(job, photos, rooms)
    for pid, photo in photos.items():
        data.thumbs[pid] = _photo_thumb(store, photo.s3_uri)
        if photo.depth_uri:
            data.depth_thumbs[pid] = _depth_thumb(store, photo.depth_uri)
    return data


def _data_uri(image_bgr: np.ndarray) -> str:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 82])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def _photo_thumb(store: ArtifactStore, uri: str) -> str:
    try:
        rgb = decode_photo(store.get_bytes(uri), THUMB_SIDE).pixels
    except (UnusablePhoto, ArtifactNotFound, RefusedInput):
        return ""
    return _data_uri(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _depth_thumb(store: ArtifactStore, uri: str) -> str:
    """Depth as a colour map, near warm and far cool (the 16-bit PNG holds 0 near .. 1 far)."""
    try:
        depth = decode_depth_png(store.get_bytes(uri))
    except (ArtifactNotFound, OSError):
        return ""
    h, w = depth.shape[:2]
    scale = THUMB_SIDE / max(h, w)
    small = cv2.resize(
        depth, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    near_bright = np.rint((1.0 - np.clip(small, 0, 1)) * 255).astype(np.uint8)
    return _data_uri(cv2.applyColorMap(near_bright, cv2.COLORMAP_INFERNO))


# ----------------------------------------------------------------------------- override effects


def override_effects(photo: Photo, data: ReportData, hero_rule_by_photo: dict[int, str]) -> list[str]:
    """What each of the photo's manual flags did, in words, from the stored analysis."""
    flags = effective_flags(
        photo.manual_metadata, photo.room_override, photo.exclude, photo=photo.original_filename
    )
    active = active_flags(flags)
    active.pop("notes", None)
    active.pop("detail_hint", None)
    if not active:
        return []
    if flags.exclude:
        return [f"exclude: manual bonus {manual_bonus(flags):+.2f}, removed from every choice"]
    if not photo.usable:
        return [f"{', '.join(active)}: no effect, the photo is unusable ({photo.unusable_reason})"]
    if photo.quality_gate_reason:
        return [f"{', '.join(active)}: no effect, refused by the quality gate ({photo.quality_gate_reason})"]
    job, pid = data.job, photo.id
    bonus = manual_bonus(flags)
    effects = [f"manual bonus {bonus:+.2f} (final {photo.final_score:.3f})"] if bonus else []
    picks = {"opening": job.opening_photo_id, "closing": job.closing_photo_id}
    for flag, role in (
        ("preferred_opening", "opening"),
        ("preferred_closing", "closing"),
        ("hero_global", None),
    ):
        if not active.get(flag):
            continue
        roles = [r for r, chosen in picks.items() if chosen == pid and (role is None or r == role)]
        wanted = [role] if role else ["opening", "closing"]
        if roles:
            effects.append(f"{flag}: chosen as {' and '.join(roles)}")
        else:
            effects.append(
                f"{flag}: not the {' or '.join(wanted)} (photo {' / '.join(str(picks[w]) for w in wanted)} won)"
            )
    if active.get("hero_room"):
        rule = hero_rule_by_photo.get(pid)
        effects.append("hero_room: hero of its room" if rule else "hero_room: another photo leads its room")
    if active.get("hero_priority"):
        effects.append(
            f"hero_priority {flags.hero_priority}: +{HERO_PRIORITY_BONUS * flags.hero_priority:.2f} to final score"
        )
    return effects


# ----------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;background:#f6f6f4;color:#222}
h1{margin:0 0 4px}h2{margin:28px 0 8px}.muted{color:#666;font-size:13px}
.room{background:#fff;border-radius:10px;padding:14px 16px;margin:14px 0;box-shadow:0 1px 3px #0002}
.tier{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.tier-low{background:#b7791f}.tier-medium{background:#2b6cb0}.tier-high{background:#2f855a}
.chip{display:inline-block;border:1px solid #bbb;border-radius:10px;padding:1px 8px;margin:2px;font-size:12px}
.chip.rec{background:#222;color:#fff;border-color:#222}
.photos{display:flex;flex-wrap:wrap;gap:12px;margin-top:10px}
.photo{width:250px;font-size:12px;border:3px solid transparent;border-radius:8px;padding:4px;background:#fafafa}
.photo.hero{border-color:#d69e2e}.photo img{width:100%;display:block;border-radius:4px}
.pair{display:flex;gap:4px}.pair img{width:50%}
.badge{display:inline-block;background:#d69e2e;color:#fff;font-weight:700;padding:0 6px;
 border-radius:6px;font-size:11px}
.badge.open{background:#2f855a}.badge.close{background:#6b46c1}
table.scores{border-collapse:collapse;width:100%;margin-top:4px}table.scores td{padding:1px 3px}
.why{font-size:12px;margin:2px 0;color:#333}.effect{color:#2c5282}.bad{color:#c53030}
.picks{display:flex;gap:16px}.picks .photo{width:320px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _img(uri: str, alt: str) -> str:
    return (
        f'<img src="{uri}" alt="{_e(alt)}">' if uri else f'<div class="muted">[{_e(alt)}: no picture]</div>'
    )


def _score_table(photo: Photo, bonus: float) -> str:
    rows = [
        ("sharpness", photo.sharpness),
        ("exposure", photo.exposure_score),
        ("composition", photo.composition_score),
        ("base", photo.base_score),
    ]
    cells = "".join(
        f"<tr><td>{name}</td><td>{value:.3f}</td></tr>" for name, value in rows if value is not None
    )
    if photo.final_score is not None:
        cells += (
            f"<tr><td>bonus</td><td>{bonus:+.2f}</td></tr>"
            f"<tr><td><b>final</b></td><td><b>{photo.final_score:.3f}</b></td></tr>"
        )
    return f'<table class="scores">{cells}</table>'


def _photo_card(photo: Photo, data: ReportData, *, hero: bool, effects: list[str], depth: bool = True) -> str:
    flags = effective_flags(
        photo.manual_metadata, photo.room_override, photo.exclude, photo=photo.original_filename
    )
    badges = ""
    if hero:
        badges += '<span class="badge">HERO</span> '
    if data.job.opening_photo_id == photo.id:
        badges += '<span class="badge open">OPENING</span> '
    if data.job.closing_photo_id == photo.id:
        badges += '<span class="badge close">CLOSING</span> '
    pictures = _img(data.thumbs.get(photo.id, ""), photo.original_filename)
    if depth and photo.id in data.depth_thumbs:
        pictures = f'<div class="pair">{pictures}{_img(data.depth_thumbs[photo.id], "depth")}</div>'
    shown = {k: v for k, v in active_flags(flags).items()}
    flag_line = f'<div class="why">flags: {_e(shown)}</div>' if shown else ""
    effect_lines = "".join(f'<div class="why effect">{_e(x)}</div>' for x in effects)
    return (
        f'<div class="photo{" hero" if hero else ""}">{pictures}<div>{badges}<b>{_e(photo.original_filename)}</b> '
        f'<span class="muted">#{photo.id}</span></div>{_score_table(photo, manual_bonus(flags))}'
        f"{flag_line}{effect_lines}</div>"
    )


def _room_section(
    cluster: RoomCluster, result: AnalysisResult, data: ReportData, effects: dict[int, list[str]]
) -> str:
    d = result.debug_metrics
    room = d.get("room", {})
    model = room.get("model_label")
    source = f"{_e(room.get('source'))}, confidence {cluster.label_confidence or 0:.2f}"
    label_line = f"{_e(cluster.room_type)} <span class='muted'>({source}"
    if model and model["room_type"] != cluster.room_type:
        label_line += f"; model said {_e(model['room_type'])} {model['confidence']:.2f}"
    label_line += ")</span>"
    overlap = (
        f"overlap {cluster.overlap_score:.2f}, SfM {'eligible' if cluster.sfm_eligible else 'not eligible'}"
        if cluster.overlap_score is not None
        else "overlap not assessed"
    )
    chips = "".join(
        f'<span class="chip{" rec" if m == result.recommended_motion.value else ""}">{_e(m)}</span>'
        for m in result.allowed_motion_types
    )
    reasons = [
        ("tier", d.get("tier", {}).get("reason")),
        ("motion", d.get("recommended_motion", {}).get("reason")),
        ("hero", d.get("hero", {}).get("reason")),
        ("3D", d.get("is_3d_eligible", {}).get("reason")),
    ]
    reasons += [("room", note) for note in room.get("notes", [])]
    reasons += [(key, d[key]["reason"]) for key in ("opening", "closing") if key in d]
    why = "".join(f'<div class="why"><b>{_e(k)}:</b> {_e(v)}</div>' for k, v in reasons if v)
    order = d.get("source_photo_ids") or [m["photo_id"] for m in d.get("members", [])]
    cards = "".join(
        _photo_card(data.photos[pid], data, hero=pid == result.hero_photo_id, effects=effects.get(pid, []))
        for pid in order
        if pid in data.photos
    )
    return (
        f'<div class="room"><h3>{label_line} '
        f'<span class="tier tier-{result.tier.value}">{result.tier.value}</span></h3>'
        f'<div class="muted">{cluster.image_count} photos · '
        f"depth variance {cluster.depth_variance or 0:.4f} · {overlap} · "
        f"3D {'eligible' if result.is_3d_eligible else 'not eligible'} · {result.recommended_duration:.1f} s · "
        f"{_e(result.model_recommendation)}</div><div>allowed motion: {chips}</div>{why}"
        f'<div class="photos">{cards}</div></div>'
    )


def render_report(data: ReportData) -> str:
    job = data.job
    hero_rule = {r.hero_photo_id: r.debug_metrics.get("hero", {}).get("rule", "") for _, r in data.rooms}
    effects: dict[int, list[str]] = {}
    for _, result in data.rooms:
        for member in result.debug_metrics.get("members", []):
            if member.get("room_override_effect"):
                effects.setdefault(member["photo_id"], []).append(member["room_override_effect"])
    for pid, photo in data.photos.items():
        effects.setdefault(pid, []).extend(override_effects(photo, data, hero_rule))

    picks = ""
    for role, pid in (("Opening", job.opening_photo_id), ("Closing", job.closing_photo_id)):
        if pid in data.photos:
            reason = next(
                (
                    r.debug_metrics[role.lower()]["reason"]
                    for _, r in data.rooms
                    if role.lower() in r.debug_metrics
                ),
                "",
            )
            card = _photo_card(data.photos[pid], data, hero=False, effects=[reason], depth=False)
            picks += f"<div><h3>{role}</h3>{card}</div>"
    rooms = "".join(_room_section(c, r, data, effects) for c, r in data.rooms)
    clustered = {pid for _, r in data.rooms for pid in (r.debug_metrics.get("source_photo_ids") or [])}
    unused = [p for pid, p in data.photos.items() if pid not in clustered]
    unused_cards = ""
    for p in unused:
        # A flagged photo's effects already say why it was not used.
        why = why_unusable(p) or "not analysed"
        notes = effects.get(p.id) or [f"not used: {why}"]
        unused_cards += _photo_card(p, data, hero=False, effects=notes, depth=False)
    backends = ", ".join(f"{k}: {v}" for k, v in (job.analysis_backends or {}).items())
    body = (
        f"<h1>Phase 1 review</h1><div class='muted'>job {_e(job.id)} · listing {_e(job.listing_id or '-')} · "
        f"template {_e(job.template_type)} · status {_e(job.status.value)} · {len(data.photos)} photos, "
        f"{len(data.rooms)} rooms</div><div class='muted'>backends: {_e(backends or 'not analysed yet')}</div>"
        f"<h2>Opening and closing</h2><div class='picks'>{picks or '<p>none chosen yet</p>'}</div>"
        f"<h2>Rooms</h2>{rooms or '<p>No analysis yet: run Phase 1 first.</p>'}"
        + (f"<h2>Not used</h2><div class='photos'>{unused_cards}</div>" if unused else "")
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Phase 1 review {_e(job.id)}</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>"
    )


def build_report(job_id: uuid.UUID) -> str:
    return render_report(load_report_data(job_id))
