"""A minimal HTTP/1.1 client for the gateway benchmark: keep-alive connections over asyncio
streams, one request at a time each, opened as the load needs them.

A general client (httpx) spends several times the CPU per request of the servers it measures,
on a machine the load generator shares with them; this one only writes pre-built request
bytes and reads a status line, headers and a Content-Length body.
"""

from __future__ import annotations

import asyncio
import time

# uvicorn closes a keep-alive connection idle for 5 s (`timeout_keep_alive`): one idle for longer
# than this is not reused (it would fail with IncompleteReadError).
MAX_IDLE_S = 4.0


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.reusable = True
        self.idle_since = time.monotonic()

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> int:
        """Sends one whole request; returns the response's status after reading its body."""
        self._writer.write(data)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                self.reusable = False
        if length:
            await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        self._writer.close()


class Pool:
    """Idle connections are reused; a request finding none opens one more."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[Connection] = []
        self.opened = 0

    async def request(self, data: bytes) -> int:
        connection = None
        while self._idle and connection is None:
            connection = self._idle.pop()
            if time.monotonic() - connection.idle_since > MAX_IDLE_S:
                connection.close()
                connection = None
        if connection is None:
            connection = await Connection.open(self.host, self.port)
            self.opened += 1
        try:
            status = await connection.request(data)
        except BaseException:  # also a cancelled (timed-out) request: its bytes may still come
            connection.close()
            raise
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return status

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


def post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of a `POST` with a body."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        *(f"{name}: {value}" for name, value in headers.items()),
        f"Content-Length: {len(body)}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("latin-1") + body
