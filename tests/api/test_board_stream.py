"""The public board stream (issue 12 item 4): current state plus live changes, capped.

Against a real uvicorn server (the stream never ends): a cursor far back starts at the
reach of :data:`BOARD_HISTORY` with ``event: reset`` (no unauthenticated replay of the
log), a recent one resumes exactly; a client address holds at most its share of open
streams (429 ``too-many-streams`` with ``Retry-After``), and a closed stream frees its
place.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from casestore.api.app import create_app
from casestore.api.ratelimit import StreamSlots
from casestore.api.routes import web

from casestore.domain import Actor
from tests.api.support import APPLICANT, CATALOGUE, SECRET, auth, enrol_issued


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events(base: str, **kw: Any) -> list[tuple[str, int]]:
    """(event, id) of a board stream until it falls quiet for 2 s (it never ends)."""
    out: list[tuple[str, int]] = []
    buffer = ""
    timeout = httpx.Timeout(20, read=2.0)
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream("GET", f"{base}/board/stream", **kw) as r,
    ):
        assert r.status_code == 200
        try:
            for text in r.iter_text():
                buffer += text
                *blocks, buffer = buffer.replace("\r\n", "\n").split("\n\n")
                for block in blocks:
                    fields = dict(
                        line.partition(":")[::2]
                        for line in block.splitlines()
                        if line and not line.startswith(":")
                    )
                    if "event" in fields:
                        out.append((fields["event"].strip(), int(fields["id"])))
        except httpx.ReadTimeout:
            pass
    return out


def _hub_ids(app: Any, after: int) -> list[int]:
    """The positions the app's stream hub holds after ``after`` (case events only)."""
    return [item.position for item in list(app.state.casestore.hub._items) if item.position > after]


@pytest.fixture
def board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A served app (a real uvicorn in a thread) with 12 cases, the reach set to 5."""
    monkeypatch.setattr(web, "BOARD_HISTORY", 5)
    app = create_app(f"sqlite:///{tmp_path / 'board.db'}", secret=SECRET)
    app.state.casestore.service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    clerk = auth("clerk")
    enrol_issued(app.state.casestore.authority)  # a token names staff; grants authorise
    with httpx.Client(base_url=base, timeout=20) as client:
        for n in range(12):
            body = {"item_code": "XK-001", "applicant": APPLICANT, "appointment_id": str(n)}
            assert client.post("/cases", json=body, headers=clerk).status_code == 201
    time.sleep(0.5)  # the hub reads the log every 0.2 s
    yield base, app
    srv.should_exit = True
    thread.join(20)


def _head(base: str) -> int:
    with httpx.Client(base_url=base, timeout=20) as client:
        return int(client.get("/board/cases").json()["position"])


def test_a_far_cursor_starts_at_the_reach_with_a_reset(board: tuple[str, Any]) -> None:
    base, app = board
    head = _head(base)
    assert head >= 24  # 12 intakes: the case and its number each
    events = _events(base, params={"after": 0})
    assert events[0] == ("reset", head - 5)
    status = [i for e, i in events[1:] if e == "status"]
    assert status and status == _hub_ids(app, head - 5)
    assert all(head - 5 < i <= head for i in status)
    # Within the reach a reconnect resumes exactly after its Last-Event-ID, no reset.
    resumed = _events(base, headers={"Last-Event-ID": str(head - 3)})
    assert resumed == [("status", i) for i in _hub_ids(app, head - 3)]


def test_each_client_address_holds_at_most_its_share_of_streams(board: tuple[str, Any]) -> None:
    base, app = board
    slots = StreamSlots(per_client=2, total=10)
    app.state.casestore.board_slots = slots
    clients = [httpx.Client(timeout=20) for _ in range(3)]
    opened: list[Any] = []
    try:
        for client in clients[:2]:
            cm = client.stream("GET", f"{base}/board/stream")
            assert cm.__enter__().status_code == 200
            opened.append(cm)
        refused = clients[2].get(f"{base}/board/stream")
        assert refused.status_code == 429
        assert refused.json()["type"].endswith("/too-many-streams")
        assert refused.headers["retry-after"] == "30"
        opened.pop().__exit__(None, None, None)  # one hangs up: its place is free again
        deadline = time.monotonic() + 15
        while slots.open_count() > 1:
            assert time.monotonic() < deadline, "a closed stream kept its place"
            time.sleep(0.05)
        with clients[2].stream("GET", f"{base}/board/stream") as again:
            assert again.status_code == 200
    finally:
        for cm in opened:
            cm.__exit__(None, None, None)
        for client in clients:
            client.close()


def test_slots_count_per_client_and_in_all() -> None:
    slots = StreamSlots(per_client=2, total=3)
    a1, a2 = slots.acquire("a"), slots.acquire("a")
    assert a1 is not None and a2 is not None and slots.acquire("a") is None
    b1 = slots.acquire("b")
    assert b1 is not None and slots.acquire("c") is None  # the process is full
    a1.release()
    a1.release()  # twice is once
    assert slots.open_count() == 2
    assert slots.acquire("c") is not None and slots.acquire("a") is None
