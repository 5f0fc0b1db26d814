"""The artifact store: binaries only (photos, music, depth maps, clips, finals), never state.

Two backends behind one small interface, chosen by `PICAIVID_STORAGE_URL`:
`s3://bucket/prefix` (boto3, honours AWS_ENDPOINT_URL) and `file:///path` (local default).
Writes are atomic on both: a reader sees the whole object under its final key or nothing.
Reads are checked: only allowed URIs (tasks.uri_policy), at most `max_download_bytes`, and on
S3 the whole body (its length, and the SHA-256 our uploads record in the object's metadata).
Keys are deterministic (see `keys`), so a retried write overwrites instead of duplicating.
Photo keys are content-addressed, so two photos never share an object unless they are the
same bytes: a readable name alone is no key ("kitchen 1.jpg" and "kitchen_1.jpg" reduce to one).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlparse

from tasks.settings import get_settings
from tasks.uri_policy import RefusedInput, check_file_uri, check_s3_uri

SHARE_URL_TTL_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class ArtifactNotFound(FileNotFoundError):
    """The URI names no stored object."""


class StoreUnavailable(ConnectionError):
    """The store kept failing a request past the retry budget; the message names the object.

    A ConnectionError, so an I/O stage tries again later (tasks.stages.is_transient)."""


class TooLarge(RefusedInput):
    """The object is larger than `max_download_bytes`."""


class DamagedDownload(IOError):
    """A body arrived short or with the wrong SHA-256 (fetched again, then StoreUnavailable)."""


CHUNK = 1 << 20


def refuse_size(uri: str, size: int) -> None:
    cap = get_settings().max_download_bytes
    if size > cap:
        raise TooLarge(f"{uri}: {size:,} bytes, over the {cap:,}-byte download limit (PICAIVID_MAX_DOWNLOAD_BYTES)")


def copy_capped(uri: str, src: IO[bytes], dest: IO[bytes]) -> int:
    """Copy `src` to `dest`, refusing past the download limit without reading further."""
    total = 0
    for chunk in iter(lambda: src.read(CHUNK), b""):
        total += len(chunk)
        refuse_size(uri, total)
        dest.write(chunk)
    return total


@contextmanager
def atomic_file(target: Path) -> Iterator[IO[bytes]]:
    """A temp file beside `target`, renamed onto it only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArtifactStore(Protocol):
    base_uri: str

    def uri_for(self, key: str) -> str: ...
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> str: ...
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str: ...
    def get_file(self, uri: str, dest: Path) -> Path: ...
    def get_bytes(self, uri: str) -> bytes: ...
    def exists(self, uri: str) -> bool: ...
    def check_readable(self, uri: str) -> None: ...
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

    def _readable(self, uri: str) -> Path:
        """A path this worker may read (tasks.uri_policy): the store or an allowed folder."""
        return check_file_uri(uri, self.root)

    def _path(self, uri: str) -> Path:
        """A path inside the store itself: the only place deletes and shares reach."""
        path = check_file_uri(uri, self.root)
        if self.root.resolve() not in (path, *path.parents):
            raise RefusedInput(f"{uri} is outside the store at {self.base_uri}")
        return path

    def _atomic_write(self, key: str, write: Callable[[IO[bytes]], object]) -> str:
        target = self.root.resolve() / key
        with atomic_file(target) as fh:
            write(fh)
        return target.as_uri()

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> str:
        def copy(fh) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)

        return self._atomic_write(key, copy)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        return self._atomic_write(key, lambda fh: fh.write(data))

    def _open(self, uri: str) -> IO[bytes]:
        src = self._readable(uri)
        if not src.is_file():
            raise ArtifactNotFound(uri)
        refuse_size(uri, src.stat().st_size)
        return open(src, "rb")

    def get_file(self, uri: str, dest: Path) -> Path:
        with self._open(uri) as src, atomic_file(dest) as out:
            copy_capped(uri, src, out)
        return dest

    def get_bytes(self, uri: str) -> bytes:
        out = io.BytesIO()
        with self._open(uri) as src:
            copy_capped(uri, src, out)
        return out.getvalue()

    def exists(self, uri: str) -> bool:
        return self._readable(uri).is_file()

    def check_readable(self, uri: str) -> None:
        """RefusedInput unless this worker may read `uri` (no I/O)."""
        self._readable(uri)

    def delete(self, uri: str) -> None:
        self._path(uri).unlink(missing_ok=True)

    def share_url(self, uri: str, expires_s: int = SHARE_URL_TTL_S) -> str:
        """A local file is opened by its own URI; it never expires."""
        return self._path(uri).as_uri()


def s3_client() -> Any:
    """A boto3 S3 client with the retry budget of the settings (mode, tries, timeouts).

    boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 itself."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        retries={"mode": settings.s3_retry_mode, "max_attempts": settings.s3_max_attempts},
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_read_timeout_s,
    )
    return boto3.client("s3", config=config)


@dataclass
class S3Store:
    """Artifacts in S3 or an S3-compatible store.

    Writes go to their final key in one PutObject or one completed multipart upload, both
    atomic in S3; boto3's transfer manager aborts a multipart upload that fails, so a key holds
    a whole object or none. Every upload records its SHA-256 in the object's metadata, and a
    download is checked against it and its Content-Length, and fetched again when damaged.
    """

    bucket: str
    prefix: str = ""
    client: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.prefix = self.prefix.strip("/")
        self.client = s3_client()

    @property
    def base_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _readable(self, uri: str) -> tuple[str, str]:
        return check_s3_uri(uri, self.bucket, self.base_uri)

    def _call(self, what: str, uri: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One S3 call (botocore retries it within the budget); a failure names the object."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        from tasks.stages import is_transient

        try:
            return fn(**kwargs)
        except (BotoCoreError, ClientError, S3UploadFailedError) as err:
            cause = err.__context__ if isinstance(err, S3UploadFailedError) else err
            if isinstance(cause, ClientError) and self._not_found(cause):
                raise ArtifactNotFound(uri) from err
            if cause is not None and is_transient(cause):
                raise StoreUnavailable(f"{what} {uri} failed after {get_settings().s3_max_attempts} tries: "
                                       f"{type(cause).__name__}: {cause}") from err
            raise

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> str:
        extra = {"Metadata": {"sha256": sha256_file(path)}}
        if content_type:
            extra["ContentType"] = content_type
        uri = self.uri_for(key)
        self._call("upload of", uri, self.client.upload_file, Filename=str(path), Bucket=self.bucket,
                   Key=self._key(key), ExtraArgs=extra)
        return uri

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        uri = self.uri_for(key)
        self._call("PutObject", uri, self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data,
                   Metadata={"sha256": sha256_bytes(data)}, **extra)
        return uri

    @staticmethod
    def _not_found(err: Exception) -> bool:
        code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
        return code in {"404", "NoSuchKey", "NotFound"}

    def _fetch(self, uri: str, out: IO[bytes]) -> None:
        """The object's whole, checked body into `out`, fetched again while it arrives damaged."""
        from botocore.exceptions import BotoCoreError

        bucket, key = self._readable(uri)
        attempts = get_settings().s3_max_attempts
        for attempt in range(1, attempts + 1):
            out.seek(0)
            out.truncate()
            response = self._call("GetObject", uri, self.client.get_object, Bucket=bucket, Key=key)
            try:
                self._read_checked(uri, response, out)
                return
            except (DamagedDownload, BotoCoreError) as err:
                if attempt == attempts:
                    raise StoreUnavailable(f"GetObject {uri} arrived damaged {attempts} times: "
                                           f"{type(err).__name__}: {err}") from err
                time.sleep(random.uniform(0, min(0.25 * 2**attempt, 5.0)))
            finally:
                response["Body"].close()

    @staticmethod
    def _read_checked(uri: str, response: dict, out: IO[bytes]) -> None:
        size = response["ContentLength"]
        refuse_size(uri, size)
        digest, got = hashlib.sha256(), 0
        for chunk in response["Body"].iter_chunks(CHUNK):
            got += len(chunk)
            refuse_size(uri, got)
            digest.update(chunk)
            out.write(chunk)
        if got != size:
            raise DamagedDownload(f"{got} of {size} bytes arrived")
        recorded = response.get("Metadata", {}).get("sha256")
        if recorded and digest.hexdigest() != recorded:
            raise DamagedDownload(f"SHA-256 {digest.hexdigest()[:12]}… differs from the recorded {recorded[:12]}…")

    def get_file(self, uri: str, dest: Path) -> Path:
        with atomic_file(dest) as out:
            self._fetch(uri, out)
        return dest

    def get_bytes(self, uri: str) -> bytes:
        out = io.BytesIO()
        self._fetch(uri, out)
        return out.getvalue()

    def exists(self, uri: str) -> bool:
        bucket, key = self._readable(uri)
        try:
            self._call("HeadObject", uri, self.client.head_object, Bucket=bucket, Key=key)
            return True
        except ArtifactNotFound:
            return False

    def check_readable(self, uri: str) -> None:
        """RefusedInput unless this worker may read `uri` (no I/O)."""
        self._readable(uri)

    def delete(self, uri: str) -> None:
        bucket, key = self._readable(uri)
        self._call("DeleteObject", uri, self.client.delete_object, Bucket=bucket, Key=key)

    def share_url(self, uri: str, expires_s: int = SHARE_URL_TTL_S) -> str:
        """A presigned GET: whoever holds the link can open the object until it expires."""
        bucket, key = self._readable(uri)
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
