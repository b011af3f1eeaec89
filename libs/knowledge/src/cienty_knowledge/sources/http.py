"""Documents at URLs, fetched with httpx.

Redirects are followed (at most 5), every request has a timeout, the format comes from the
Content-Type (else the URL's extension). A failed fetch (refused connection, timeout, 404,
5xx, unsupported content type, too large) is reported for that URL only; the run goes on and
the document keeps what it had in the store. Names for include/exclude are "host/path".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from cienty_knowledge.loaders import format_for_content_type, format_for_name
from cienty_knowledge.sources.base import MAX_DOCUMENT_BYTES, RawDocument, Selection
from cienty_knowledge.spec import HttpSource

USER_AGENT = "cienty-knowledge/0.1 (+https://cienty.com.br)"
MAX_REDIRECTS = 5


def document_name(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or ''}{parts.path or '/'}"


async def fetch(
    spec: HttpSource, selection: Selection, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[RawDocument]:
    timeout = httpx.Timeout(spec.timeout_seconds, connect=min(spec.timeout_seconds, 10.0))
    async with httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        transport=transport,
    ) as client:
        for url in map(str, spec.urls):
            name = document_name(url)
            if selection.matches(name):
                yield await _get(client, url, name)


async def _get(client: httpx.AsyncClient, url: str, name: str) -> RawDocument:
    try:
        async with client.stream("GET", url) as response:
            if response.status_code >= 400:
                return RawDocument(name=name, uri=url, error=f"HTTP {response.status_code}")
            content_type = response.headers.get("content-type")
            fmt = format_for_content_type(content_type) or format_for_name(urlsplit(url).path)
            if fmt is None:
                return RawDocument(
                    name=name, uri=url, error=f"unsupported content type {content_type!r}"
                )
            chunks: list[bytes] = []
            size = 0
            async for piece in response.aiter_bytes():
                size += len(piece)
                if size > MAX_DOCUMENT_BYTES:
                    return RawDocument(name=name, uri=url, error="document too large")
                chunks.append(piece)
            final_url = str(response.url)
    except httpx.TooManyRedirects:
        return RawDocument(name=name, uri=url, error=f"more than {MAX_REDIRECTS} redirects")
    except httpx.TimeoutException as error:
        return RawDocument(name=name, uri=url, error=f"timed out ({type(error).__name__})")
    except httpx.HTTPError as error:
        return RawDocument(name=name, uri=url, error=f"request failed: {type(error).__name__}")
    return RawDocument(
        name=name,
        uri=url,
        data=b"".join(chunks),
        format=fmt,
        content_type=content_type,
        metadata={"url": final_url} if final_url != url else {},
    )
