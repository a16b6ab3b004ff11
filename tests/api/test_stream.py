"""``GET /stream``: status changes in log order, filters, and resumption by Last-Event-ID
(in-process with ``limit``, and against a real server with clients that disconnect)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from casestore.api.app import create_app

from casestore.domain import Actor
from tests.api.support import APPLICANT, CATALOGUE, SECRET, Api, auth, enrol_issued, walk


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The ``status`` events of an SSE body: id, event name and decoded data."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if fields.get("event") == "status":
            out.append({"id": int(fields["id"]), "data": orjson.loads(fields["data"])})
    return out


def test_the_stream_replays_case_events_in_log_order(api: Api) -> None:
    first = api.submit()
    walk(api, first["case_id"], upto="review")
    second = api.submit()
    r = api.get("/stream", "clerk", params={"after": 0, "limit": 5})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert [e["data"]["event"] for e in events] == [
        "Submitted",
        "SupplementRequested",
        "SupplementReceived",
        "Accepted",
        "Submitted",
    ]
    assert [e["id"] for e in events] == [e["data"]["position"] for e in events]
    assert events[3]["data"]["stage"] == "accepted"
    assert events[4]["data"]["case_id"] == second["case_id"]
    assert events[0]["data"]["case_no"] == first["case_no"]
    assert APPLICANT["name"] not in r.text and APPLICANT["id_number"] not in r.text


def test_the_stream_filters_by_case_and_window(api: Api) -> None:
    a = api.submit()
    other = api.post(
        "/cases",
        json={"item_code": "XK-001", "applicant": APPLICANT},
        headers=auth("clerk", staff="clerk-7", window="W07"),
    ).json()
    api.command(a["case_id"], "accept", "clerk", {})
    api.command(other["case_id"], "accept", "clerk", {})
    by_case = parse_sse(
        api.get("/stream", "clerk", params={"after": 0, "case": a["case_id"], "limit": 2}).text
    )
    assert {e["data"]["case_id"] for e in by_case} == {a["case_id"]}
    assert [e["data"]["event"] for e in by_case] == ["Submitted", "Accepted"]
    by_window = parse_sse(
        api.get("/stream", "clerk", params={"after": 0, "window": "W07", "limit": 2}).text
    )
    assert {e["data"]["case_id"] for e in by_window} == {other["case_id"]}
    missing = {"case": "00000000-0000-4000-8000-000000000000"}
    assert api.get("/stream", "clerk", params=missing).status_code == 404


def test_last_event_id_resumes_exactly_after_it(api: Api) -> None:
    case = api.submit()
    walk(api, case["case_id"])
    everything = parse_sse(api.get("/stream", "clerk", params={"after": 0, "limit": 17}).text)
    assert len(everything) == 17
    seen: list[int] = []
    last = "0"
    while len(seen) < 17:
        limit = min(4, 17 - len(seen))
        body = api.get("/stream", "clerk", params={"limit": limit}, headers={"Last-Event-ID": last})
        chunk = parse_sse(body.text)
        seen += [e["id"] for e in chunk]
        last = str(chunk[-1]["id"])
    assert seen == [e["id"] for e in everything]
    bad = api.get("/stream", "clerk", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422


def test_stream_takes_a_single_use_ticket_for_eventsource(api: Api) -> None:
    api.submit()
    ticket = api.post("/stream/tickets", "clerk").json()["ticket"]
    r = api.get("/stream", params={"after": 0, "limit": 1, "ticket": ticket})
    assert r.status_code == 200 and len(parse_sse(r.text)) == 1
    assert api.get("/stream", params={"ticket": ticket, "limit": 1}).status_code == 401
    assert api.get("/stream", params={"ticket": "forged"}).status_code == 401


# -- against a real server ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    app = create_app(f"sqlite:///{tmp_path / 'live.db'}", secret=SECRET)
    app.state.casestore.service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    auth("clerk")
    enrol_issued(app.state.casestore.authority)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(20)


def _read_some(base: str, last_id: int, count: int) -> list[dict[str, Any]]:
    """Connect, take ``count`` events after ``last_id`` and hang up mid-stream."""
    got: list[dict[str, Any]] = []
    headers = {**auth("clerk"), "Last-Event-ID": str(last_id)}
    with (
        httpx.Client(timeout=20) as client,
        client.stream("GET", f"{base}/stream", headers=headers) as r,
    ):
        assert r.status_code == 200
        buffer = ""
        for text in r.iter_text():
            buffer += text
            *blocks, buffer = buffer.replace("\r\n", "\n").split("\n\n")
            for block in blocks:
                got += parse_sse(block + "\n\n")
                if len(got) >= count:
                    return got[:count]
    return got


def test_a_client_that_reconnects_sees_every_event_exactly_once(server: str) -> None:
    commands = 40

    def write() -> None:
        with httpx.Client(base_url=server, timeout=20) as client:
            for n in range(commands):
                body = {"item_code": "XK-001", "applicant": APPLICANT, "appointment_id": str(n)}
                r = client.post("/cases", json=body, headers=auth("clerk"))
                assert r.status_code == 201
                time.sleep(0.005)

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[dict[str, Any]] = []
    last = 0
    while len(seen) < commands:  # each Submitted is one status event
        chunk = _read_some(server, last, min(7, commands - len(seen)))
        assert chunk, "the stream ended without events"
        seen += chunk
        last = chunk[-1]["id"]
    writer.join()
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)) == commands
    assert ids == sorted(ids)
    assert sorted(int(e["data"]["version"]) for e in seen) == [1] * commands


def test_last_event_id_wins_over_the_original_after_on_reconnect(api: Api) -> None:
    """A browser's EventSource reconnects to the same URL (with its first ``?after=``)
    and adds ``Last-Event-ID``: the stream resumes after the header's position."""
    first = api.submit()
    walk(api, first["case_id"], upto="review")
    all_events = parse_sse(api.get("/stream", "clerk", params={"after": 0, "limit": 4}).text)
    seen = all_events[1]["id"]
    r = api.get("/stream", "clerk", params={"after": 0, "limit": 2},
                headers={"Last-Event-ID": str(seen)})
    resumed = parse_sse(r.text)
    assert [e["id"] for e in resumed] == [all_events[2]["id"], all_events[3]["id"]]
