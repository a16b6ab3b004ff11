"""RFC 9457 problem details: one stable ``type`` URI per domain error class.

Every error response has ``Content-Type: application/problem+json`` and a body
``{type, title, status, detail, instance, ...extensions}``. The ``type`` URIs live
under :data:`PROBLEM_BASE` and never change once published; clients switch on them,
not on ``detail`` text. The tree (most specific class wins)::

    invalid-command       422  InvalidCommand: a field value the domain refuses
    ├── idempotency-key-reused 422  the Idempotency-Key was first used for another
    │                          request (staff, route, target or body); nothing done
    validation-error      422  the request does not match the schema (or has NUL in its URL)
    rule-violation        409  RuleViolation (generic)
    ├── out-of-order      409  OutOfOrder: not allowed at the case's stage
    ├── already-done      409  AlreadyDone: one decision / seal / extension ...
    └── deadline-passed   409  DeadlinePassed
    forbidden             403  Forbidden: the role may not issue this command
    purpose-required      400  an inspector sent no ``X-Purpose`` header
    unauthorized          401  missing, malformed, forged or expired bearer token
    not-found             404  NotFound (no such case, item, bundle or route)
    conflict              409  ConcurrencyConflict without If-Match (changed meanwhile)
    precondition-failed   412  If-Match names a stale version (``current_version`` given)
    bad-precondition      400  If-Match is not ``"<version>"``
    unknown-parameter     400  a query parameter the route does not take (never ignored)
    method-not-allowed    405
    too-large             413  the request body is over CASESTORE_MAX_BODY_BYTES (api/bodylimit.py)
    too-many-attempts     429  too many failed query-code look-ups (``Retry-After`` given)
    too-many-streams      429  this client (or the process) holds as many public streams
                               as allowed (``Retry-After`` given)
    unavailable           503  the store or a read view is not reachable, the pool is
                               exhausted, the disk is full or a lock timed out
                               (``Retry-After`` given; nothing was written)
    internal-error        500  a bug (logged with its request id; never for bad input)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from casestore.domain.errors import (
    AlreadyDone,
    CasestoreError,
    ConcurrencyConflict,
    DeadlinePassed,
    Forbidden,
    IdempotencyKeyReused,
    InvalidCommand,
    NotFound,
    OutOfOrder,
    RuleViolation,
)
from casestore.identity import InvalidToken

from .faults import INFRASTRUCTURE_ERRORS, RETRY_AFTER_SECONDS, unavailable_reason
from .logs import REQUEST_ID
from .messages import detail_zh, title_zh, validation_zh

PROBLEM_BASE = "https://casestore.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("casestore.api")


@dataclass(frozen=True)
class ProblemType:
    """One entry of the problem registry."""

    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in (
        ProblemType("invalid-command", 422, "The command has an invalid field"),
        ProblemType(
            "idempotency-key-reused", 422, "The Idempotency-Key was used for another request"
        ),
        ProblemType("validation-error", 422, "The request does not match the schema"),
        ProblemType("rule-violation", 409, "A business rule refuses the command"),
        ProblemType("out-of-order", 409, "The case is not at a stage that allows this"),
        ProblemType("already-done", 409, "This may happen once only and already has"),
        ProblemType("deadline-passed", 409, "The legal deadline for this has passed"),
        ProblemType("forbidden", 403, "Your role may not do this"),
        ProblemType("purpose-required", 400, "Inspectors state the purpose of a read"),
        ProblemType("unauthorized", 401, "A valid bearer token is required"),
        ProblemType("not-found", 404, "Not found"),
        ProblemType("conflict", 409, "The case changed meanwhile"),
        ProblemType("precondition-failed", 412, "The case is no longer at that version"),
        ProblemType("bad-precondition", 400, 'If-Match must be "<version>"'),
        ProblemType("unknown-parameter", 400, "The route takes no such query parameter"),
        ProblemType("method-not-allowed", 405, "Method not allowed"),
        ProblemType("too-large", 413, "The request body is too large"),
        ProblemType("too-many-attempts", 429, "Too many failed attempts; try again later"),
        ProblemType("too-many-streams", 429, "Too many open streams; try again later"),
        ProblemType("unavailable", 503, "Service unavailable"),
        ProblemType("internal-error", 500, "Internal error"),
    )
}

#: Domain error class -> problem slug; looked up along the exception's MRO.
ERROR_SLUGS: dict[type[BaseException], str] = {
    IdempotencyKeyReused: "idempotency-key-reused",
    InvalidCommand: "invalid-command",
    OutOfOrder: "out-of-order",
    AlreadyDone: "already-done",
    DeadlinePassed: "deadline-passed",
    RuleViolation: "rule-violation",
    Forbidden: "forbidden",
    InvalidToken: "unauthorized",
    NotFound: "not-found",
    ConcurrencyConflict: "conflict",
}


class ApiProblem(Exception):
    """An error raised by the HTTP edge itself (not by the domain)."""

    def __init__(
        self, slug: str, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def slug_of(error: BaseException) -> str:
    """The problem slug of an exception (``internal-error`` when it is not ours)."""
    if isinstance(error, ApiProblem):
        return error.slug
    for cls in type(error).__mro__:
        if cls in ERROR_SLUGS:
            return ERROR_SLUGS[cls]
    return "internal-error"


def problem(
    slug: str,
    detail: str,
    *,
    instance: str = "",
    headers: dict[str, str] | None = None,
    zh: str | None = None,
    **ext: Any,
) -> Response:
    """A problem+json response for a registered slug, in English and Chinese (``title_zh``,
    ``detail_zh``: :mod:`casestore.api.messages`, or ``zh`` when the caller has it)."""
    kind = PROBLEM_TYPES[slug]
    body: dict[str, Any] = {
        "type": kind.uri,
        "title": kind.title,
        "title_zh": title_zh(slug),
        "status": kind.status,
        "detail": detail,
        "detail_zh": zh if zh is not None else detail_zh(slug, detail),
    }
    if instance:
        body["instance"] = instance
    request_id = REQUEST_ID.get()
    if request_id is not None:
        body["request_id"] = request_id  # the same id as the X-Request-ID header and the logs
    body.update({k: v for k, v in ext.items() if k not in body})
    extra = dict(headers or {})
    if slug == "unauthorized":
        extra.setdefault("WWW-Authenticate", 'Bearer realm="casestore"')
    return Response(
        orjson.dumps(body, default=str),
        status_code=kind.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=extra,
    )


def _context(error: CasestoreError) -> dict[str, Any]:
    allowed = ("current_version", "stage", "action", "role")
    return {k: v for k, v in error.context.items() if k in allowed}


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CasestoreError)
    return problem(slug_of(exc), exc.message, instance=request.url.path, **_context(exc))


async def _on_api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return problem(
        exc.slug, exc.detail, instance=request.url.path, headers=exc.headers, **exc.extensions
    )


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    zh = "；".join(validation_zh(e) for e in exc.errors()[:5]) or title_zh("validation-error")
    return problem(
        "validation-error",
        f"{where}: {first['msg']}",
        instance=request.url.path,
        zh=zh,
        errors=errors,
    )


_FROM_HTTP = ("unauthorized", "forbidden", "not-found", "method-not-allowed", "too-large")
_HTTP_SLUGS = {PROBLEM_TYPES[slug].status: slug for slug in _FROM_HTTP}


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code)
    if slug is None:
        slug = "validation-error" if exc.status_code < 500 else "internal-error"
    headers = dict(exc.headers or {})
    return problem(slug, str(exc.detail), instance=request.url.path, headers=headers)


async def _on_infrastructure(request: Request, exc: Exception) -> Response:
    """Database and OS errors: 503 when the infrastructure is at fault, else a bug (500).
    Registered per class so the response is final (the catch-all re-raises)."""
    return await _on_unexpected(request, exc)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    reason = unavailable_reason(exc)
    if reason is not None:  # the infrastructure's fault, not a bug: 503, retry later
        log.warning(
            "unavailable: %s (%s: %s)",
            reason,
            type(exc).__name__,
            exc,
            extra={"path": request.url.path},
        )
        return problem(
            "unavailable",
            f"{reason}; nothing was changed, retry later (服务暂不可用，请稍后重试)",
            instance=request.url.path,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.exception(
        "unhandled error",
        extra={"path": request.url.path, "request_id": REQUEST_ID.get()},
    )
    return problem("internal-error", "an internal error occurred", instance=request.url.path)


class RefuseNul:
    """ASGI middleware: a NUL character in the path or query is refused (422) before any
    route runs; PostgreSQL text cannot hold it, so it must never reach a query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("query_string", b"").lower() + scope.get("raw_path", b"").lower()
            if b"%00" in raw or "\x00" in scope.get("path", ""):
                response = problem("validation-error", "NUL characters are not allowed in the URL")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: Key in the request's state under which :class:`TokenBeforeBody` leaves the (token,
#: identity) it verified, so the route's dependency does not verify the same token again.
VERIFIED = "verified_token"


class TokenBeforeBody:
    """ASGI middleware: a staff write (any POST outside ``/public/`` and ``/log/``) without
    a genuine, unexpired bearer token is refused 401 before its body is read, so a caller
    without a token learns nothing about the body's schema (422 where 401 is due)."""

    OPEN_PREFIXES = ("/public/", "/log/")

    def __init__(self, app: ASGIApp, verify: Callable[[str], object]) -> None:
        self.app = app
        self.verify = verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and not str(scope.get("path", "")).startswith(self.OPEN_PREFIXES)
        ):
            auth = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = auth.partition(" ")
            detail = None
            if scheme.lower() != "bearer" or not token.strip():
                detail = "a bearer token is required"
            else:
                try:
                    identity = self.verify(token.strip())
                except InvalidToken as e:
                    detail = e.message
                else:  # the route's own check reuses it (``request.state.verified``)
                    scope.setdefault("state", {})[VERIFIED] = (token.strip(), identity)
            if detail is not None:
                await problem("unauthorized", detail, instance=scope.get("path", ""))(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


#: Errors any operation may answer, whatever it declares itself: a query parameter the
#: route does not take (400), a body over the app's bound (413), the store unreachable (503).
APP_WIDE_ERRORS: dict[str, str] = {
    "400": "a query parameter the route does not take, or a malformed header",
    "413": "a request body over CASESTORE_MAX_BODY_BYTES (not read past it; nothing written)",
    "503": "the store or a view is unreachable (Retry-After given; nothing was written)",
}

#: Errors every operation taking a bearer token may answer (authority is checked against
#: the grants in force, and ``X-Act-As`` may name a role the caller does not hold).
TOKEN_ERRORS: dict[str, str] = {
    "401": "no valid bearer token",
    "403": "the caller holds no grant in force that admits this (or not the X-Act-As role)",
}

#: The OpenAPI schema of every error body (RFC 9457; extensions allowed).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "title_zh": {"type": "string", "description": "the title in Chinese"},
        "detail_zh": {"type": "string", "description": "the detail in Chinese"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the app sends: every 4xx/5xx response is
    ``application/problem+json`` with :data:`PROBLEM_SCHEMA` (FastAPI documents its own
    422 as ``application/json`` ``HTTPValidationError``, which this API never sends)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in APP_WIDE_ERRORS.items():
                    responses.setdefault(status, {"description": description})
                if operation.get("security"):
                    # a bearer route answers 401 without a valid token, and 403 when the
                    # caller holds no fitting grant or names another role in X-Act-As
                    for status, description in TOKEN_ERRORS.items():
                        responses.setdefault(status, {"description": description})
                for status, response in responses.items():
                    if str(status)[:1] in ("4", "5"):
                        response["content"] = content
        schemas = document["components"]["schemas"]
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Route every error to a problem+json response (and document it so)."""
    document_problems(app)
    app.add_exception_handler(CasestoreError, _on_domain_error)
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    for cls in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(cls, _on_infrastructure)
    app.add_exception_handler(Exception, _on_unexpected)
