"""The S3 source against moto's in-process S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.stub import Stubber  # type: ignore[import-untyped]
from moto import mock_aws

from cienty_knowledge.sources import RawDocument, Selection, SourceError, fetch_documents, s3
from cienty_knowledge.spec import S3Source, SourceSpec

BUCKET = "cienty-kb"
REGION = "sa-east-1"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """An S3 client on moto with a bucket; no real AWS configuration is read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield client


def put(client: Any, key: str, body: bytes = b"# Title\n\ntext", **extra: Any) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)


async def collect(spec: S3Source, selection: Selection | None = None, **kwargs: Any) -> list[Any]:
    return [raw async for raw in s3.fetch(spec, selection or Selection(), **kwargs)]


async def test_nested_keys_under_a_prefix(client: Any) -> None:
    put(client, "docs/entrega.md")
    put(client, "docs/guias/devolucao.md", b"# Devolucao")
    put(client, "docs/guias/fiscal/nfe.html", b"<h1>NF-e</h1>")
    put(client, "docs/guias/")  # a folder marker
    put(client, "docs/logo.png", b"\x89PNG")  # no loader for it: never fetched
    put(client, "docs/LEIAME", b"# Leia-me", ContentType="text/markdown")
    put(client, "docs/blob", b"\x00\x01", ContentType="application/octet-stream")
    put(client, "docs-old/antigo.md")  # shares the string prefix, not the folder
    put(client, "raiz.md")

    documents = await collect(S3Source(bucket=BUCKET, prefix="docs"), client=client)

    assert [raw.name for raw in documents] == [
        "LEIAME",
        "entrega.md",
        "guias/devolucao.md",
        "guias/fiscal/nfe.html",
    ]
    by_name = {raw.name: raw for raw in documents}
    assert by_name["guias/devolucao.md"].uri == f"s3://{BUCKET}/docs/guias/devolucao.md"
    assert by_name["guias/devolucao.md"].data == b"# Devolucao"
    assert by_name["guias/devolucao.md"].format == "markdown"
    assert by_name["guias/fiscal/nfe.html"].format == "html"
    assert by_name["LEIAME"].format == "markdown"  # from the Content-Type
    assert by_name["LEIAME"].content_type == "text/markdown"
    assert all(raw.error is None for raw in documents)
    assert by_name["entrega.md"].metadata["etag"]


async def test_prefix_with_slashes_and_no_prefix(client: Any) -> None:
    put(client, "docs/a.md")
    put(client, "b.txt")

    in_folder = await collect(S3Source(bucket=BUCKET, prefix="/docs/"), client=client)
    everything = await collect(S3Source(bucket=BUCKET), client=client)

    assert [raw.name for raw in in_folder] == ["a.md"]
    assert [(raw.name, raw.uri) for raw in everything] == [
        ("b.txt", f"s3://{BUCKET}/b.txt"),
        ("docs/a.md", f"s3://{BUCKET}/docs/a.md"),
    ]


async def test_globs_match_keys_relative_to_the_prefix(client: Any) -> None:
    for key in ("kb/faq.md", "kb/guias/entrega.md", "kb/guias/rascunho/x.md", "kb/notas.txt"):
        put(client, key)
    selection = Selection(include=("**/*.md",), exclude=("guias/rascunho/**",))
    fetched: list[str] = []
    client.meta.events.register(
        "before-parameter-build.s3.GetObject", lambda params, **_: fetched.append(params["Key"])
    )

    documents = await collect(S3Source(bucket=BUCKET, prefix="kb/"), selection, client=client)

    assert [raw.name for raw in documents] == ["faq.md", "guias/entrega.md"]
    assert sorted(fetched) == ["kb/faq.md", "kb/guias/entrega.md"]  # excluded: never read


async def test_pagination_with_a_small_page_size(client: Any) -> None:
    keys = [f"p/{index:03d}.txt" for index in range(23)]
    for key in keys:
        put(client, key, key.encode())
    listings: list[int] = []
    client.meta.events.register(
        "before-parameter-build.s3.ListObjectsV2",
        lambda params, **_: listings.append(params["MaxKeys"]),
    )

    documents = await collect(S3Source(bucket=BUCKET, prefix="p"), client=client, page_size=5)

    assert listings == [5] * 5
    assert [raw.uri for raw in documents] == [f"s3://{BUCKET}/{key}" for key in keys]
    assert [raw.data for raw in documents] == [key.encode() for key in keys]


async def test_missing_bucket_is_a_source_error(client: Any) -> None:
    with pytest.raises(SourceError, match="bucket does not exist"):
        await collect(S3Source(bucket="no-such-bucket"), client=client)


async def test_access_denied_is_a_source_error(client: Any) -> None:
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "list_objects_v2", service_error_code="AccessDenied", http_status_code=403
        )
        with pytest.raises(SourceError, match=r"access denied: .*s3:ListBucket"):
            await collect(S3Source(bucket=BUCKET), client=client)


async def test_an_unreadable_object_fails_alone(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(client, "a.md")
    put(client, "b.md", StorageClass="GLACIER")  # archived: GetObject is refused
    put(client, "c.md", b"x" * 64)
    put(client, "d.md")
    monkeypatch.setattr(s3, "MAX_DOCUMENT_BYTES", 32)

    documents = await collect(S3Source(bucket=BUCKET), client=client, concurrency=2)

    assert [raw.name for raw in documents] == ["a.md", "b.md", "c.md", "d.md"]
    errors = {raw.name: raw.error for raw in documents}
    assert errors["a.md"] is None
    assert errors["d.md"] is None
    assert errors["b.md"] is not None
    assert "InvalidObjectState" in errors["b.md"]
    assert errors["c.md"] == "larger than 0 MiB"
    assert documents[1].uri == f"s3://{BUCKET}/b.md"


async def test_stopping_early_leaves_no_reads_behind(client: Any) -> None:
    for index in range(10):
        put(client, f"{index}.md")

    stream = s3.fetch(S3Source(bucket=BUCKET), Selection(), client=client, concurrency=4)
    first = await anext(stream)
    await stream.aclose()

    assert first.name == "0.md"


async def test_registered_and_credentials_from_the_environment(client: Any) -> None:
    put(client, "manual/entrega.md")
    source = SourceSpec.model_validate({"s3": {"bucket": BUCKET, "prefix": "manual"}})

    documents: list[RawDocument] = [
        raw async for raw in fetch_documents(source, Selection(include=("*.md",)))
    ]

    assert [raw.uri for raw in documents] == [f"s3://{BUCKET}/manual/entrega.md"]


async def test_no_credentials_is_a_source_error(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(SourceError, match="no AWS credentials"):
        await collect(S3Source(bucket=BUCKET))


def test_client_for_an_s3_compatible_endpoint(client: Any) -> None:
    spec = S3Source.model_validate(
        {"bucket": BUCKET, "endpointUrl": "http://minio.local:9000", "region": "us-east-1"}
    )

    minio = s3.make_client(spec)

    assert minio.meta.endpoint_url == "http://minio.local:9000"
    assert minio.meta.region_name == "us-east-1"
    assert minio.meta.config.s3 == {"addressing_style": "path"}
    assert s3.make_client(S3Source(bucket=BUCKET)).meta.region_name == REGION
