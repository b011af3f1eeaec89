"""An in-process Kubernetes API stand-in: the real REST paths and JSON for what the operator
and Kopf touch, served by aiohttp from its own thread and event loop.

What it implements: discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}/{v}`); for each
known resource GET/LIST (labelSelector)/WATCH (`?watch=true`, JSON lines, resourceVersion
replay, timeoutSeconds), POST (201, 409 AlreadyExists Status, generateName), PATCH (merge patch
only: `application/merge-patch+json`; strategic merge is refused with 415 on custom resources
as a real server does), DELETE (finalizers: deletionTimestamp set and the object kept until
they are gone; then owner-reference garbage collection); the status subresource (the main
endpoint ignores `status`, `/status` only takes `status`); `metadata.generation` bumped on spec
changes; pod logs. Tests drive it from their thread through the helper methods.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Kind:
    prefix: str  # "/api/v1" or "/apis/{group}/{version}"
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False
    custom: bool = False  # custom resources refuse strategic merge patches

    @property
    def api_version(self) -> str:
        return self.prefix.removeprefix("/apis/").removeprefix("/api/")


KINDS = [
    Kind("/api/v1", "pods", "Pod", status_subresource=True),
    Kind("/api/v1", "events", "Event"),
    Kind("/api/v1", "configmaps", "ConfigMap"),
    Kind("/apis/batch/v1", "jobs", "Job", status_subresource=True),
    Kind(
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        status_subresource=True,
    ),
    Kind(
        "/apis/knowledge.cienty.io/v1alpha1",
        "knowledgesources",
        "KnowledgeSource",
        status_subresource=True,
        custom=True,
    ),
    # Last: "/api/v1/namespaces/{ns}/pods" must match pods, not a namespace's subresource.
    Kind("/api/v1", "namespaces", "Namespace", namespaced=False, status_subresource=True),
]
_BY_PATH = {(k.prefix, k.plural): k for k in KINDS}
Key = tuple[str, str, str | None, str]  # prefix, plural, namespace, name


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class PatchConflict(Exception):
    """A JSON patch `test` op failed (the API answers 422)."""


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, test (what Kopf sends)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = _pointer(op["path"])
        if op["op"] == "test":
            node = doc
            for part in parts:
                node = node[int(part)] if isinstance(node, list) else node.get(part)
            if node != op["value"]:
                raise PatchConflict(f"test failed at {op['path']}")
            continue
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif op["op"] == "remove":
                parent.pop(index)
            else:
                parent[index] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            parent.pop(last, None)
        else:
            parent[last] = copy.deepcopy(op["value"])
    return doc


def matches_selector(labels: Mapping[str, str], selector: str | None) -> bool:
    for term in (selector or "").split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


@dataclass
class _Watcher:
    kind: Kind
    namespace: str | None
    selector: str | None
    queue: asyncio.Queue[dict[str, Any]]


class FakeKubernetes:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._history: list[tuple[int, Kind, str, dict[str, Any]]] = []
        self._rv = itertools.count(1000)
        self._last_rv = 999
        self._watchers: list[_Watcher] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self.requests: list[tuple[str, str]] = []  # (method, path?query)
        self.deletions: list[tuple[str, str, str | None]] = []  # (plural, name, propagation)
        self.url = ""
        self._logs: dict[tuple[str, str], str] = {}  # (namespace, pod) -> log text
        self.create("/api/v1", "namespaces", {"metadata": {"name": "default"}})

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._stopping = asyncio.Event()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, shutdown_timeout=1.0)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            loop.run_until_complete(self._stopping.wait())
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-kube", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop(self) -> None:
        if self._loop and self._stopping:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread:
            self._thread.join(10)

    # ------------------------------------------------------------------ store
    def _next_rv(self) -> str:
        self._last_rv = next(self._rv)
        return str(self._last_rv)

    def _emit(self, kind: Kind, event_type: str, obj: dict[str, Any]) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        snapshot = copy.deepcopy(obj)
        self._history.append((rv, kind, event_type, snapshot))
        for watcher in self._watchers:
            if self._watch_matches(watcher, kind, snapshot) and self._loop:
                event = {"type": event_type, "object": snapshot}
                self._loop.call_soon_threadsafe(watcher.queue.put_nowait, event)

    @staticmethod
    def _watch_matches(watcher: _Watcher, kind: Kind, obj: Mapping[str, Any]) -> bool:
        meta = obj["metadata"]
        return (
            watcher.kind == kind
            and (watcher.namespace is None or meta.get("namespace") == watcher.namespace)
            and matches_selector(meta.get("labels") or {}, watcher.selector)
        )

    def create(
        self, prefix: str, plural: str, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Create; raises KeyError('exists') on a name clash."""
        kind = _BY_PATH[(prefix, plural)]
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        with self._lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            ns = (namespace or meta.get("namespace") or "default") if kind.namespaced else None
            key: Key = (prefix, plural, ns, meta["name"])
            if key in self._objects:
                raise KeyError("exists")
            if ns:
                meta["namespace"] = ns
            meta.update(
                uid=str(uuid.uuid4()),
                creationTimestamp=_now(),
                resourceVersion=self._next_rv(),
                generation=1,
            )
            obj["apiVersion"] = kind.api_version
            obj["kind"] = kind.kind
            self._objects[key] = obj
            self._emit(kind, "ADDED", obj)
            return copy.deepcopy(obj)

    def get(
        self, prefix: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((prefix, plural, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def items(
        self, prefix: str, plural: str, namespace: str | None = None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (p, pl, ns, _), obj in sorted(self._objects.items(), key=lambda kv: str(kv[0]))
                if p == prefix
                and pl == plural
                and (namespace is None or ns == namespace)
                and matches_selector(obj["metadata"].get("labels") or {}, selector)
            ]

    def patch(
        self,
        prefix: str,
        plural: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any] | list[dict[str, Any]],
        subresource: str | None = None,
    ) -> dict[str, Any] | None:
        kind = _BY_PATH[(prefix, plural)]
        with self._lock:
            key: Key = (prefix, plural, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                return None
            if isinstance(patch, list):
                updated = json_patch(obj, patch)
            else:
                updated = merge_patch(obj, dict(patch))
            # The status subresource: each endpoint changes only its own part.
            if subresource == "status":
                updated = {**copy.deepcopy(obj), "status": updated.get("status")}
            elif kind.status_subresource:
                updated["status"] = copy.deepcopy(obj.get("status"))
            if updated.get("status") is None:
                updated.pop("status", None)
            for immutable in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if immutable in obj["metadata"]:
                    updated["metadata"][immutable] = obj["metadata"][immutable]
                else:
                    updated["metadata"].pop(immutable, None)
            if updated.get("spec") != obj.get("spec"):
                updated["metadata"]["generation"] = int(obj["metadata"]["generation"]) + 1
            if updated == obj:
                return copy.deepcopy(obj)
            updated["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[key] = updated
            if updated["metadata"].get("deletionTimestamp") and not updated["metadata"].get(
                "finalizers"
            ):
                self._remove(kind, key)
            else:
                self._emit(kind, "MODIFIED", updated)
            result: dict[str, Any] = copy.deepcopy(updated)
            return result

    def delete(
        self,
        prefix: str,
        plural: str,
        namespace: str | None,
        name: str,
        propagation: str | None = None,
    ) -> dict[str, Any] | None:
        kind = _BY_PATH[(prefix, plural)]
        with self._lock:
            key: Key = (prefix, plural, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                return None
            self.deletions.append((plural, name, propagation))
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = _now()
                    obj["metadata"]["resourceVersion"] = self._next_rv()
                    self._emit(kind, "MODIFIED", obj)
                return copy.deepcopy(obj)
            self._remove(kind, key)
            return copy.deepcopy(obj)

    def _remove(self, kind: Kind, key: Key) -> None:
        obj = self._objects.pop(key)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(kind, "DELETED", obj)
        uid = obj["metadata"]["uid"]
        # Garbage collection of dependents (Background propagation).
        for other_key, other in list(self._objects.items()):
            owners = other["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == uid for ref in owners) and other_key in self._objects:
                self._remove(_BY_PATH[(other_key[0], other_key[1])], other_key)

    # ------------------------------------------------------------------ test helpers
    def jobs(self, namespace: str = "default", selector: str | None = None) -> list[dict[str, Any]]:
        return self.items("/apis/batch/v1", "jobs", namespace, selector)

    def source(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.get("/apis/knowledge.cienty.io/v1alpha1", "knowledgesources", namespace, name)

    def create_source(
        self, name: str, spec: Mapping[str, Any], namespace: str = "default"
    ) -> dict[str, Any]:
        body = {"metadata": {"name": name, "namespace": namespace}, "spec": dict(spec)}
        return self.create("/apis/knowledge.cienty.io/v1alpha1", "knowledgesources", body)

    def patch_source(self, name: str, patch: Mapping[str, Any], namespace: str = "default") -> None:
        self.patch("/apis/knowledge.cienty.io/v1alpha1", "knowledgesources", namespace, name, patch)

    def delete_source(self, name: str, namespace: str = "default") -> None:
        self.delete("/apis/knowledge.cienty.io/v1alpha1", "knowledgesources", namespace, name)

    def run_job(self, name: str, namespace: str = "default") -> None:
        """What the Job controller does when the pod starts."""
        self.patch(
            "/apis/batch/v1",
            "jobs",
            namespace,
            name,
            {"status": {"active": 1, "ready": 1, "startTime": _now()}},
            subresource="status",
        )

    def finish_job(
        self,
        name: str,
        *,
        succeeded: bool,
        message: str,
        namespace: str = "default",
        log: str = "",
    ) -> None:
        """The pod terminates with `message`; the Job is marked Complete or Failed."""
        job = self.get("/apis/batch/v1", "jobs", namespace, name)
        assert job is not None, f"no Job {name}"
        pod = {
            "metadata": {
                "name": f"{name}-{uuid.uuid4().hex[:5]}",
                "labels": {
                    "job-name": name,
                    "batch.kubernetes.io/job-name": name,
                    **(job["metadata"].get("labels") or {}),
                },
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": name,
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": job["spec"]["template"]["spec"],
        }
        created = self.create("/api/v1", "pods", pod, namespace)
        self._logs[(namespace, created["metadata"]["name"])] = log
        terminated = {
            "exitCode": 0 if succeeded else 1,
            "reason": "Completed" if succeeded else "Error",
            "message": message,
            "startedAt": _now(),
            "finishedAt": _now(),
        }
        self.patch(
            "/api/v1",
            "pods",
            namespace,
            created["metadata"]["name"],
            {
                "status": {
                    "phase": "Succeeded" if succeeded else "Failed",
                    "containerStatuses": [
                        {
                            "name": "ingest",
                            "ready": False,
                            "restartCount": 0,
                            "image": "x",
                            "imageID": "x",
                            "state": {"terminated": terminated},
                        }
                    ],
                }
            },
            subresource="status",
        )
        condition = {
            "type": "Complete" if succeeded else "Failed",
            "status": "True",
            "reason": "Completed" if succeeded else "BackoffLimitExceeded",
            "message": "" if succeeded else "Job has reached the specified backoff limit",
            "lastTransitionTime": _now(),
        }
        job_status: dict[str, Any] = {
            "active": None,
            "ready": 0,
            "conditions": [condition],
            ("succeeded" if succeeded else "failed"): 1,
        }
        if succeeded:
            job_status["completionTime"] = _now()
        self.patch(
            "/apis/batch/v1", "jobs", namespace, name, {"status": job_status}, subresource="status"
        )

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        path = request.path.rstrip("/")
        discovery = self._discovery(path)
        if discovery is not None:
            return web.json_response(discovery)
        parsed = self._parse(path)
        if parsed is None:
            return _status(404, "NotFound", f"the server could not find {path}")
        kind, namespace, name, subresource = parsed
        query = request.query
        if request.method == "GET" and name is None:
            if query.get("watch") in ("true", "1"):
                return await self._watch(request, kind, namespace)
            return self._list(kind, namespace, query.get("labelSelector"))
        if request.method == "GET" and name and subresource == "log":
            log = self._logs.get((namespace or "", name), "")
            tail = int(query.get("tailLines", "0") or 0)
            lines = log.splitlines()[-tail:] if tail else log.splitlines()
            return web.Response(text="\n".join(lines), content_type="text/plain")
        if request.method == "GET" and name:
            obj = self.get(kind.prefix, kind.plural, namespace, name)
            if obj is None:
                return _status(404, "NotFound", f'{kind.plural} "{name}" not found')
            return web.json_response(obj)
        if request.method == "POST" and name is None:
            body = await request.json()
            try:
                created = self.create(kind.prefix, kind.plural, body, namespace)
            except KeyError:
                meta_name = body.get("metadata", {}).get("name")
                return _status(409, "AlreadyExists", f'{kind.plural} "{meta_name}" already exists')
            return web.json_response(created, status=201)
        if request.method == "PATCH" and name:
            content_type = request.headers.get("Content-Type", "")
            allowed = ["application/merge-patch+json", "application/json-patch+json"]
            if not kind.custom:
                allowed.append("application/strategic-merge-patch+json")
            if content_type not in allowed:
                return _status(415, "UnsupportedMediaType", f"unsupported patch {content_type}")
            try:
                patched = self.patch(
                    kind.prefix, kind.plural, namespace, name, await request.json(), subresource
                )
            except PatchConflict as error:
                return _status(422, "Invalid", str(error))
            if patched is None:
                return _status(404, "NotFound", f'{kind.plural} "{name}" not found')
            return web.json_response(patched)
        if request.method == "DELETE" and name:
            propagation = query.get("propagationPolicy")
            if request.can_read_body:
                options = await request.json()
                propagation = options.get("propagationPolicy", propagation)
            deleted = self.delete(kind.prefix, kind.plural, namespace, name, propagation)
            if deleted is None:
                return _status(404, "NotFound", f'{kind.plural} "{name}" not found')
            return web.json_response(deleted)
        return _status(405, "MethodNotAllowed", f"{request.method} {path}")

    def _parse(self, path: str) -> tuple[Kind, str | None, str | None, str | None] | None:
        for kind in KINDS:
            if not path.startswith(kind.prefix + "/"):
                continue
            rest = path[len(kind.prefix) + 1 :].split("/")
            namespace = None
            if rest[0] == "namespaces" and len(rest) >= 3 and kind.plural != "namespaces":
                namespace, rest = rest[1], rest[2:]
            if rest[0] != kind.plural:
                continue
            name = rest[1] if len(rest) > 1 else None
            subresource = rest[2] if len(rest) > 2 else None
            return kind, namespace, name, subresource
        return None

    def _list(self, kind: Kind, namespace: str | None, selector: str | None) -> web.Response:
        with self._lock:
            items = self.items(kind.prefix, kind.plural, namespace, selector)
            rv = str(self._last_rv)
        return web.json_response(
            {
                "kind": f"{kind.kind}List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            }
        )

    async def _watch(
        self, request: web.Request, kind: Kind, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        since = query.get("resourceVersion")
        timeout = float(query.get("timeoutSeconds", "0") or 0)
        watcher = _Watcher(kind, namespace, query.get("labelSelector"), asyncio.Queue())
        with self._lock:
            if since:
                backlog = [
                    {"type": t, "object": copy.deepcopy(o)}
                    for rv, k, t, o in self._history
                    if rv > int(since) and self._watch_matches(watcher, k, o)
                ]
            else:
                backlog = [
                    {"type": "ADDED", "object": o}
                    for o in self.items(kind.prefix, kind.plural, namespace, watcher.selector)
                ]
            self._watchers.append(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        stopping = self._stopping
        assert stopping is not None
        try:
            for event in backlog:
                await response.write(json.dumps(event).encode() + b"\n")
            while not stopping.is_set():
                if deadline is not None and loop.time() >= deadline:
                    break
                if request.transport is None or request.transport.is_closing():
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), 0.5)
                except TimeoutError:
                    continue
                await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            with self._lock:
                self._watchers.remove(watcher)
        return response

    def _discovery(self, path: str) -> dict[str, Any] | None:
        if path == "/version":
            return {
                "major": "1",
                "minor": "33",
                "gitVersion": "v1.33.0-fake",
                "platform": "linux/amd64",
            }
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups: dict[str, str] = {}
            for kind in KINDS:
                if kind.prefix.startswith("/apis/"):
                    group, version = kind.prefix.removeprefix("/apis/").split("/")
                    groups[group] = version
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": group,
                        "versions": [{"groupVersion": f"{group}/{v}", "version": v}],
                        "preferredVersion": {"groupVersion": f"{group}/{v}", "version": v},
                    }
                    for group, v in groups.items()
                ],
            }
        kinds = [k for k in KINDS if k.prefix == path]
        if not kinds:
            return None
        resources: list[dict[str, Any]] = []
        for kind in kinds:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            resources.append(
                {
                    "name": kind.plural,
                    "singularName": kind.kind.lower(),
                    "namespaced": kind.namespaced,
                    "kind": kind.kind,
                    "verbs": verbs,
                    **({"shortNames": ["ks"], "categories": ["cienty"]} if kind.custom else {}),
                }
            )
            if kind.status_subresource:
                resources.append(
                    {
                        "name": f"{kind.plural}/status",
                        "singularName": "",
                        "namespaced": kind.namespaced,
                        "kind": kind.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
            if kind.plural == "pods":
                resources.append(
                    {
                        "name": "pods/log",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": ["get"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": path.removeprefix("/apis/").removeprefix("/api/"),
            "resources": resources,
        }


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, message: str = "condition"
) -> Any:
    """Poll until `predicate()` is truthy (returns it); generous for a loaded machine."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.05)
