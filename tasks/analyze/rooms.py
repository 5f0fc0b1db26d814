"""Room grouping (which photos show the same room) and room labels (what room it is).

Grouping: average-linkage agglomerative clustering on cosine distance between the photos'
embeddings, cut at a per-backend distance. Average linkage merges two groups only when their
photos are close *on average*, so one lucky pair cannot chain two rooms together, and no room
count has to be known in advance.

Labels: with OpenCLIP weights, zero-shot classification against text prompts for every
`RoomType`. Without weights, `classical_room_evidence` applies a few hand-written rules to colour
and edge statistics of one photo. What they can see: sky over the top of the frame (exterior),
cyan water (pool), long level lines at counter height (kitchen cabinets and worktops), vertical
edges and white surfaces (bathroom), a pale block low in the frame (a made bed) and how calm the
room is. What they cannot see: objects. A white sofa reads as a bed, dark bedding as a sofa, a
pale blue wall near the ceiling as sky, a white-cabinet utility room as a kitchen; dining rooms,
offices, laundries, garages, hallways, backyards and aerials are never named. The rules were set
by looking at the shared houses photos and the sample listing, so their measured accuracy there
(bench/results/analyze.md) is a training-set number: exterior vs interior is reliable, interior
room types are a rough guess on real photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from db.enums import EXTERIOR_ROOMS, RoomType
from tasks.analyze.embeddings import CLASSICAL_BACKEND, Embedder
from tasks.media.images import check_images
from tasks.media.sky import SKY_EXTERIOR, lab_and_gradients, sky_mask

# Cosine distance at which two groups stop merging, by backend family (text before the first
# ':'). The classical value separates the views of one room from other rooms of the same house
# on the sample listing, crops of the shared houses photos and the shared depth frames (see
# bench_analyze). The OpenCLIP value is the usual same-scene margin of CLIP image embeddings
# (same room from another angle ~0.85-0.95 cosine similarity); it could not be calibrated here
# because no CLIP weights are available offline.
GROUPING_DISTANCE = {"openclip": 0.15, CLASSICAL_BACKEND: 0.13}

CLASSICAL_LABEL_BACKEND = "classical-rules"

# CLIP's trained logit scale saturates at 100; using it keeps zero-shot probabilities as sharp
# as CLIP's own evaluation whatever the loaded checkpoint stores.
ZERO_SHOT_SCALE = 100.0
PROMPT_TEMPLATES = ("a real estate photo of {}.", "a photo of {}.", "a listing photo showing {}.")
ROOM_PROMPTS: dict[RoomType, str] = {
    RoomType.front_exterior: "the front exterior of a house",
    RoomType.backyard: "the backyard of a house",
    RoomType.aerial: "an aerial drone view of a house",
    RoomType.pool: "a swimming pool",
    RoomType.living_room: "a living room",
    RoomType.kitchen: "a kitchen",
    RoomType.dining_room: "a dining room",
    RoomType.bedroom: "a bedroom",
    RoomType.bathroom: "a bathroom",
    RoomType.office: "a home office",
    RoomType.laundry: "a laundry room",
    RoomType.garage: "a garage",
    RoomType.hallway: "an entry hallway",
    RoomType.other: "a detail of a house",
}
ROOM_ORDER: tuple[RoomType, ...] = tuple(RoomType)


@dataclass(frozen=True)
class RoomLabel:
    room_type: RoomType
    confidence: float  # probability of room_type under the backend's scores, 0..1
    backend: str
    scores: dict[str, float] = field(default_factory=dict)  # every room type's probability

    @property
    def is_exterior(self) -> bool:
        return self.room_type in EXTERIOR_ROOMS


# ----------------------------------------------------------------------------- grouping


def grouping_distance(backend: str) -> float:
    family = backend.split(":", 1)[0]
    if family not in GROUPING_DISTANCE:
        raise ValueError(f"no grouping distance for embedding backend {backend!r}")
    return GROUPING_DISTANCE[family]


def group_rooms(embeddings: np.ndarray, backend: str, distance: float | None = None) -> list[int]:
    """Cluster id per photo; ids are 0.. in order of each cluster's first photo.

    `distance` overrides the backend's cut (tests, experiments).
    """
    from sklearn.cluster import AgglomerativeClustering

    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {emb.shape}")
    if len(emb) < 2:
        return [0] * len(emb)
    cut = grouping_distance(backend) if distance is None else distance
    raw = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=cut
    ).fit_predict(emb)
    first_seen: dict[int, int] = {}
    return [first_seen.setdefault(int(c), len(first_seen)) for c in raw]


# ----------------------------------------------------------------------------- labelling


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _label(probs: np.ndarray, backend: str) -> RoomLabel:
    best = int(np.argmax(probs))
    return RoomLabel(
        room_type=ROOM_ORDER[best],
        confidence=float(probs[best]),
        backend=backend,
        scores={room.value: round(float(p), 4) for room, p in zip(ROOM_ORDER, probs)},
    )


def zero_shot_probabilities(image_embeddings: np.ndarray, text_embeddings: np.ndarray) -> np.ndarray:
    """(N, rooms) probabilities: each room's prompt embeddings averaged over the templates."""
    per_room = text_embeddings.reshape(len(ROOM_ORDER), len(PROMPT_TEMPLATES), -1).mean(axis=1)
    per_room /= np.maximum(np.linalg.norm(per_room, axis=1, keepdims=True), 1e-12)
    return _softmax(ZERO_SHOT_SCALE * image_embeddings @ per_room.T)


def room_prompts() -> list[str]:
    """Prompts in ROOM_ORDER-major, template-minor order (what zero_shot_probabilities expects)."""
    return [t.format(ROOM_PROMPTS[room]) for room in ROOM_ORDER for t in PROMPT_TEMPLATES]


def label_rooms(
    embedder: Embedder, images: Sequence[np.ndarray], embeddings: np.ndarray | None = None
) -> list[RoomLabel]:
    """A RoomLabel per photo: zero-shot when the embedder has text, else the classical rules.

    Pass the embeddings already computed for grouping to avoid a second image pass.
    """
    text = embedder.text_embed(room_prompts())
    if text is None:
        check_images(images)
        return [_label(classical_room_probabilities(im), CLASSICAL_LABEL_BACKEND) for im in images]
    if embeddings is None:
        embeddings = embedder.embed(images)
    probs = zero_shot_probabilities(np.asarray(embeddings, np.float32), text)
    return [_label(p, f"{embedder.backend}:zero-shot") for p in probs]


def _probabilities(label: RoomLabel) -> list[float]:
    """A label's probability per room type; one without scores counts only its own type."""
    scores = label.scores or {label.room_type.value: label.confidence}
    return [scores.get(room.value, 0.0) for room in ROOM_ORDER]


def label_clusters(labels: Sequence[RoomLabel], clusters: Sequence[int]) -> dict[int, RoomLabel]:
    """One label per cluster: the room type with the highest mean probability over its photos."""
    if len(labels) != len(clusters):
        raise ValueError(f"{len(labels)} labels for {len(clusters)} cluster ids")
    out: dict[int, RoomLabel] = {}
    for cluster in sorted(set(clusters)):
        members = [lab for lab, c in zip(labels, clusters) if c == cluster]
        probs = np.array([_probabilities(m) for m in members]).mean(axis=0)
        out[cluster] = _label(probs, members[0].backend)
    return out


# ----------------------------------------------------------------------------- classical rules

_CUE_SIZE = (160, 120)  # (w, h) the rules look at
_EDGE = 0.25  # gradient magnitude (of L*/100 per pixel, Sobel) that counts as an edge
# Counter height in a listing photo (camera ~1.5 m up, level): the rows from 35 % to 80 % of the
# frame's height. A row is a line across the room when a quarter of its pixels are level edges.
_COUNTER_BAND, _LINE_SPAN = (0.35, 0.8), 0.25


def classical_cues(image: np.ndarray) -> dict[str, float]:
    """The handful of measurements the rules use, each 0..1 and named for what it detects."""
    small = cv2.resize(image, _CUE_SIZE, interpolation=cv2.INTER_AREA)
    lab, gx, gy = lab_and_gradients(small)
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    magnitude = np.hypot(gx, gy)
    edges = magnitude > _EDGE
    steep = np.arctan2(np.abs(gy), np.abs(gx)) < np.deg2rad(20)  # gradient across x: a vertical line
    level = edges & (np.arctan2(np.abs(gx), np.abs(gy)) < np.deg2rad(15))  # gradient across y: a level line
    h, w = small.shape[:2]
    top, mid, low = slice(0, h // 3), slice(h // 3, 2 * h // 3), slice(2 * h // 3, h)
    counter = slice(int(_COUNTER_BAND[0] * h), int(_COUNTER_BAND[1] * h))
    low_centre = (slice(h // 2, h), slice(w // 5, w - w // 5))
    sky = sky_mask(small)
    water = (a < -8) & (b < -8) & (lum > 35)  # pool cyan: both green-ward and blue-ward
    chroma = np.hypot(a, b)
    return {
        "sky_top": float(sky[top].mean()),
        "vegetation": float(((a < -8) & (b > 8)).mean()),
        "water_low": float(water[low].mean()),
        "edges_mid": float(edges[mid].mean()),
        "vertical_share": float(steep[edges].mean()) if edges.any() else 0.0,
        "smooth_low": float((magnitude[low] < _EDGE / 2).mean()),
        "white": float(((lum > 70) & (chroma < 10)).mean()),
        "counter_lines": float((level[counter].mean(axis=1) > _LINE_SPAN).mean()),
        "pale_low": float(((lum > 65) & (chroma < 12))[low_centre].mean()),
    }


def classical_room_evidence(cues: dict[str, float]) -> dict[RoomType, float]:
    """Hand-set log-odds per room type. Each line is one rule of thumb:

    - exterior: sky over the top third (plus vegetation); interiors get the opposite.
    - pool: an exterior with cyan water in the lower third.
    - kitchen: a busy middle band and long level lines across the frame at counter height
      (worktop edges, rows of cabinet doors and drawers, splashback courses). Facades have long
      level lines too, so the line cue fades out as sky appears.
    - bathroom: vertical edges (mirrors, glass, vanities) and white fixtures and tiles.
    - bedroom: a calm room (smooth low in the frame, a quiet middle band) with a pale block in
      the lower centre that is not part of an all-white room: the made bed.
    - living room: a calm room without that pale block (a sofa is upholstered in colour).
    Room types these cues cannot see (backyard, aerial, dining room, office, laundry, garage,
    hallway) are never chosen: guessing them would only look like knowledge. A bedroom with
    dark bedding reads as a living room, a living room with a white sofa as a bedroom.
    """
    outdoors = 12.0 * (cues["sky_top"] - SKY_EXTERIOR) + 4.0 * cues["vegetation"]
    indoors = -outdoors
    no_sky = float(np.clip(2.0 * (1.0 - cues["sky_top"] / SKY_EXTERIOR), 0.0, 1.0))
    calm = 4.0 * (cues["smooth_low"] - 0.5) - 4.0 * (cues["edges_mid"] - 0.45)
    bed = 8.0 * (cues["pale_low"] - cues["white"] - 0.06)
    never = -1e9
    evidence = {room: never for room in ROOM_ORDER}
    evidence[RoomType.front_exterior] = outdoors
    evidence[RoomType.pool] = outdoors + 30.0 * (cues["water_low"] - 0.15)
    evidence[RoomType.kitchen] = (
        indoors + 8.0 * (cues["edges_mid"] - 0.45) + 20.0 * no_sky * (cues["counter_lines"] - 0.1)
    )
    evidence[RoomType.bathroom] = indoors + 10.0 * (cues["vertical_share"] - 0.38) + 5.0 * cues["white"]
    evidence[RoomType.bedroom] = indoors + calm + bed
    evidence[RoomType.living_room] = indoors + calm - bed - 0.5
    evidence[RoomType.other] = -3.0  # a photo no rule claims
    return evidence


def classical_room_probabilities(image: np.ndarray) -> np.ndarray:
    evidence = classical_room_evidence(classical_cues(image))
    return _softmax(np.array([evidence[room] for room in ROOM_ORDER], dtype=np.float64))
