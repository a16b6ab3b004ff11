"""The app-wide request-body bound (``api/bodylimit.py``, ``CASESTORE_MAX_BODY_BYTES``):
413 ``too-large`` problem+json for a declared ``Content-Length`` over the bound (before
the body is read) and for a chunked body that grows past it (reading stops), on the
declared routes, the case commands' quick path and the raw cosignature reader; nothing
is written. The largest bodies the schemas accept fit under the setting's floor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from casestore.api.bodylimit import BodyLimit
from casestore.api.schemas import BundleCreate, CaseCreate
from starlette.types import Message, Receive, Scope, Send

from casestore.settings import Settings, SettingsError, load_settings
from tests.api.support import APPLICANT, Api

LIMIT = 1_048_576  # the README's default
TOO_LARGE = "https://casestore.example/problems/too-large"
CHUNK = 64 * 1024
ASTRAL = "\U0001f600"  # one code point for pydantic, 12 bytes as a JSON surrogate pair


def _text(n: int) -> str:
    return ASTRAL * n


def _party(**extra: str) -> dict[str, Any]:
    return {
        "name": _text(200),
        "id_type": "resident_id",
        "id_number": _text(200),
        "phone": _text(32),
        "kind": "organisation",
        **extra,
    }


def test_the_largest_bodies_the_schemas_accept_fit_under_the_floor() -> None:
    """Every field at its bound, every character spelt as costly as JSON allows: the
    figures api/bodylimit.py and the README give, and below the setting's floor."""
    case = {
        "item_code": _text(200),
        "applicant": _party(),
        "agent": _party(mandate=_text(200)),
        "channel": "cross_province",
        "extended_hours": False,
        "appointment_id": _text(2000),
        "receiving_region": _text(2000),
        "handling_region": _text(2000),
        "materials": [_text(200)] * 200,
        "priority": False,
        "occurred_at": "2026-11-29T10:00:00.000000+08:00",
    }
    bundle = {
        "bundle_code": _text(200),
        "applicant": _party(),
        "channel": "cross_province",
        "materials": [_text(200)] * 200,
    }
    compact = json.dumps(case).encode()
    CaseCreate.model_validate_json(compact)
    BundleCreate.model_validate_json(json.dumps(bundle))
    assert len(compact) == 568_418
    assert len(json.dumps(case, indent=8)) == 571_914
    assert len(json.dumps(bundle)) == 488_554
    floor = next(m.ge for m in Settings.model_fields["max_body_bytes"].metadata if hasattr(m, "ge"))
    assert floor == 589_824 and len(json.dumps(case, indent=8)) < floor < LIMIT


def test_the_bound_is_a_bounded_setting() -> None:
    assert load_settings({}, db="sqlite:///:memory:").max_body_bytes == LIMIT
    env = {"CASESTORE_MAX_BODY_BYTES": "2097152"}
    assert load_settings(env, db="sqlite:///:memory:").max_body_bytes == 2_097_152
    for bad in ("1000", "589823", "16777217", "-1", "lots"):
        with pytest.raises(SettingsError, match="CASESTORE_MAX_BODY_BYTES"):
            load_settings({"CASESTORE_MAX_BODY_BYTES": bad}, db="sqlite:///:memory:")


def _is_too_large(r: Any) -> None:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == TOO_LARGE and body["status"] == 413
    assert body["title"] == "The request body is too large" and body["title_zh"] == "请求体过大"
    assert str(LIMIT) in body["detail"]


class _Chunks:
    """A chunked request body of ``total`` bytes that counts what the server pulled."""

    def __init__(self, total: int, start: bytes = b'{"materials": ["') -> None:
        self.total, self.start, self.pulled = total, start, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.total:
            chunk = self.start + b"x" * (CHUNK - len(self.start)) if sent == 0 else b"x" * CHUNK
            self.pulled += 1
            sent += len(chunk)
            yield chunk


def _routes(api: Api) -> list[tuple[str, str | None, str]]:
    """(path, role, content type): a declared JSON route, the quick path, a raw reader."""
    case_id = api.submit()["case_id"]
    return [
        ("/cases", "clerk", "application/json"),
        (f"/cases/{case_id}/accept", "clerk", "application/json"),
        ("/log/cosignatures", None, "text/plain"),
    ]


def test_a_declared_length_over_the_bound_is_refused(api: Api) -> None:
    for path, role, media in _routes(api):
        head = api.head()
        r = api.post(path, role, content=b"x" * (LIMIT + 1), headers={"Content-Type": media})
        _is_too_large(r)
        assert r.json()["instance"] == path
        assert api.head() == head


def test_a_chunked_body_is_stopped_as_it_grows_past_the_bound(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from casestore.api.routes import quickroute

    quick_reads: list[str] = []
    quick = quickroute._quick

    async def spy(request: Any, command: Any) -> Any:
        quick_reads.append(request.url.path)
        return await quick(request, command)

    monkeypatch.setattr(quickroute, "_quick", spy)
    for path, role, media in _routes(api):
        head = api.head()
        body = _Chunks(4 * LIMIT)
        r = api.post(path, role, content=body, headers={"Content-Type": media})
        _is_too_large(r)
        assert body.pulled == LIMIT // CHUNK + 1  # the chunk that crossed, none after
        assert api.head() == head
    assert len(quick_reads) == 1 and quick_reads[0].endswith("/accept")


def test_bodies_within_the_bound_pass_either_way(api: Api) -> None:
    body = json.dumps({"item_code": "XK-003", "applicant": APPLICANT}).encode()

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):
            yield body[i : i + 7]

    json_type = {"Content-Type": "application/json"}
    assert api.post("/cases", "clerk", content=body, headers=json_type).status_code == 201
    assert api.post("/cases", "clerk", content=chunked(), headers=json_type).status_code == 201


def _run(
    middleware: BodyLimit, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[list[Message], int]:
    """Drive the middleware directly: (messages sent, body messages the app received)."""
    sent: list[Message] = []
    pending = list(chunks)

    async def receive() -> Message:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return sent, len(chunks) - len(pending)


class _Reader:
    """An app that reads its whole body, then answers 200."""

    def __init__(self) -> None:
        self.called = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called += 1
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_the_middleware_refuses_before_the_app_runs() -> None:
    app = _Reader()
    sent, received = _run(BodyLimit(app, 10), [(b"content-length", b"11")], [b"x" * 11])
    assert app.called == 0 and received == 0  # neither the app nor the body was touched
    assert sent[0]["status"] == 413
    sent, received = _run(BodyLimit(app, 10), [(b"content-length", b"10")], [b"x" * 10])
    assert app.called == 1 and sent[0]["status"] == 200


def test_the_middleware_counts_what_is_not_framed_by_a_length() -> None:
    chunked = [(b"transfer-encoding", b"chunked")]
    for headers in (chunked, [(b"content-length", b"5"), *chunked], [(b"content-length", b"+5")]):
        sent, received = _run(BodyLimit(_Reader(), 10), headers, [b"x" * 6, b"x" * 6, b"x"])
        assert received == 2 and sent[0]["status"] == 413, headers  # stopped at the crossing
        assert dict(sent[0]["headers"])[b"content-type"] == b"application/problem+json"
    sent, received = _run(BodyLimit(_Reader(), 10), chunked, [b"x" * 5, b"x" * 5])
    assert received == 2 and sent[0]["status"] == 200
