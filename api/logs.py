"""Structured logs: one JSON object per line on stderr (stdlib ``logging`` only).

Every request is logged once by :class:`AccessLog` with its method, route, status,
duration, request id (``X-Request-ID``, generated when absent and echoed back) and
the caller's role and staff id. Tokens, bodies and personal data are never logged.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import logging.handlers
import queue
import re
import secrets
import sys
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casestore.logs import JsonFormatter, level_of

#: The request id of the request being served (set by :class:`AccessLog`, read by the
#: problem responses and the error log).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "casestore_request_id", default=None
)
#: A caller's ``X-Request-ID`` is kept only if it is this short and plain.
_GOOD_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")

access_log = logging.getLogger("casestore.api.access")


def configure_logging(level: str | int = logging.INFO) -> logging.handlers.QueueListener:
    """Send ``casestore.*`` and uvicorn's error log to stderr as JSON lines.

    The access log (a line per request) goes through a queue to a listener thread that
    formats and writes it, so a request never waits for a write to stderr; it drains
    while the server shuts down gracefully. Everything else is written at once (uvicorn
    re-raises SIGTERM after its shutdown, and a queued line would die with it). Stop the
    returned listener at exit to flush what is still queued.
    """
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, stream)
    for name in ("casestore", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [stream]
        logger.setLevel(level_of(level))
        logger.propagate = False
    access_log.handlers[:] = [_Enqueue(records)]
    access_log.propagate = False
    listener.start()
    return listener


class _Enqueue(logging.handlers.QueueHandler):
    """Enqueue the record itself: the listener's handler formats it (as JSON, with extras)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info:  # the traceback cannot cross threads lazily: render it now
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


#: Request ids: a random per-process prefix and a counter (uuid4 per request costs an
#: urandom system call, measurable under load).
_PREFIX = secrets.token_hex(6)
_COUNTER = itertools.count(1)

#: (method, route template, status, seconds) -> None
Observer = Callable[[str, str, int, float], None]


class AccessLog:
    """ASGI middleware: request id, one access-log line and the HTTP metrics per request."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_id = headers.get(b"x-request-id", b"")
        good = raw_id and _GOOD_ID.match(raw_id)
        request_id = raw_id.decode("ascii") if good else f"{_PREFIX}-{next(_COUNTER):x}"
        scope.setdefault("state", {})["request_id"] = request_id
        REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            state = scope.get("state", {})
            actor = state.get("actor")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                    "role": getattr(actor, "role", None),
                    "staff_id": getattr(actor, "staff_id", None) or state.get("staff_id"),
                },
            )
            if self.observe is not None:
                self.observe(scope["method"], template, status, elapsed)
