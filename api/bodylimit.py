"""One app-wide bound on a request body's size (``CASESTORE_MAX_BODY_BYTES``): a body over
it is refused 413 ``too-large`` before it is read (a declared ``Content-Length`` over the
bound) or as soon as it grows past it (a chunked body), so no route ever holds more.

Without it every route read a whole body before its schema's bounds applied (uvicorn
bounds only the headers): ``POST /log/cosignatures`` read any size and then refused it
over 16 KiB; a JSON route read and parsed it all before pydantic counted a list.

The default, 1 MiB, sits above the largest body any route's schema accepts. That is
``POST /cases`` (:class:`~casestore.api.schemas.CaseCreate`): 200 materials of 200
characters, three 2,000-character texts, an applicant and an agent of 200-character
names, numbers and mandate — 47,464 characters. Pydantic counts characters (code
points), JSON may spell each as a ``\\uXXXX`` surrogate pair, 12 bytes: 568,418 bytes
compact, 571,914 indented by 8 (JSON whitespace is free, so "the largest accepted
body" is the costliest spelling plus room for pretty-printing, not a strict maximum).
Next come ``POST /bundles`` (488,554 bytes so spelt), a reject's or decision's 200
reasons, a survey's 50 participants; a cosignature note is at most 16 KiB (its route
keeps that bound); the catalogue and imports go through the CLI, not HTTP. The
setting cannot go below 576 KiB (:mod:`casestore.settings`), so no legitimate body is
refused; ``tests/api/test_body_limit.py`` builds those worst cases and checks they fit.

Why not Starlette's ``max_body_size`` (FastAPI 0.165 / Starlette 1.10 have one): it
answers a declared over-limit ``Content-Length`` with ``text/plain`` "Content Too
Large" (replacing whatever the app sends, problem+json included), and a route that
never reads its body runs to completion before that answer replaces its response. This
middleware refuses such a request before any route runs, in the app's problem+json.

A body whose declared ``Content-Length`` is within the bound passes untouched: the
server (uvicorn, h11 or httptools) delivers exactly that many bytes, so counting them
again would only cost the hot path; so does a request with neither ``Content-Length``
nor ``Transfer-Encoding`` (HTTP/1.1: no body). Any other body (chunked, or a length
that is not one plain number) is counted as it is received; past the bound, ``receive`` raises
:class:`BodyTooLarge`, an ``HTTPException`` (413) that FastAPI re-raises from its body
parsing and the app's handler renders as problem+json — on the declared path, the case
commands' quick path (:mod:`casestore.api.routes.quickroute`, which reads through the
same ``receive``) and raw readers such as the cosignature route alike. Nothing is
written: every route reads its whole body before it acts.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem


class BodyTooLarge(HTTPException):
    """A request body grew past the app's bound (rendered as problem ``too-large``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is over {limit} bytes (请求体超过 {limit} 字节)",
        )


class BodyLimit:
    """ASGI middleware: request bodies of at most ``limit`` bytes (see the module)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        if limit < 0:
            raise ValueError("a body limit is a number of bytes, at least 0")
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None:
            if declared > self.limit:
                error = BodyTooLarge(self.limit)
                await problem("too-large", str(error.detail), instance=scope.get("path", ""))(
                    scope, receive, send
                )
                return
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, received, started = self.limit, 0, False

        async def receive_bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_noting(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_bounded, send_noting)
        except BodyTooLarge as error:  # normally answered by the app's handler already
            if started:
                raise
            await problem("too-large", str(error.detail), instance=scope.get("path", ""))(
                scope, receive, send
            )


def _declared_length(scope: Scope) -> int | None:
    """The body's declared length when the server frames it by one plain Content-Length,
    0 when by neither header (an HTTP/1.1 request without them has no body); None when
    it must be counted (a Transfer-Encoding, or a length that is not one plain number)."""
    length: bytes | None = None
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            if length is not None and value != length:
                return None
            length = value
        elif name == b"transfer-encoding":
            return None
    if length is None:
        return 0
    if not length.isdigit() or len(length) > 18:
        return None
    return int(length)
