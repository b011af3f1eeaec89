"""Objects under an S3 bucket and prefix (AWS S3, or an S3-compatible store such as MinIO).

Credentials come from boto3's standard chain: environment variables, web identity (IRSA on
EKS: `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), the shared config files, container and
instance credentials. `endpointUrl` points the client at another store (path-style addressing
is used then, as MinIO expects); `region` overrides the region from the environment.

The prefix is a folder: "docs" and "docs/" both list "docs/…" (not "docs-old/…"). Names for
include/exclude are the keys relative to the prefix ("guias/entrega.md"); the uri is
`s3://bucket/key`. Keys whose extension no loader knows are skipped without being fetched; a
key without any extension is fetched and its Content-Type decides. Folder markers (keys
ending in "/") are skipped.

boto3 blocks, so listing and reads run in worker threads, at most `concurrency` reads at a
time, and documents are yielded in listing order. A listing that fails (missing bucket,
access denied, no credentials, unreachable endpoint) is a `SourceError`; an object that
cannot be read (access denied, archived in Glacier, deleted since listed, too large) is
reported for that object only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Iterator
from pathlib import PurePosixPath
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    NoCredentialsError,
)

from cienty_knowledge.loaders import Format, format_for_content_type, format_for_name
from cienty_knowledge.sources.base import MAX_DOCUMENT_BYTES, RawDocument, Selection, SourceError
from cienty_knowledge.spec import S3Source

LIST_PAGE_SIZE = 1000  # S3's maximum keys per ListObjectsV2 page
CONCURRENCY = 8  # objects read at the same time
USER_AGENT_EXTRA = "cienty-knowledge/0.1"

# What a listing error code means for the person who wrote the spec.
_LIST_ERRORS: dict[str, str] = {
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "access denied: the worker's AWS identity needs s3:ListBucket on the bucket "
    "and s3:GetObject on its objects",
    "AllAccessDisabled": "all access to the bucket is disabled",
    "InvalidAccessKeyId": "the AWS access key is not valid for this endpoint",
    "SignatureDoesNotMatch": "the AWS credentials were refused (signature does not match)",
    "ExpiredToken": "the AWS credentials have expired",
    "InvalidToken": "the AWS session token is not valid",
    "PermanentRedirect": "the bucket is in another region: set source.s3.region",
    "AuthorizationHeaderMalformed": "the bucket is in another region: set source.s3.region",
    "IllegalLocationConstraintException": "the bucket is in another region: set source.s3.region",
}


def _folder(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _error_code(error: ClientError) -> tuple[str, str]:
    details: dict[str, Any] = error.response.get("Error", {})
    return str(details.get("Code", "")), str(details.get("Message", ""))


def make_client(spec: S3Source, concurrency: int = CONCURRENCY) -> Any:
    """A boto3 S3 client for the spec (blocking: reads config files and credentials)."""
    endpoint = str(spec.endpoint_url).rstrip("/") if spec.endpoint_url is not None else None
    config = Config(
        max_pool_connections=max(10, concurrency),
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra=USER_AGENT_EXTRA,
        s3={"addressing_style": "path"} if endpoint else None,
    )
    session = boto3.session.Session(region_name=spec.region)
    return session.client("s3", endpoint_url=endpoint, config=config)


def _next_page(pages: Iterator[dict[str, Any]], where: str) -> dict[str, Any] | None:
    """The next ListObjectsV2 page, None after the last; failures are the source's."""
    try:
        return next(pages, None)
    except NoCredentialsError as error:
        raise SourceError(
            f"cannot list {where}: no AWS credentials found (environment, web identity/IRSA, "
            "shared config, container or instance role)"
        ) from error
    except ClientError as error:
        code, message = _error_code(error)
        meaning = _LIST_ERRORS.get(code) or f"{code or 'error'}: {message or error}"
        raise SourceError(f"cannot list {where}: {meaning}") from error
    except BotoCoreError as error:
        raise SourceError(f"cannot list {where}: {error}") from error


def _read(client: Any, bucket: str, key: str, name: str, fmt: Format | None) -> RawDocument | None:
    """Blocking: one object as a RawDocument; None when its Content-Type is not loadable."""
    uri = f"s3://{bucket}/{key}"
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            data: bytes = body.read(MAX_DOCUMENT_BYTES + 1)
        finally:
            body.close()
    except ClientError as error:
        code, message = _error_code(error)
        return RawDocument(name=name, uri=uri, format=fmt, error=f"cannot read: {code} {message}")
    except (BotoCoreError, OSError) as error:
        return RawDocument(name=name, uri=uri, format=fmt, error=f"cannot read: {error}")
    if len(data) > MAX_DOCUMENT_BYTES:
        return RawDocument(name=name, uri=uri, format=fmt, error=_too_large())
    content_type: str | None = response.get("ContentType")
    fmt = fmt or format_for_content_type(content_type)
    if fmt is None:
        return None
    metadata: dict[str, Any] = {}
    if etag := response.get("ETag"):
        metadata["etag"] = str(etag).strip('"')
    if (modified := response.get("LastModified")) is not None:
        metadata["last_modified"] = modified.isoformat()
    return RawDocument(
        name=name, uri=uri, data=data, format=fmt, content_type=content_type, metadata=metadata
    )


def _too_large() -> str:
    return f"larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB"


async def fetch(
    spec: S3Source,
    selection: Selection,
    *,
    client: Any = None,
    page_size: int = LIST_PAGE_SIZE,
    concurrency: int = CONCURRENCY,
) -> AsyncGenerator[RawDocument, None]:
    """The selected objects under the prefix, in listing (key) order."""
    bucket, prefix = spec.bucket, _folder(spec.prefix)
    where = f"s3://{bucket}/{prefix}"
    if client is None:
        try:
            client = await asyncio.to_thread(make_client, spec, concurrency)
        except (BotoCoreError, ValueError) as error:
            raise SourceError(f"cannot create an S3 client for {where}: {error}") from error
    paginator = client.get_paginator("list_objects_v2")
    pages = iter(
        paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size})
    )
    reads: deque[asyncio.Task[RawDocument | None]] = deque()
    try:
        while (page := await asyncio.to_thread(_next_page, pages, where)) is not None:
            for entry in page.get("Contents", ()):
                key: str = entry["Key"]
                name = key[len(prefix) :]
                if not name or key.endswith("/"):
                    continue  # the prefix itself, or a folder marker
                fmt = format_for_name(name)
                if fmt is None and PurePosixPath(name).suffix:
                    continue  # an extension no loader reads (images, archives, ...)
                if not selection.matches(name):
                    continue
                if int(entry.get("Size", 0)) > MAX_DOCUMENT_BYTES:
                    uri = f"s3://{bucket}/{key}"
                    reads.append(_done(RawDocument(name=name, uri=uri, error=_too_large())))
                else:
                    reads.append(
                        asyncio.create_task(
                            asyncio.to_thread(_read, client, bucket, key, name, fmt)
                        )
                    )
                while len(reads) >= concurrency:
                    if (raw := await reads.popleft()) is not None:
                        yield raw
        while reads:
            if (raw := await reads.popleft()) is not None:
                yield raw
    finally:
        for task in reads:
            task.cancel()
        await asyncio.gather(*reads, return_exceptions=True)


def _done(raw: RawDocument) -> asyncio.Task[RawDocument | None]:
    async def ready() -> RawDocument | None:
        return raw

    return asyncio.create_task(ready())
