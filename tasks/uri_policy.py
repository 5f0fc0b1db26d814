"""Which URIs a worker may read: photo and music URIs are data another system wrote.

A row may name `file:///etc/passwd`, `http://169.254.169.254/…` or a key in any bucket the
worker's credentials reach; none of them is read. Allowed are the prefixes in
`PICAIVID_ALLOWED_INPUT_PREFIXES` (unset: the artifact store's own bucket, or its folder in
local mode) and always the store's own prefix. `file://` is read only in local mode, after
symlinks are resolved. A refusal is a `RefusedInput` whose message is a one-line reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from tasks.settings import get_settings

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RefusedInput(ValueError):
    """This worker will not read the URI or object; the message says why, in one line."""


def s3_prefixes(bucket: str, own_base_uri: str) -> list[str]:
    """The s3:// prefixes readable by a store in `bucket` (each ends with '/')."""
    configured = [p for p in get_settings().allowed_input_prefixes or [] if p.startswith("s3://")]
    return _with_slash([*(configured or [f"s3://{bucket}/"]), own_base_uri])


def file_folders(root: Path) -> list[Path]:
    """The folders a local (file://) store may read under: its root and the configured file:// prefixes."""
    configured = [Path(unquote(urlparse(p).path)) for p in get_settings().allowed_input_prefixes or []
                  if p.startswith("file://")]
    return [root.resolve(), *(p.resolve() for p in configured)]


def check_s3_uri(uri: str, bucket: str, own_base_uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI this worker may read, else RefusedInput."""
    _plain(uri)
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        raise RefusedInput(f"{_short(uri)}: file:// URIs are read only in local mode; this worker reads s3://")
    if parsed.scheme != "s3":
        raise RefusedInput(f"{_short(uri)}: only s3:// URIs are read, not {parsed.scheme or 'a bare path'}")
    key = parsed.path.lstrip("/")
    if not BUCKET.fullmatch(parsed.netloc) or parsed.query or parsed.fragment or not key:
        raise RefusedInput(f"{_short(uri)}: not an s3://bucket/key URI")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise RefusedInput(f"{_short(uri)}: empty, '.' or '..' path segments are not read")
    allowed = s3_prefixes(bucket, own_base_uri)
    if not any(uri.startswith(prefix) for prefix in allowed):
        raise RefusedInput(f"{_short(uri)}: outside the allowed inputs ({', '.join(allowed)})")
    return parsed.netloc, key


def check_file_uri(uri: str, root: Path) -> Path:
    """The local path of a file:// URI this worker may read, symlinks resolved, else RefusedInput."""
    _plain(uri)
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost") or parsed.query or parsed.fragment:
        raise RefusedInput(f"{_short(uri)}: a local store reads only file:///path URIs")
    path = Path(unquote(parsed.path)).resolve()
    folders = file_folders(root)
    if not any(folder == path or folder in path.parents for folder in folders):
        raise RefusedInput(f"{_short(uri)}: outside the allowed folders ({', '.join(map(str, folders))})")
    return path


def _plain(uri: str) -> None:
    if CONTROL.search(uri):
        raise RefusedInput(f"{_short(uri)}: control characters in a URI")


def _with_slash(prefixes: list[str]) -> list[str]:
    return list(dict.fromkeys(p if p.endswith("/") else p + "/" for p in prefixes))


def _short(uri: str) -> str:
    """The URI as one printable line of bounded length (it came from someone else)."""
    text = CONTROL.sub("?", uri)
    return text if len(text) <= 200 else text[:200] + "…"
