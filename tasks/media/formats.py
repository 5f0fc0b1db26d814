"""Which uploads are photos we read, and a one-line reason for the media we do not.

Agents upload what their phones and cameras make: JPEG, HEIC/HEIF (iPhones), PNG, WebP, TIFF,
and also RAW files, screen recordings, videos and animated GIFs. The first kind is decoded by
Pillow (HEIF through pillow-heif); the second still becomes a photo row, refused with a reason
an agent can act on, never skipped without a word. RAW and video are recognised by their name
and, where the name lies or is missing (the Rails path stores any key), by their first bytes.
"""

from __future__ import annotations

from pathlib import PurePosixPath

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".hif"}
)
RAW_SUFFIXES = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
     ".pef", ".srw", ".raw", ".3fr", ".erf", ".kdc", ".mrw", ".x3f", ".iiq"}
)
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".3gp", ".mts", ".m2ts", ".wmv", ".hevc", ".mpg", ".mpeg"}
)
MEDIA_SUFFIXES = PHOTO_SUFFIXES | RAW_SUFFIXES | VIDEO_SUFFIXES
"""Files intake turns into photo rows: the ones we read and the ones we refuse with a reason."""

# ISO-BMFF brands (bytes 8..12 after "ftyp") that hold a still image; any other is a movie.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"})
_RAW_BRANDS = frozenset({b"crx "})  # Canon CR3
_RAW_ADVICE = "export it as JPEG or HEIC and upload that"
_VIDEO_ADVICE = "upload still photos; a video clip is not used as a listing photo"


def refusal(data: bytes, name: str | None) -> str | None:
    """Why these bytes are media we do not read as a photo (RAW, video), or None to try decoding."""
    suffix = PurePosixPath(name or "").suffix.lower()
    if suffix in RAW_SUFFIXES:
        return f"camera RAW file ({suffix}) is not read: {_RAW_ADVICE}"
    if suffix in VIDEO_SUFFIXES:
        return f"video file ({suffix}) is not a photo: {_VIDEO_ADVICE}"
    kind = sniff(data)
    if kind == "raw":
        return f"camera RAW file is not read: {_RAW_ADVICE}"
    if kind == "video":
        return f"video file is not a photo: {_VIDEO_ADVICE}"
    return None


def sniff(data: bytes) -> str | None:
    """'video' or 'raw' from a container's first bytes; None for anything else."""
    head = data[:16]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _RAW_BRANDS:
            return "raw"
        return None if brand in _IMAGE_BRANDS else "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):  # MPEG program / video stream
        return "video"
    if head.startswith(b"FUJIFILMCCD-RAW") or (head.startswith(b"II*\x00") and head[8:10] == b"CR"):  # RAF, CR2
        return "raw"
    return None
