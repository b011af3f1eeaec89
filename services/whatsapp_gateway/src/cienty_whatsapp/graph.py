"""The WhatsApp Cloud API (Graph API) as the gateway uses it: send, mark as read, media.

Errors are classified once, here, by Meta's error `code` (never its title):
- `retry`: throughput and transient server errors (HTTP 429/5xx, 4, 80007, 130429, 131000,
  131016, 131057, 1, 2) and a connection that was refused: the message was not accepted;
- `pair_rate`: 131056, too many messages to this recipient: wait, then retry;
- `window_closed`: 131047, outside the 24-hour customer-service window: a template may go;
- `permanent`: everything else (invalid number 131026, opted out 131050, template errors
  132xxx, invalid parameters 100, policy 368/131031...): recorded, never retried;
- `unknown`: the request may have reached Meta but no answer came (read timeout, connection
  dropped): for at-most-once sending this must not be retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

ErrorKind = Literal["retry", "pair_rate", "window_closed", "permanent", "unknown"]

RETRY_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131057})
PAIR_RATE_CODE = 131056
WINDOW_CLOSED_CODE = 131047
AUTH_CODES = frozenset({0, 190})

MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_BUTTON_BODY = 1024
MAX_LIST_ROWS = 10
MAX_LIST_ROW_TITLE = 24
MAX_LIST_ROW_ID = 200
MAX_LIST_BUTTON = 20
MAX_TEXT_BODY = 4096


class GraphError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        details: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{kind}: {message}" + (f" (code {code})" if code is not None else ""))
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.retry_after = retry_after

    @property
    def is_auth_failure(self) -> bool:
        return self.code in AUTH_CODES


def classify(status: int, body: Any, headers: Mapping[str, str] | None = None) -> GraphError:
    """The error of a non-2xx Graph API response."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message") or f"HTTP {status}")
    data = error.get("error_data")
    details = str(data.get("details") or "") if isinstance(data, dict) else ""
    retry_after = _retry_after(headers or {})
    kind: ErrorKind
    if code == PAIR_RATE_CODE:
        kind = "pair_rate"
    elif code == WINDOW_CLOSED_CODE:
        kind = "window_closed"
    elif code in RETRY_CODES or status == 429 or status >= 500:
        kind = "retry"
    else:
        kind = "permanent"
    return GraphError(
        kind, message, status=status, code=code, details=details, retry_after=retry_after
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    url: str
    mime_type: str
    sha256: str
    file_size: int


class GraphClient:
    def __init__(
        self,
        base_url: str,
        phone_number_id: str,
        access_token: str,
        *,
        timeout_seconds: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._phone_number_id = phone_number_id
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=httpx.Timeout(timeout_seconds, connect=5.0),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, payload: Mapping[str, Any]) -> str:
        """Sends one message; returns Meta's id for it (wamid)."""
        body = await self._post(f"{self._phone_number_id}/messages", payload)
        try:
            return str(body["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise GraphError("unknown", f"unexpected send response: {body!r}"[:300]) from None

    async def mark_read(self, wamid: str) -> None:
        await self._post(
            f"{self._phone_number_id}/messages",
            {"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )

    async def media_info(self, media_id: str) -> MediaInfo:
        body = await self._request("GET", media_id)
        return MediaInfo(
            url=str(body["url"]),
            mime_type=str(body.get("mime_type", "")),
            sha256=str(body.get("sha256", "")),
            file_size=int(body.get("file_size") or 0),
        )

    async def download(self, url: str, *, max_bytes: int) -> bytes:
        """The media's bytes (the URL is valid for 5 minutes and needs the token)."""
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise classify(response.status_code, _json(response), response.headers)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise GraphError("permanent", f"media larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout) as error:
            raise GraphError("retry", f"media download: {error!r}") from error

    async def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        return await self._request("POST", path, json=payload)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise GraphError("retry", f"cannot reach the Graph API: {error!r}") from error
        except httpx.TransportError as error:
            # The request may have been received: the caller must not assume it was not.
            raise GraphError("unknown", f"no answer from the Graph API: {error!r}") from error
        body = _json(response)
        if response.status_code >= 300:
            raise classify(response.status_code, body, response.headers)
        return body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


# ---------------------------------------------------------------------------- payloads


def text_message(to: str, body: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body[:MAX_TEXT_BODY]},
    }


def buttons_message(to: str, body: str, buttons: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Reply buttons: at most 3, titles up to 20 characters, body up to 1024."""
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"reply buttons: 1 to {MAX_BUTTONS}")
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body[:MAX_BUTTON_BODY]},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {"id": id_[:MAX_BUTTON_ID], "title": title[:MAX_BUTTON_TITLE]},
                    }
                    for id_, title in buttons
                ]
            },
        },
    }


def list_message(
    to: str, body: str, button: str, rows: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """A list (one section): at most 10 rows, row titles up to 24 characters."""
    if not 1 <= len(rows) <= MAX_LIST_ROWS:
        raise ValueError(f"list rows: 1 to {MAX_LIST_ROWS}")
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body[:MAX_TEXT_BODY]},
            "action": {
                "button": button[:MAX_LIST_BUTTON],
                "sections": [
                    {
                        "title": button[:MAX_LIST_ROW_TITLE],
                        "rows": [
                            {"id": id_[:MAX_LIST_ROW_ID], "title": title[:MAX_LIST_ROW_TITLE]}
                            for id_, title in rows
                        ],
                    }
                ],
            },
        },
    }


def template_message(
    to: str, name: str, language: str, parameters: Sequence[str]
) -> dict[str, Any]:
    """An approved template with positional body parameters."""
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
        ]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": template,
    }
