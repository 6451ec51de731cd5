"""Request size limit: a body over the limit is refused with 413 before it is parsed."""

import json
from collections.abc import Mapping

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _too_large_message(limit: int) -> str:
    return f"The request is larger than this service accepts ({limit // 1024} KiB); send smaller batches."


class BodySizeLimitMiddleware:
    """`max_bytes` for every request, except paths under a prefix in `per_prefix` (backup uploads)."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_prefix: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_prefix = dict(per_prefix or {})

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.per_prefix.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes)
            return
        received = 0

        async def counting_receive() -> Message:
            # a chunked body has no length up front: count it as it arrives
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(status_code=413, detail=_too_large_message(max_bytes))
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = json.dumps({"detail": _too_large_message(max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
