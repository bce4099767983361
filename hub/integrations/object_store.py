"""Where the invoice archive's objects go: a local directory (the default) or any S3-compatible store.

One small interface (``ObjectStore``: ``put``, ``get``, ``close``) with two implementations, chosen by
``ARCHIVE_URL`` (``open_store``):

- unset, or ``file:///a/directory``: ``LocalStore``, files under ``<data dir>/archive`` (or that directory),
  each written to a temporary file beside it and renamed into place, so a reader never sees half a
  document and a crash leaves none;
- ``s3://bucket/prefix``: ``S3Store``, boto3's client (its calls run in a worker thread), to AWS or, with
  ``S3_ENDPOINT_URL``, to MinIO, Ceph, moto, …; credentials and region as boto3 finds them
  (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, a profile, an instance role).

A store that did not take an object raises ``PushFailed`` (``hub/integrations/pushed.py``), so the outbox
decides retries as for every target: no answer, a 5xx, SlowDown or a throttle may work later; access
denied or no such bucket needs a person. ``get`` answers None for an object that is not there.

boto3 makes its own retries short here (two attempts, a few seconds' timeouts): the outbox's drain holds a
database transaction while it sends, and backs off between its own tries far longer than boto3 would.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from fireflow.hub.integrations.pushed import PushFailed

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["ArchiveLocation", "LocalStore", "ObjectStore", "S3Store", "location", "open_store"]

_RETRYABLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "InternalError"}
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class ObjectStore(Protocol):
    """Objects by key (``a/b/c.pdf``): written whole, read whole."""

    description: str  # where, for logs and the sync log: never a credential

    async def put(self, key: str, body: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ArchiveLocation:
    """``ARCHIVE_URL`` read: a local directory (``directory``), or a bucket and a key prefix."""

    directory: Path | None = None
    bucket: str = ""
    prefix: str = ""


def location(url: str | None, data_dir: Path) -> ArchiveLocation:
    """Where ``ARCHIVE_URL`` points; ValueError with what is accepted when it points nowhere usable."""
    if not url:
        return ArchiveLocation(directory=data_dir.absolute() / "archive")
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.path and not parts.netloc:
        return ArchiveLocation(directory=Path(parts.path))
    if parts.scheme == "s3":
        bucket = parts.netloc
        ok = 3 <= len(bucket) <= 63 and all(c.islower() or c.isdigit() or c in ".-" for c in bucket)
        if ok and bucket[0].isalnum() and bucket[-1].isalnum() and not parts.query:
            return ArchiveLocation(bucket=bucket, prefix=parts.path.strip("/"))
        raise ValueError("must be s3://bucket[/prefix] with a bucket name of 3 to 63 of a-z 0-9 . -")
    raise ValueError("must be s3://bucket[/prefix] (an S3-compatible store) or file:///a/directory")


def _safe(key: str) -> PurePosixPath:
    """A key as a relative path with no way out of the archive (no ``..``, no leading ``/``, no empty part)."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"not an archive key: {key!r}")
    return path


class LocalStore:
    """Objects as files under ``root``, each put atomically (a temporary file, fsynced, then renamed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"the directory {root}"

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        path = self.root / _safe(key)
        try:
            await asyncio.to_thread(_write, path, body)
        except OSError as exc:
            # a full disk frees up; a directory this node may not write needs a person
            retryable = not isinstance(exc, PermissionError)
            raise PushFailed(f"could not write {path}: {exc.strerror or exc}", retryable=retryable) from None

    async def get(self, key: str) -> bytes | None:
        path = self.root / _safe(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def close(self) -> None:
        return None


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class S3Store:
    """Objects in ``bucket`` under ``prefix``, through boto3 in a worker thread."""

    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client: S3Client | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        where = f" at {endpoint_url}" if endpoint_url else ""
        self.description = f"s3://{bucket}" + (f"/{self.prefix}" if self.prefix else "") + where
        self.client = client or _client(endpoint_url)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{_safe(key)}" if self.prefix else str(_safe(key))

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        name = self._key(key)
        try:
            await asyncio.to_thread(
                self.client.put_object, Bucket=self.bucket, Key=name, Body=body, ContentType=content_type
            )
        except Exception as exc:
            raise _refusal(exc, f"s3://{self.bucket}/{name}") from None

    async def get(self, key: str) -> bytes | None:
        name = self._key(key)
        try:
            answer = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=name)
            return await asyncio.to_thread(answer["Body"].read)
        except Exception as exc:
            refused = _refusal(exc, f"s3://{self.bucket}/{name}")
            if refused.status == 404 and _code(exc) in _MISSING:
                return None
            raise refused from None

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)


def _client(endpoint_url: str | None) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=3,
        read_timeout=10,
        retries={"max_attempts": 2, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def _code(exc: Exception) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _refusal(exc: Exception, where: str) -> PushFailed:
    """What S3 (or the way to it) said, as the outbox reads a refusal."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(error.get("Code", ""))
        retryable = status >= 500 or status in (408, 429) or code in _RETRYABLE_CODES
        message = f"{where}: {status} {code}: {error.get('Message', '')}".rstrip(": ")
        return PushFailed(message, status=status, retryable=retryable, response={"code": code, "status": status})
    if isinstance(exc, ParamValidationError):
        return PushFailed(f"{where}: {exc}", retryable=False)
    if isinstance(exc, NoCredentialsError):
        return PushFailed(f"{where}: no S3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", retryable=False)
    if isinstance(exc, BotoCoreError | OSError):
        return PushFailed(f"{where}: no answer: {exc}", retryable=True)  # connection refused, timed out, reset
    return PushFailed(f"{where}: {type(exc).__name__}: {exc}", retryable=True)


def open_store(url: str | None, data_dir: Path, endpoint_url: str | None = None) -> ObjectStore:
    """The store ``ARCHIVE_URL`` names (``location``); unset: ``<data_dir>/archive``."""
    where = location(url, data_dir)
    if where.directory is not None:
        return LocalStore(where.directory)
    return S3Store(where.bucket, where.prefix, endpoint_url=endpoint_url)
