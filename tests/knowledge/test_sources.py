"""Sources (directory, inline, http), include/exclude globs, and the spec's validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cienty_knowledge.sources import RawDocument, Selection, SourceError, fetch_documents
from cienty_knowledge.sources.base import glob_match
from cienty_knowledge.spec import KnowledgeSourceSpec, SourceSpec
from tests.fakes.server import BackgroundServer


async def _fetch(source: dict[str, object], **selection: list[str]) -> list[RawDocument]:
    spec = SourceSpec.model_validate(source)
    chosen = Selection(tuple(selection.get("include", ())), tuple(selection.get("exclude", ())))
    return [raw async for raw in fetch_documents(spec, chosen)]


# -- globs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("**/*.md", "entrega.md", True),
        ("**/*.md", "a/b/entrega.md", True),
        ("*.md", "a/entrega.md", False),
        ("*.md", "entrega.md", True),
        ("docs/**", "docs/a/b.pdf", True),
        ("docs/**", "other/docs/b.pdf", False),
        ("faq/?.txt", "faq/1.txt", True),
        ("faq/?.txt", "faq/12.txt", False),
        ("**/[!_]*.md", "a/_draft.md", False),
        ("**/[!_]*.md", "a/final.md", True),
        ("cienty.com.br/ajuda/**", "cienty.com.br/ajuda/entrega", True),
    ],
)
def test_glob_semantics(pattern: str, name: str, expected: bool) -> None:
    assert glob_match(pattern, name) is expected


def test_selection_include_then_exclude() -> None:
    selection = Selection(include=("**/*.md", "**/*.pdf"), exclude=("drafts/**",))
    assert selection.matches("a.md")
    assert selection.matches("x/y.pdf")
    assert not selection.matches("drafts/a.md")
    assert not selection.matches("a.html")
    assert Selection().matches("anything/at/all.txt")


# -- directory ------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "entrega").mkdir(parents=True)
    (root / "drafts").mkdir()
    (root / ".git").mkdir()
    (root / "entrega" / "prazos.md").write_text("# Prazos\n\n24 horas.")
    (root / "pagamento.txt").write_text("PIX e boleto.")
    (root / "politica.html").write_text("<h1>Política</h1><p>Texto.</p>")
    (root / "drafts" / "rascunho.md").write_text("# Rascunho")
    (root / "logo.png").write_bytes(b"\x89PNG")
    (root / ".hidden.md").write_text("# oculto")
    (root / ".git" / "config.txt").write_text("nope")
    return root


async def test_directory_lists_loadable_files_relative_and_sorted(tree: Path) -> None:
    found = await _fetch({"directory": {"path": str(tree)}})
    assert [raw.name for raw in found] == [
        "pagamento.txt", "politica.html", "drafts/rascunho.md", "entrega/prazos.md",
    ]  # fmt: skip
    prazos = found[-1]
    assert (prazos.uri, prazos.format, prazos.data) == (
        "entrega/prazos.md", "markdown", b"# Prazos\n\n24 horas.",
    )  # fmt: skip
    assert all(raw.error is None for raw in found)


async def test_directory_include_exclude(tree: Path) -> None:
    found = await _fetch(
        {"directory": {"path": str(tree)}}, include=["**/*.md", "*.txt"], exclude=["drafts/**"]
    )
    assert [raw.name for raw in found] == ["pagamento.txt", "entrega/prazos.md"]


async def test_directory_single_file_and_several_roots(tree: Path, tmp_path: Path) -> None:
    single = await _fetch({"directory": {"path": str(tree / "pagamento.txt")}})
    assert [(raw.name, raw.uri) for raw in single] == [("pagamento.txt", "pagamento.txt")]
    other = tmp_path / "faq"
    other.mkdir()
    (other / "perguntas.md").write_text("# FAQ")
    several = await _fetch({"directory": {"path": [str(tree / "entrega"), str(other)]}})
    assert [raw.name for raw in several] == ["entrega/prazos.md", "faq/perguntas.md"]


async def test_directory_reads_a_mounted_configmap_once(tmp_path: Path) -> None:
    # How the kubelet lays out a ConfigMap volume: keys are symlinks into ..data.
    mount = tmp_path / "knowledge"
    payload = mount / "..2026_11_27_04_00_00.123"
    payload.mkdir(parents=True)
    (payload / "entrega.md").write_text("# Entrega\n\nMesmo dia.")
    (payload / "faq.txt").write_text("Perguntas.")
    (mount / "..data").symlink_to(payload.name)
    for key in ("entrega.md", "faq.txt"):
        (mount / key).symlink_to(f"..data/{key}")
    found = await _fetch({"directory": {"path": str(mount)}})
    assert [(raw.name, raw.data) for raw in found] == [
        ("entrega.md", b"# Entrega\n\nMesmo dia."), ("faq.txt", b"Perguntas."),
    ]  # fmt: skip


async def test_directory_unreadable_file_is_reported_per_document(tree: Path) -> None:
    (tree / "broken.md").symlink_to(tree / "missing-target.md")
    found = {raw.name: raw for raw in await _fetch({"directory": {"path": str(tree)}})}
    assert found["broken.md"].error is not None
    assert found["broken.md"].error.startswith("cannot read")
    assert found["pagamento.txt"].error is None


async def test_directory_missing_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or directory"):
        await _fetch({"directory": {"path": str(tmp_path / "nope")}})


# -- inline ---------------------------------------------------------------------------------


async def test_inline_documents_and_formats() -> None:
    found = await _fetch(
        {
            "inline": {
                "documents": [
                    {"name": "entrega.md", "content": "# Entrega"},
                    {"name": "pagamento", "content": "PIX", "format": "text"},
                    {"name": "pagina.html", "content": "<p>x</p>"},
                    {"name": "sem-extensao", "content": "texto"},
                ]
            }
        },
        exclude=["pagina.*"],
    )
    assert [(raw.uri, raw.format, raw.data) for raw in found] == [
        ("entrega.md", "markdown", b"# Entrega"),
        ("pagamento", "text", b"PIX"),
        ("sem-extensao", "text", b"texto"),
    ]


def test_inline_names_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        SourceSpec.model_validate(
            {
                "inline": {
                    "documents": [{"name": "a", "content": "1"}, {"name": "a", "content": "2"}]
                }
            }
        )


# -- http -----------------------------------------------------------------------------------


def _site() -> Starlette:
    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "entrega":
            return Response("<h1>Entrega</h1><p>Mesmo dia.</p>", media_type="text/html")
        if name == "faq.md":
            return Response("# FAQ", media_type="application/octet-stream")
        if name == "pdf":
            return Response(b"%PDF-1.4 ...", media_type="application/pdf")
        if name == "image":
            return Response(b"\x89PNG", media_type="image/png")
        if name == "old":
            return RedirectResponse("/ajuda/entrega", status_code=301)
        if name == "loop":
            return RedirectResponse("/ajuda/loop", status_code=302)
        if name == "broken":
            return PlainTextResponse("boom", status_code=500)
        return PlainTextResponse("not found", status_code=404)

    return Starlette(routes=[Route("/ajuda/{name}", page)])


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with BackgroundServer(_site()) as server:
        yield server.url


async def test_http_documents_and_per_url_failures(site: str) -> None:
    names = ["entrega", "faq.md", "pdf", "old", "missing", "broken", "image", "loop"]
    found = await _fetch({"http": {"urls": [f"{site}/ajuda/{n}" for n in names]}})
    by_name = {raw.uri.rsplit("/", 1)[1]: raw for raw in found}
    assert list(by_name) == names
    assert by_name["entrega"].format == "html"
    assert by_name["entrega"].data.startswith(b"<h1>Entrega")
    assert by_name["entrega"].name == "127.0.0.1/ajuda/entrega"
    assert by_name["faq.md"].format == "markdown"  # unknown content type: the extension decides
    assert by_name["pdf"].format == "pdf"
    assert by_name["old"].format == "html"
    assert by_name["old"].metadata == {"url": f"{site}/ajuda/entrega"}
    assert by_name["missing"].error == "HTTP 404"
    assert by_name["broken"].error == "HTTP 500"
    assert by_name["image"].error == "unsupported content type 'image/png'"
    assert by_name["loop"].error == "more than 5 redirects"


async def test_http_refused_connection_is_per_document(site: str) -> None:
    dead = BackgroundServer(_site())
    dead.start()
    dead_url = dead.url
    dead.stop()
    found = await _fetch({"http": {"urls": [f"{dead_url}/ajuda/entrega", f"{site}/ajuda/entrega"]}})
    assert found[0].error == "request failed: ConnectError"
    assert found[1].error is None


async def test_http_include_filters_before_fetching(site: str) -> None:
    found = await _fetch(
        {"http": {"urls": [f"{site}/ajuda/entrega", f"{site}/ajuda/missing"]}},
        exclude=["**/missing"],
    )
    assert [raw.uri for raw in found] == [f"{site}/ajuda/entrega"]


# -- spec -----------------------------------------------------------------------------------


def test_spec_from_the_custom_resource_json() -> None:
    spec = KnowledgeSourceSpec.from_json(
        '{"source": {"http": {"urls": ["https://cienty.com.br/ajuda/entrega"]}},'
        ' "include": ["**/*"], "schedule": "0 3 * * *",'
        ' "chunking": {"maxTokens": 120, "overlapTokens": 30},'
        ' "embedding": {"model": null, "endpoint": "http://llm-serve-svc:8000/embeddings/v1"},'
        ' "collection": "cienty_knowledge", "language": "pt"}'
    )
    assert spec.source.kind == "http"
    assert spec.chunking.max_tokens == 120
    assert spec.chunking.overlap_tokens == 30
    assert str(spec.embedding.endpoint) == "http://llm-serve-svc:8000/embeddings/v1"
    assert spec.to_wire()["chunking"] == {"maxTokens": 120, "overlapTokens": 30}
    defaults = KnowledgeSourceSpec.model_validate({"source": {"configMap": {"name": "cm"}}})
    assert defaults.source.kind == "configMap"
    assert (defaults.collection, defaults.language, defaults.include) == (
        "cienty_knowledge",
        "pt",
        [],
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"source": {}}, "exactly one of"),
        ({"source": {"inline": {"documents": [{"name": "a", "content": "b"}]},
                     "directory": {"path": "/x"}}}, "got directory, inline"),
        ({"source": {"directory": {"path": "/x"}}, "exlude": []}, "exlude"),
        ({"source": {"directory": {"path": "/x"}},
          "chunking": {"maxTokens": 100, "overlapTokens": 100}}, "below maxTokens"),
        ({"source": {"directory": {"path": "/x"}}, "collection": "Bad-Name"}, "collection"),
        ({"source": {"http": {"urls": []}}}, "urls"),
    ],
)  # fmt: skip
def test_spec_validation_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KnowledgeSourceSpec.model_validate(spec)


async def test_configmap_source_in_the_worker_says_what_to_do() -> None:
    with pytest.raises(SourceError, match="directory"):
        await _fetch({"configMap": {"name": "cm"}})
