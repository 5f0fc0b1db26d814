"""The artifact store: binaries only (photos, music, depth maps, clips, finals), never state.

Two backends behind one small interface, chosen by `PICAIVID_STORAGE_URL`:
`s3://bucket/prefix` (boto3, honours AWS_ENDPOINT_URL) and `file:///path` (local default).
Writes are atomic on both: a reader sees the whole object under its final key or nothing.
Keys are deterministic (see `keys`), so a retried write overwrites instead of duplicating.
Photo keys are content-addressed, so two photos never share an object unless they are the
same bytes: a readable name alone is no key ("kitchen 1.jpg" and "kitchen_1.jpg" reduce to one).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from tasks.settings import get_settings


SHARE_URL_TTL_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class ArtifactNotFound(FileNotFoundError):
    """The URI names no stored object."""


class ArtifactStore(Protocol):
    base_uri: str

    def uri_for(self, key: str) -> str: ...
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> str: ...
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str: ...
    def get_file(self, uri: str, dest: Path) -> Path: ...
    def get_bytes(self, uri: str) -> bytes: ...
    def exists(self, uri: str) -> bool: ...
    def delete(self, uri: str) -> None: ...
    def share_url(self, uri: str, expires_s: int = SHARE_URL_TTL_S) -> str: ...


class keys:
    """Where each artifact lives. One function per kind, so the layout is defined once."""

    @staticmethod
    def photo(job_id: object, content_sha256: str, photo_name: str) -> str:
        """Unique to the photo's bytes; the readable name is a suffix only (it is kept, whole,
        in `photos.original_filename`)."""
        if len(content_sha256) != 64 or not all(c in "0123456789abcdef" for c in content_sha256):
            raise ValueError(f"a photo key needs the SHA-256 hex digest of its bytes, got {content_sha256!r}")
        return f"jobs/{job_id}/photos/{content_sha256}/{safe_name(photo_name)}"

    @staticmethod
    def music(job_id: object, name: str) -> str:
        return f"jobs/{job_id}/music/{safe_name(name)}"

    @staticmethod
    def depth(job_id: object, photo_id: int) -> str:
        return f"jobs/{job_id}/analysis/depth/{photo_id}.png"

    @staticmethod
    def clip(job_id: object, clip_id: int, partial: bool = False, fmt: str | None = None) -> str:
        """Under their own top-level prefix: S3 lifecycle rules match prefixes, and the bucket
        expires intermediate clips (never inputs or finals). `fmt`: its render at another format."""
        suffix = ".partial.mp4" if partial else ".mp4"
        return f"clips/{job_id}/{clip_id}{'-' + fmt if fmt else ''}{suffix}"

    @staticmethod
    def final(job_id: object, timeline_version: int, fmt: str) -> str:
        return f"jobs/{job_id}/final/v{timeline_version}-{fmt}.mp4"

    @staticmethod
    def review(job_id: object) -> str:
        """Phase 1's HTML review page (tasks.analyze.report), rewritten by each analysis."""
        return f"jobs/{job_id}/analysis/review.html"

    @staticmethod
    def agent_media(owner: str, name: str) -> str:
        """An agent's logo or headshot, kept across that agent's jobs."""
        return f"agents/{safe_name(owner)}/{safe_name(name)}"

    @staticmethod
    def delivery(job_id: object, timeline_version: int, name: str) -> str:
        """Files delivered beside the finals: posters ("16x9.jpg") and captions ("captions.vtt")."""
        return f"jobs/{job_id}/final/v{timeline_version}-{safe_name(name)}"


def safe_name(name: str) -> str:
    """A file name reduced to characters every store and shell accepts."""
    base = os.path.basename(name)
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).strip("._")
    return cleaned or hashlib.sha256(name.encode()).hexdigest()[:16]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class FileStore:
    """Artifacts on a local disk. Atomic by writing a temp file beside the target, then rename."""

    root: Path

    @property
    def base_uri(self) -> str:
        return self.root.resolve().as_uri()

    def uri_for(self, key: str) -> str:
        return (self.root.resolve() / key).as_uri()

    def _path(self, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ValueError(f"not a file:// URI: {uri}")
        path = Path(unquote(parsed.path)).resolve()
        if self.root.resolve() not in (path, *path.parents):
            raise ValueError(f"{uri} is outside the store at {self.base_uri}")
        return path

    def _atomic_write(self, key: str, write) -> str:
        target = self.root.resolve() / key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target.as_uri()

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> str:
        def copy(fh) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)

        return self._atomic_write(key, copy)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        return self._atomic_write(key, lambda fh: fh.write(data))

    def get_file(self, uri: str, dest: Path) -> Path:
        src = self._path(uri)
        if not src.is_file():
            raise ArtifactNotFound(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest

    def get_bytes(self, uri: str) -> bytes:
        src = self._path(uri)
        if not src.is_file():
            raise ArtifactNotFound(uri)
        return src.read_bytes()

    def exists(self, uri: str) -> bool:
        return self._path(uri).is_file()

    def delete(self, uri: str) -> None:
        self._path(uri).unlink(missing_ok=True)

    def share_url(self, uri: str, expires_s: int = SHARE_URL_TTL_S) -> str:
        """A local file is opened by its own URI; it never expires."""
        return self._path(uri).as_uri()


@dataclass
class S3Store:
    """Artifacts in S3 or an S3-compatible store.

    PutObject and completed multipart uploads are atomic in S3: an interrupted upload is
    aborted by boto3's transfer manager and never appears under the key.
    """

    bucket: str
    prefix: str = ""

    def __post_init__(self) -> None:
        import boto3

        self.prefix = self.prefix.strip("/")
        # boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 itself.
        self.client = boto3.client("s3")

    @property
    def base_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _split(self, uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        if parsed.scheme != "s3":
            raise ValueError(f"not an s3:// URI: {uri}")
        return parsed.netloc, parsed.path.lstrip("/")

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else None
        self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra)
        return self.uri_for(key)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        return self.uri_for(key)

    def _not_found(self, err: Exception) -> bool:
        code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
        return code in {"404", "NoSuchKey", "NotFound"}

    def get_file(self, uri: str, dest: Path) -> Path:
        bucket, key = self._split(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(bucket, key, str(dest))
        except Exception as err:
            if self._not_found(err):
                raise ArtifactNotFound(uri) from err
            raise
        return dest

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = self._split(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as err:
            if self._not_found(err):
                raise ArtifactNotFound(uri) from err
            raise

    def exists(self, uri: str) -> bool:
        bucket, key = self._split(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
            return True
        except Exception as err:
            if self._not_found(err):
                return False
            raise

    def delete(self, uri: str) -> None:
        bucket, key = self._split(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def share_url(self, uri: str, expires_s: int = SHARE_URL_TTL_S) -> str:
        """A presigned GET: whoever holds the link can open the object until it expires."""
        bucket, key = self._split(uri)
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )


def store_from_url(url: str) -> ArtifactStore:
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"storage URL needs a bucket: {url}")
        return S3Store(bucket=parsed.netloc, prefix=parsed.path)
    if parsed.scheme == "file":
        return FileStore(root=Path(unquote(parsed.path)))
    raise ValueError(f"PICAIVID_STORAGE_URL must be s3://bucket/prefix or file:///path, got {url!r}")


def get_store() -> ArtifactStore:
    return store_from_url(get_settings().resolved_storage_url)
