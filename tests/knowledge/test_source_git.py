"""The git source against a repository built in the test with dulwich (no network, no git)."""

from __future__ import annotations

import base64
import http.server
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dulwich import porcelain
from dulwich.objects import Commit, ObjectID, Tag
from dulwich.refs import Ref
from dulwich.repo import Repo

from cienty_knowledge.sources import RawDocument, Selection, SourceError, fetch_documents, git
from cienty_knowledge.spec import GitSource, SourceSpec

AUTHOR = b"Cienty Docs <docs@cienty.com.br>"


@dataclass(frozen=True)
class Origin:
    path: Path
    first: str  # commit on the "release" branch and the "v1" tag
    second: str  # commit on "main"

    @property
    def url(self) -> str:
        return self.path.as_uri()


def _commit(repo: Repo, root: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    porcelain.add(repo, paths=[str(root / name) for name in files])
    sha: bytes = porcelain.commit(repo, message=message.encode(), author=AUTHOR, committer=AUTHOR)
    return sha.decode()


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    """main: two commits; release and the annotated tag v1: the first one."""
    root = tmp_path_factory.mktemp("origin")
    with porcelain.init(str(root)) as repo:
        first = _commit(
            repo,
            root,
            {
                "README.md": "# Repo\n",
                "docs/entrega.md": "# Entrega v1\n",
                "docs/guias/devolucao.md": "# Devolucao\n",
            },
            "first",
        )
        second = _commit(
            repo,
            root,
            {
                "docs/entrega.md": "# Entrega v2\n",
                "docs/guias/fiscal.txt": "NF-e\n",
                "docs/guias/rascunho.md": "# Rascunho\n",
                "docs/.github/template.md": "# hidden\n",
                "docs/logo.svg": "<svg/>",
            },
            "second",
        )
        tag = Tag()
        tag.name = b"v1"
        tag.object = (Commit, ObjectID(first.encode()))
        tag.tagger = AUTHOR
        tag.tag_time = 1_700_000_000
        tag.tag_timezone = 0
        tag.message = b"v1\n"
        repo.object_store.add_object(tag)
        repo.refs[Ref(b"refs/tags/v1")] = tag.id
        repo.refs[Ref(b"refs/heads/main")] = ObjectID(second.encode())
        repo.refs[Ref(b"refs/heads/release")] = ObjectID(first.encode())
        repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(b"refs/heads/main"))
        del repo.refs[Ref(b"refs/heads/master")]
    return Origin(root, first, second)


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where the source's temporary directories go, to see that none is left behind."""
    directory = tmp_path / "scratch"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def collect(spec: GitSource, selection: Selection | None = None) -> list[RawDocument]:
    return [raw async for raw in git.fetch(spec, selection or Selection())]


async def test_branch_path_and_a_uri_stable_across_commits(origin: Origin, scratch: Path) -> None:
    documents = await collect(GitSource(repository=origin.url, ref="main", path="docs"))

    assert [raw.name for raw in documents] == [
        "entrega.md",
        "guias/devolucao.md",
        "guias/fiscal.txt",
        "guias/rascunho.md",
    ]  # hidden entries and extensions no loader reads are skipped
    by_name = {raw.name: raw for raw in documents}
    assert by_name["entrega.md"].data == b"# Entrega v2\n"
    assert by_name["entrega.md"].format == "markdown"
    assert by_name["guias/fiscal.txt"].format == "text"
    assert by_name["guias/devolucao.md"].uri == (f"{origin.url}@main:docs/guias/devolucao.md")
    assert by_name["guias/devolucao.md"].metadata["commit"] == origin.second
    assert leftovers(scratch) == []


async def test_tag_and_other_branch(origin: Origin, scratch: Path) -> None:
    for ref in ("v1", "release", "refs/tags/v1"):
        documents = await collect(GitSource(repository=str(origin.path), ref=ref))

        assert [raw.name for raw in documents] == [
            "README.md",
            "docs/entrega.md",
            "docs/guias/devolucao.md",
        ], ref
        assert documents[1].data == b"# Entrega v1\n"
        assert documents[1].uri == f"{origin.path}@{ref}:docs/entrega.md"
        assert documents[1].metadata["commit"] == origin.first
    assert leftovers(scratch) == []


async def test_default_branch_and_a_single_file(origin: Origin) -> None:
    documents = await collect(GitSource(repository=origin.url, ref="HEAD", path="/docs/entrega.md"))

    assert [(raw.name, raw.uri) for raw in documents] == [
        ("entrega.md", f"{origin.url}@HEAD:docs/entrega.md")
    ]


async def test_globs_on_names_relative_to_the_path(origin: Origin) -> None:
    selection = Selection(include=("**/*.md",), exclude=("guias/rascunho.md",))

    documents = await collect(GitSource(repository=origin.url, path="docs/"), selection)

    assert [raw.name for raw in documents] == ["entrega.md", "guias/devolucao.md"]


async def test_shallow_fetch_of_one_ref(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, set[str]] = {}
    read = git._read

    def spy(repo: Repo, blob_id: ObjectID) -> bytes:
        seen["objects"] = {sha.decode() for sha in repo.object_store}
        return read(repo, blob_id)

    monkeypatch.setattr(git, "_read", spy)

    await collect(GitSource(repository=origin.url, ref="main"))

    assert origin.second in seen["objects"]
    assert origin.first not in seen["objects"]  # depth 1: not the parent commit


async def test_unknown_ref_is_a_source_error(origin: Origin, scratch: Path) -> None:
    with pytest.raises(SourceError, match=r"ref 'nope' not found .*branches: main, release"):
        await collect(GitSource(repository=origin.url, ref="nope"))
    assert leftovers(scratch) == []


async def test_missing_path_is_a_source_error(origin: Origin, scratch: Path) -> None:
    with pytest.raises(SourceError, match="path 'manual' not found"):
        await collect(GitSource(repository=origin.url, path="manual"))
    with pytest.raises(SourceError, match=r"path 'README.md/x' not found"):
        await collect(GitSource(repository=origin.url, path="README.md/x"))
    assert leftovers(scratch) == []


async def test_unreachable_repository_is_a_source_error(tmp_path: Path, scratch: Path) -> None:
    with pytest.raises(SourceError, match="cannot fetch"):
        await collect(GitSource(repository=str(tmp_path / "missing")))
    assert leftovers(scratch) == []


async def test_stopping_early_removes_the_clone(origin: Origin, scratch: Path) -> None:
    stream = git.fetch(GitSource(repository=origin.url), Selection())
    first = await anext(stream)
    assert len(leftovers(scratch)) == 1  # the clone, while documents are read
    await stream.aclose()

    assert first.name == "README.md"
    assert leftovers(scratch) == []


async def test_registered(origin: Origin) -> None:
    source = SourceSpec.model_validate({"git": {"repository": origin.url, "path": "docs"}})

    documents = [raw async for raw in fetch_documents(source, Selection(include=("*.md",)))]

    assert [raw.name for raw in documents] == ["entrega.md"]


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    authorization: list[str | None]

    def do_GET(self) -> None:
        self.authorization.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []
    handler = type("Handler", (_Unauthorized,), {"authorization": seen})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/cienty/docs.git", seen
        server.shutdown()
        thread.join()


async def test_https_credentials_from_the_environment_are_sent_not_shown(
    refusing_server: tuple[str, list[str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = refusing_server
    monkeypatch.setenv("CIENTY_GIT_TOKEN", "s3cr3t-token")
    monkeypatch.delenv("CIENTY_GIT_USERNAME", raising=False)

    with pytest.raises(SourceError, match="CIENTY_GIT_TOKEN") as raised:
        await collect(GitSource(repository=url))

    expected = "Basic " + base64.b64encode(b"x-access-token:s3cr3t-token").decode()
    assert expected in seen
    assert "s3cr3t" not in str(raised.value)


async def test_credentials_in_the_repository_url_stay_out_of_uris(origin: Origin) -> None:
    assert git.shown_repository("https://bot:tok3n@git.example.com:8443/a/b.git") == (
        "https://git.example.com:8443/a/b.git"
    )
    assert (
        git.shown_repository("git@github.com:cienty/docs.git") == "git@github.com:cienty/docs.git"
    )
    assert git.shown_repository(origin.url) == origin.url
