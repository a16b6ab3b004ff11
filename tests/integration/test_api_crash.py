"""kill -9 the API server mid-load on PostgreSQL, restart it: every acknowledged command
is in the log exactly once, and a retry with its Idempotency-Key replays it.

The server is the real ``casestore serve --no-workers`` subprocess on loopback. Eight
clients each walk their own cases (submit, accept, review, decide ...) with a unique
key per command and record every 2xx. The kill lands while requests are in flight;
after the restart each client retries the command it was sending when the server
died (it may or may not have committed), and every acknowledged command is replayed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from casestore.authority import Authority
from casestore.domain import Actor
from casestore.service import CaseService, utc_now
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify
from tests.api.support import APPLICANT, BODIES, CATALOGUE, SECRET, auth, enrol_issued

pytestmark = pytest.mark.pg

CLIENTS = 8
KILL_AFTER_ACKS = 120
#: (action, role, expected event) of each client's walk of one case; None = submit.
STEPS: list[tuple[str | None, str, str]] = [
    (None, "clerk", "Submitted"),
    ("accept", "clerk", "Accepted"),
    ("review", "reviewer", "ReviewRecorded"),
    ("decide", "approver", "Decided"),
]
CASESTORE = Path(sys.executable).parent / "casestore"
PEPPER = "k1:" + "A" * 43


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``casestore serve`` as a child process."""

    def __init__(self, db_url: str, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CASESTORE_SECRET": SECRET, "CASESTORE_QUERY_PEPPER": PEPPER}
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [str(CASESTORE), "serve", "--db", db_url, "--no-workers", "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"server exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.log.close()


@dataclass
class Ack:
    key: str
    case_id: str
    version: int
    position: int


@dataclass
class Client:
    """One load generator: walks its own cases, one unique key per command."""

    n: int
    acks: list[Ack] = field(default_factory=list)
    pending: tuple[str, str, str, dict[str, Any]] | None = None  # key, url, role, body
    case_id: str = ""
    step: int = 0
    cases: int = 0

    def next_request(self) -> tuple[str, str, str, dict[str, Any]]:
        action, role, _ = STEPS[self.step]
        key = f"c{self.n}-case{self.cases}-step{self.step}"
        if action is None:
            return key, "/cases", role, {"item_code": "XK-007", "applicant": APPLICANT}
        return key, f"/cases/{self.case_id}/{action}", role, BODIES[action]

    def record(self, key: str, data: dict[str, Any]) -> None:
        self.acks.append(Ack(key, data["case_id"], data["version"], data["position"]))
        self.case_id = data["case_id"]
        self.step += 1
        if self.step == len(STEPS):
            self.step, self.cases = 0, self.cases + 1
        self.pending = None

    def run(self, base: str, stop: threading.Event) -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            while not stop.is_set():
                self.pending = self.next_request()
                key, url, role, body = self.pending
                headers = {**auth(role, staff=f"{role}-{self.n}"), "Idempotency-Key": key}
                try:
                    r = http.post(url, json=body, headers=headers)
                except httpx.HTTPError:
                    return  # the server died with this request in flight
                assert r.status_code in (200, 201), r.text
                self.record(key, r.json())


def test_kill_9_mid_load_loses_and_duplicates_nothing(pg_db_url: str, tmp_path: Path) -> None:
    store = CasestoreApp(pg_db_url)
    CaseService(store).load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    for n in range(CLIENTS):  # authority comes from grants: enrol every client's staff
        for _, role, _ in STEPS:
            auth(role, staff=f"{role}-{n}")
    enrol_issued(Authority(store, utc_now))
    store.close()
    port = _free_port()
    server = Server(pg_db_url, port, tmp_path / "server.log")
    clients = [Client(n) for n in range(CLIENTS)]
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(server.url, stop)) for c in clients]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(len(c.acks) for c in clients) < KILL_AFTER_ACKS:
        assert time.monotonic() < deadline, "load did not reach the kill point"
        time.sleep(0.005)
    server.kill()  # SIGKILL with requests in flight
    stop.set()
    for t in threads:
        t.join(30)
    acked = [a for c in clients for a in c.acks]
    in_flight = [c for c in clients if c.pending is not None]
    assert len(acked) >= KILL_AFTER_ACKS and in_flight, "the kill must land mid-load"

    server = Server(pg_db_url, port, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            # The command each client was sending when the server died: retry it.
            for c in in_flight:
                assert c.pending is not None
                key, url, role, body = c.pending
                headers = {**auth(role, staff=f"{role}-{c.n}"), "Idempotency-Key": key}
                r = http.post(url, json=body, headers=headers)
                assert r.status_code in (200, 201), r.text
                c.record(key, r.json())
            head = httpx.get(f"{server.url}/health").json()["store"]["head"]
            # Every acknowledged command replays its first response and appends nothing.
            for c in clients:
                for ack in c.acks:
                    step = int(ack.key.rsplit("step", 1)[1])
                    action, role, _ = STEPS[step]
                    url = "/cases" if action is None else f"/cases/{ack.case_id}/{action}"
                    body = (
                        {"item_code": "XK-007", "applicant": APPLICANT}
                        if action is None
                        else BODIES[action]
                    )
                    headers = {**auth(role, staff=f"{role}-{c.n}"), "Idempotency-Key": ack.key}
                    r = http.post(url, json=body, headers=headers)
                    assert r.status_code in (200, 201), r.text
                    assert r.json()["duplicate"] is True
                    assert (r.json()["case_id"], r.json()["position"]) == (
                        ack.case_id,
                        ack.position,
                    )
            assert httpx.get(f"{server.url}/health").json()["store"]["head"] == head
    finally:
        server.stop()

    store = CasestoreApp(pg_db_url)
    try:
        _check_log(store, [a for c in clients for a in c.acks])
        assert verify(store).ok
    finally:
        store.close()


def _check_log(store: CasestoreApp, acks: list[Ack]) -> None:
    """Each acknowledged command is one event at its version; no case has a repeat."""
    by_case: dict[str, list[Ack]] = {}
    for ack in acks:
        by_case.setdefault(ack.case_id, []).append(ack)
    for case_id, case_acks in by_case.items():
        from uuid import UUID

        events = store.domain_events(UUID(case_id))
        names = [type(e).__name__ for e in events]
        assert names == [name for _, _, name in STEPS][: len(names)], names  # no repeats
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        versions = sorted(a.version for a in case_acks)
        assert versions == list(range(1, len(versions) + 1))
        assert len(events) == len(case_acks), (case_id, names, versions)
