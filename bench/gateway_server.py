"""The two HTTP servers of the gateway benchmark, with the same uvicorn settings:

- `webhook`: the gateway's webhook app (`create_webhook_app`), configured from `CIENTY_*`
  environment variables like the service, over Redis (`cienty_kit.redis.create_redis`);
- `bare`: the baseline, a bare FastAPI app whose `POST /webhook` reads the body and returns the
  same 200 (a plain route, as the webhook's: no dependency resolution on either).

Run as `python -m bench.gateway_server {webhook|bare} PORT`; serves on 127.0.0.1:PORT until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request, Response

from cienty_kit.logging import configure_logging
from cienty_kit.redis import create_redis
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.webhook.app import create_webhook_app

OK = b'{"ok":true}'


def bare_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    async def webhook(request: Request) -> Response:
        # Read, as any server must before it can reuse the connection.
        await request.body()
        return Response(OK, media_type="application/json")

    app.add_route("/webhook", webhook, methods=["POST"])
    return app


def webhook_app() -> FastAPI:
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    return create_webhook_app(settings, create_redis(settings.redis_url))


def serve(app: FastAPI, port: int) -> None:
    """One process, one event loop; the same for both servers. (uvicorn picks asyncio and h11
    here: uvloop and httptools are not installed.)"""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="asyncio",
        http="h11",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


def main(argv: list[str]) -> None:
    kind, port = argv
    apps = {"webhook": webhook_app, "bare": bare_app}
    if kind not in apps:
        raise SystemExit(f"usage: python -m bench.gateway_server {{{','.join(apps)}}} PORT")
    serve(apps[kind](), int(port))


if __name__ == "__main__":
    main(sys.argv[1:])
