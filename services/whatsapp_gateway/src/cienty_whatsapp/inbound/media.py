"""Customer media, downloaded as soon as its message is processed and kept for staff.

Meta's media URLs expire within 5 minutes and its media ids within 7 days, so the worker fetches
the file (`GET /<media_id>` for a fresh URL, then the URL with the token) before it hands the
message to conversations, and keeps it in a `MediaStore` under the media id, the key
conversations and the backoffice know it by (`Media.id`).

`FileMediaStore` keeps one file per media id in a directory (a volume in Kubernetes) plus a small
JSON sidecar with its type, size and SHA-256. Writes are atomic (temporary file, fsync, rename)
and idempotent (the same media id stored twice leaves one file), so a worker that crashes
mid-write and a message processed twice are both harmless.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from cienty_whatsapp.graph import GraphError, MediaInfo
from cienty_whatsapp.items import MediaRef

MB = 1024 * 1024
# Meta's limits for each kind (media page of the Cloud API docs), with headroom: customers'
# phones sometimes send a little over them, and a file we refuse is lost for staff.
MAX_BYTES = {
    "image": 16 * MB,
    "audio": 32 * MB,
    "video": 32 * MB,
    "sticker": 2 * MB,
    "document": 100 * MB,
}
DEFAULT_MAX_BYTES = 100 * MB

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class StoredMedia:
    media_id: str
    mime_type: str
    size: int
    sha256: str  # hex
    filename: str = ""
    location: str = ""  # where the store keeps it (a path for FileMediaStore)


class MediaStore(Protocol):
    async def get(self, media_id: str) -> StoredMedia | None:
        """What is stored under the media id, or None."""

    async def put(
        self, media_id: str, content: bytes, *, mime_type: str, filename: str = ""
    ) -> StoredMedia:
        """Stores the bytes under the media id (replacing any earlier copy)."""


class GraphMedia(Protocol):
    async def media_info(self, media_id: str) -> MediaInfo: ...

    async def download(self, url: str, *, max_bytes: int) -> bytes: ...


class MediaUnavailable(Exception):
    """The file could not be fetched. `permanent`: trying again will not help (too large)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def sha256_matches(content: bytes, expected: str) -> bool:
    """Meta gives the digest in hex (media endpoint) or base64 (webhook): either is accepted;
    an empty `expected` matches anything."""
    if not expected:
        return True
    digest = hashlib.sha256(content).digest()
    value = expected.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return digest.hex() == value.lower()
    try:
        return base64.b64decode(value, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


async def fetch_media(
    graph: GraphMedia, store: MediaStore, ref: MediaRef, *, max_bytes: int | None = None
) -> StoredMedia:
    """The media of a message, stored: from the store when it is there already (a retry),
    else fetched. Raises `MediaUnavailable` (permanent for a file over the limit)."""
    stored = await store.get(ref.id)
    if stored is not None:
        return stored
    limit = max_bytes or MAX_BYTES.get(ref.kind, DEFAULT_MAX_BYTES)
    try:
        info = await graph.media_info(ref.id)
        if info.file_size > limit:
            raise MediaUnavailable(
                f"{ref.kind} of {info.file_size} bytes is over the {limit}-byte limit",
                permanent=True,
            )
        content = await graph.download(info.url, max_bytes=limit)
    except GraphError as error:
        # The client refuses a body over `max_bytes` with a permanent error and no HTTP status;
        # anything else (404 of an expired URL or id, 5xx, auth) may pass on a later attempt.
        too_large = error.kind == "permanent" and error.status is None
        raise MediaUnavailable(f"media {ref.id}: {error}", permanent=too_large) from error
    except (KeyError, ValueError, TypeError) as error:  # a media answer without its url
        raise MediaUnavailable(f"media {ref.id}: bad answer {error!r}", permanent=False) from error
    for expected in (info.sha256, ref.sha256):
        if not sha256_matches(content, expected):
            raise MediaUnavailable(f"media {ref.id}: SHA-256 mismatch", permanent=False)
    return await store.put(
        ref.id, content, mime_type=info.mime_type or ref.mime_type, filename=ref.filename
    )


class FileMediaStore:
    """One file per media id under `directory` (`CIENTY_MEDIA_DIR`), plus `<id>.json`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, media_id: str) -> Path:
        """The file of a media id: the id itself when it is a plain token (Meta's are digits),
        else a digest of it, so no id can name a path outside the directory."""
        if _SAFE_ID.fullmatch(media_id):
            return self.directory / media_id
        return self.directory / ("h-" + hashlib.sha256(media_id.encode()).hexdigest())

    async def get(self, media_id: str) -> StoredMedia | None:
        return await asyncio.to_thread(self._get, media_id)

    async def put(
        self, media_id: str, content: bytes, *, mime_type: str, filename: str = ""
    ) -> StoredMedia:
        return await asyncio.to_thread(self._put, media_id, content, mime_type, filename)

    def _get(self, media_id: str) -> StoredMedia | None:
        path = self.path(media_id)
        try:
            meta = json.loads(path.with_name(path.name + ".json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        if not path.is_file():
            return None
        return StoredMedia(**{**meta, "location": str(path)})

    def _put(self, media_id: str, content: bytes, mime_type: str, filename: str) -> StoredMedia:
        path = self.path(media_id)
        digest = hashlib.sha256(content).hexdigest()
        existing = self._get(media_id)
        if existing is not None and existing.sha256 == digest:
            return existing
        self.directory.mkdir(parents=True, exist_ok=True)
        stored = StoredMedia(
            media_id=media_id,
            mime_type=mime_type,
            size=len(content),
            sha256=digest,
            filename=filename,
        )
        meta = {k: v for k, v in asdict(stored).items() if k != "location"}
        # The file first, its sidecar last: a sidecar means a complete file.
        _write_atomically(path, content)
        _write_atomically(
            path.with_name(path.name + ".json"), json.dumps(meta, ensure_ascii=False).encode()
        )
        _fsync_directory(self.directory)
        return StoredMedia(**{**meta, "location": str(path)})


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
