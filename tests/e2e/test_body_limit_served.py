"""The request-body bound through a real ``casestore serve`` (``api/bodylimit.py``): an
over-limit body is refused 413 ``too-large`` problem+json, both when its declared
``Content-Length`` is over the bound (answered before a byte of the body is sent) and
when a chunked body grows past it, and nothing is written (the log's head is unchanged).

Raw sockets, so the test controls the framing: an HTTP client would send the whole body.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import orjson

from tests.api.support import APPLICANT

from .conftest import Served

LIMIT = 1_048_576  # CASESTORE_MAX_BODY_BYTES's default (README)
TOO_LARGE = "https://casestore.example/problems/too-large"
CHUNK = 64 * 1024


def _connect(served: Served) -> socket.socket:
    url = urlsplit(served.base)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=60)
    return sock


def _head(path: str, token: str, framing: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: casestore\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n"
    ).encode()


def _response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of one response (read until its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        more = sock.recv(65536)
        assert more, body
        body += more
    return int(lines[0].split()[1]), headers, orjson.loads(body)


def _is_too_large(status: int, headers: dict[str, str], body: Any, path: str) -> None:
    assert status == 413, body
    assert headers["content-type"] == "application/problem+json"
    assert body["type"] == TOO_LARGE and body["status"] == 413 and body["instance"] == path
    assert str(LIMIT) in body["detail"]


def _log_head(served: Served) -> int:
    with served.client() as c:
        head: int = c.get("/health").json()["store"]["head"]
    return head


def _case(served: Served) -> str:
    with served.client("clerk") as c:
        r = c.post("/cases", json={"item_code": "XK-003", "applicant": APPLICANT})
    assert r.status_code == 201, (r.text, served.log_tail())
    case_id: str = r.json()["case_id"]
    return case_id


def test_a_declared_length_over_the_bound_is_refused_unread(served: Served) -> None:
    case_id = _case(served)
    head = _log_head(served)
    for path in ("/cases", f"/cases/{case_id}/accept"):
        with _connect(served) as sock:
            # only the headers go out: the answer must come without the body
            sock.sendall(_head(path, served.tokens["clerk"], f"Content-Length: {LIMIT + 1}\r\n"))
            _is_too_large(*_response(sock), path)
    assert _log_head(served) == head


def test_a_chunked_body_is_refused_as_it_grows_past_the_bound(served: Served) -> None:
    case_id = _case(served)
    head = _log_head(served)
    start = orjson.dumps({"item_code": "XK-003", "applicant": APPLICANT})[:-1] + b', "x": "'
    for path in ("/cases", f"/cases/{case_id}/accept"):
        with _connect(served) as sock:
            sock.sendall(_head(path, served.tokens["clerk"], "Transfer-Encoding: chunked\r\n"))
            first = start + b"a" * (CHUNK - len(start))
            # 17 chunks of 64 KiB: the last one crosses the bound, and nothing follows it
            for chunk in [first] + [b"a" * CHUNK] * (LIMIT // CHUNK):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            _is_too_large(*_response(sock), path)
    assert _log_head(served) == head
    with served.client("clerk") as c:  # the server is still serving, the case untouched
        case = c.get(f"/cases/{case_id}").json()
    assert case["version"] == 1
