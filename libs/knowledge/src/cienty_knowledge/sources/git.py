"""Files of a git repository at a branch or tag, fetched with dulwich (no git binary).

Only the one ref is fetched, at depth 1, into a bare repository in a temporary directory that
is removed when the iteration ends; files are read from the commit's tree (no working copy).
`ref` is a branch or tag name (a branch wins when both exist, as with `git clone --branch`),
a full ref ("refs/heads/main") or "HEAD" (the remote's default branch).

Names for include/exclude are paths relative to `path` ("guias/entrega.md"), as in the
directory source: entries whose name starts with "." are skipped, so are symlinks and
submodules, and only files whose extension a loader knows are read. The uri is
`<repository>@<ref>:<path in the repository>`: stable across commits, so a new commit
re-embeds only the files whose content changed (chunk ids include the uri), and a file that
fails to load keeps its previous chunks. The commit sha is in each document's metadata.

HTTPS credentials come from `CIENTY_GIT_USERNAME` / `CIENTY_GIT_TOKEN` (the username defaults
to "x-access-token", which GitHub and most forges accept with a token); they are never put in
a uri, a log line or an error message, and credentials written in `repository` itself are
removed from uris and messages. An unreachable repository, refused credentials, an unknown ref
or a missing `path` is a `SourceError`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
from dulwich.client import HTTPUnauthorized, default_urllib3_manager, get_transport_and_path
from dulwich.config import ConfigDict
from dulwich.errors import WrongObjectException
from dulwich.object_store import iter_tree_contents, peel_sha
from dulwich.objects import Blob, Commit, ObjectID, SubmoduleEncountered, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo
from urllib3 import BaseHTTPResponse

from cienty_knowledge.loaders import format_for_name
from cienty_knowledge.sources.base import MAX_DOCUMENT_BYTES, RawDocument, Selection, SourceError
from cienty_knowledge.spec import GitSource

USERNAME_ENV = "CIENTY_GIT_USERNAME"
TOKEN_ENV = "CIENTY_GIT_TOKEN"
DEFAULT_USERNAME = "x-access-token"
HTTP_TIMEOUT_SECONDS = 60


class _PoolManager(urllib3.PoolManager):
    """Keeps the responses it opens, to close them: dulwich leaves some open (a 401's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened: list[BaseHTTPResponse] = []

    def urlopen(  # type: ignore[override]  # the signature of urllib3's own override
        self, method: str, url: str, redirect: bool = True, **kwargs: Any
    ) -> BaseHTTPResponse:
        response = super().urlopen(method, url, redirect=redirect, **kwargs)
        self.opened.append(response)
        return response


class _ProxyManager(urllib3.ProxyManager):
    """_PoolManager behind an HTTP(S) proxy (`https_proxy` and friends)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened: list[BaseHTTPResponse] = []

    def urlopen(  # type: ignore[override]  # the signature of urllib3's own override
        self, method: str, url: str, redirect: bool = True, **kwargs: Any
    ) -> BaseHTTPResponse:
        response = super().urlopen(method, url, redirect=redirect, **kwargs)
        self.opened.append(response)
        return response


def _http_manager(repository: str, config: ConfigDict) -> _PoolManager | _ProxyManager | None:
    if urlsplit(repository).scheme not in ("http", "https"):
        return None
    manager = default_urllib3_manager(
        config,
        pool_manager_cls=_PoolManager,
        proxy_manager_cls=_ProxyManager,
        base_url=repository,
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert isinstance(manager, _PoolManager | _ProxyManager)
    return manager


def _close(manager: _PoolManager | _ProxyManager | None) -> None:
    if manager is not None:
        for response in manager.opened:
            response.close()
        manager.clear()


@dataclass(frozen=True)
class _Entry:
    name: str  # relative to spec.path: what globs match
    path: str  # in the repository: what the uri names
    blob: ObjectID


@dataclass
class _Checkout:
    repo: Repo
    commit: str
    entries: list[_Entry]


def shown_repository(repository: str) -> str:
    """The repository without credentials written in its URL."""
    parts = urlsplit(repository)
    if parts.scheme and (parts.username is not None or parts.password is not None):
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return repository


def _credentials(repository: str) -> tuple[str | None, str | None]:
    """(username, token) for an HTTPS repository when the environment has a token."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token or urlsplit(repository).scheme not in ("http", "https"):
        return None, None
    return os.environ.get(USERNAME_ENV, "") or DEFAULT_USERNAME, token


def _redact(text: str, repository: str, token: str | None) -> str:
    text = text.replace(repository, shown_repository(repository))
    if token:
        text = text.replace(token, "***")
    parts = urlsplit(repository)
    if parts.password:
        text = text.replace(parts.password, "***")
    return text


def _candidates(ref: str) -> list[bytes]:
    name = ref.encode()
    if ref == "HEAD" or ref.startswith("refs/"):
        return [name]
    return [b"refs/heads/" + name, b"refs/tags/" + name]


def _known_refs(refs: Mapping[Ref, ObjectID | None]) -> str:
    def names(prefix: bytes) -> str:
        found = sorted(
            ref[len(prefix) :].decode(errors="replace")
            for ref in refs
            if ref.startswith(prefix) and not ref.endswith(b"^{}")
        )
        more = f", … ({len(found) - 10} more)" if len(found) > 10 else ""
        return ", ".join(found[:10]) + more or "none"

    return f"branches: {names(b'refs/heads/')}; tags: {names(b'refs/tags/')}"


def _visible(path: str) -> bool:
    return not any(part.startswith(".") for part in path.split("/"))


def _checkout(spec: GitSource, workdir: str) -> _Checkout:
    """Blocking: fetch the ref at depth 1 into a bare repository and list the files."""
    shown = shown_repository(spec.repository)
    username, token = _credentials(spec.repository)
    config = ConfigDict()
    manager = _http_manager(spec.repository, config)
    wanted: list[ObjectID] = []
    advertised: dict[Ref, ObjectID | None] = {}

    def determine_wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        advertised.update(refs)
        for candidate in _candidates(spec.ref):
            sha = refs.get(Ref(candidate))
            if sha is not None:
                wanted.append(sha)
                return [sha]
        return []

    repo = Repo.init_bare(workdir)
    try:
        try:
            client, remote_path = get_transport_and_path(
                spec.repository,
                config=config,
                username=username,
                password=token,
                pool_manager=manager,
            )
            client.fetch(remote_path, repo, determine_wants=determine_wants, depth=1)
        except HTTPUnauthorized as error:
            raise SourceError(
                f"cannot fetch {shown}: authentication refused or required "
                f"(set {USERNAME_ENV}/{TOKEN_ENV})"
            ) from error
        except Exception as error:  # dulwich, urllib3 and OS errors: the source's failure
            reason = _redact(f"{type(error).__name__}: {error}", spec.repository, token)
            # Credentials written in the URL could show in the cause's traceback: drop it then.
            cause = error if shown == spec.repository else None
            raise SourceError(f"cannot fetch {shown}: {reason}") from cause
        if not wanted:
            raise SourceError(f"ref {spec.ref!r} not found in {shown} ({_known_refs(advertised)})")
        return _list(spec, repo, wanted[0])
    except BaseException:
        repo.close()
        raise
    finally:
        _close(manager)


def _list(spec: GitSource, repo: Repo, sha: ObjectID) -> _Checkout:
    shown = shown_repository(spec.repository)
    store = repo.object_store
    _, commit = peel_sha(store, sha)
    if not isinstance(commit, Commit):
        raise SourceError(f"ref {spec.ref!r} of {shown} is not a commit")
    root = spec.path.strip("/")
    mode, tree_id = stat.S_IFDIR, commit.tree
    if root:
        tree = store[commit.tree]
        assert isinstance(tree, Tree)
        try:
            mode, tree_id = tree.lookup_path(store.__getitem__, root.encode())
        except (KeyError, ValueError, WrongObjectException, SubmoduleEncountered) as error:
            raise SourceError(
                f"path {root!r} not found in {shown} at {spec.ref} ({commit.id.decode()})"
            ) from error
    entries: list[_Entry] = []
    if stat.S_ISREG(mode):
        name = root.rsplit("/", 1)[-1]
        entries.append(_Entry(name=name, path=root, blob=tree_id))
    elif stat.S_ISDIR(mode):
        for item in iter_tree_contents(store, tree_id):
            if not stat.S_ISREG(item.mode):
                continue  # symlinks, submodules
            name = item.path.decode(errors="replace")
            if _visible(name):
                entries.append(_Entry(name, f"{root}/{name}" if root else name, item.sha))
    else:
        raise SourceError(f"path {root!r} in {shown} is neither a file nor a directory")
    entries.sort(key=lambda entry: entry.name)
    return _Checkout(repo=repo, commit=commit.id.decode(), entries=entries)


def _read(repo: Repo, blob_id: ObjectID) -> bytes:
    blob = repo.object_store[blob_id]
    if not isinstance(blob, Blob):
        raise OSError("not a file")
    if blob.raw_length() > MAX_DOCUMENT_BYTES:
        raise OSError(f"larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
    return blob.as_raw_string()


def _cleanup(checkout: _Checkout | None, workdir: str) -> None:
    if checkout is not None:
        checkout.repo.close()
    shutil.rmtree(workdir, ignore_errors=True)


async def fetch(spec: GitSource, selection: Selection) -> AsyncGenerator[RawDocument, None]:
    """The selected files under `path` at `ref`, sorted by name."""
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="cienty-git-")
    checkout: _Checkout | None = None
    try:
        checkout = await asyncio.to_thread(_checkout, spec, workdir)
        prefix = f"{shown_repository(spec.repository)}@{spec.ref}:"
        for entry in checkout.entries:
            fmt = format_for_name(entry.name)
            if fmt is None or not selection.matches(entry.name):
                continue
            uri = prefix + entry.path
            metadata = {"commit": checkout.commit, "path": entry.path}
            try:
                data = await asyncio.to_thread(_read, checkout.repo, entry.blob)
            except (OSError, KeyError) as error:
                yield RawDocument(
                    name=entry.name,
                    uri=uri,
                    format=fmt,
                    error=f"cannot read: {error}",
                    metadata=metadata,
                )
                continue
            yield RawDocument(name=entry.name, uri=uri, data=data, format=fmt, metadata=metadata)
    finally:
        await asyncio.to_thread(_cleanup, checkout, workdir)
