"""Structured JSON logs: one line per request with method, path, status and duration.

Nothing else of a request is logged: no bodies, no query strings, no headers (tokens), so no
patient data can reach the logs through this path. Database errors hide their parameters
(see db.make_engine), and unexpected errors are logged by type and stack frames only,
since an exception's message may quote the data it choked on.
"""

import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER_NAME = "chairside.cloud"
log = logging.getLogger(LOGGER_NAME)

# the only extra attributes a record may carry into the JSON line
FIELDS = ("event", "method", "path", "status", "duration_ms", "error_type", "stack")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for the service's own logger (once per process)."""
    log.setLevel(level.upper())
    if not any(getattr(h, "_chairside", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._chairside = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        # the root logger stays free: uvicorn and tests attach their own handlers there
        log.propagate = True


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own messages (start-up, shutdown) as JSON too; its access log is replaced by ours."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
        },
    }


class AccessLogMiddleware:
    """Logs every HTTP request as one structured line; turns an unexpected error into a bare 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_noting_status(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception as exc:
            status = 500
            log.error(
                "unhandled error",
                extra={
                    "event": "error",
                    "method": scope["method"],
                    "path": scope["path"],
                    "error_type": type(exc).__qualname__,
                    "stack": traceback.format_tb(exc.__traceback__)[-5:],
                },
            )
            if response_started:
                raise
            body = b'{"detail":"The cloud service hit an unexpected error; nothing was changed. Try again later."}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            log.info(
                "request",
                extra={
                    "event": "request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
