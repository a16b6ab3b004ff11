"""Failover with zero acknowledged loss (issue 16 item 1), as users run it.

Two PostgreSQL 15 clusters on loopback ports: a primary and a streaming standby that the
primary waits for on every commit (``synchronous_standby_names = 'standby1'``,
``synchronous_commit = on``). ``casestore serve`` (embedded projection workers) connects
with a multi-host URL and ``target_session_attrs=read-write``. Four clients keep
submitting cases, each logical command under its own ``Idempotency-Key`` and retried
under it until acknowledged; an SSE client follows ``/stream`` and resumes with
``Last-Event-ID`` whenever its connection ends. The primary's postmaster is killed with
SIGKILL, the standby promoted. Then: the same server process (never restarted) takes
commands again; every acknowledged case is on the new primary exactly once and nothing
else was submitted; each projection equals a rebuild from the log (``casestore project
verify``); the SSE client saw every acknowledged case's intake, each position once.
The counts are printed (``-s``) for the closing note.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from casestore.auth import issue_token
from tests.pgharness import ThrowawayCluster, _find_bindir, create_database

pytestmark = [pytest.mark.pg, pytest.mark.slow]
CASESTORE = Path(sys.executable).parent / "casestore"
SECRET = "failover-test-secret-of-32-bytes!!"
APPLICANT = {"name": "王五", "id_type": "resident_id", "id_number": "110101199001011234",
             "phone": "13800002222"}  # fmt: skip
PROJECTIONS = ("case_status", "audit", "ledger", "compliance", "supervision", "evaluation",
               "bundles")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _standby_of(primary: ThrowawayCluster, bindir: str) -> ThrowawayCluster:
    """A streaming standby named ``standby1``, cloned from the primary by pg_basebackup."""
    standby = ThrowawayCluster(bindir)
    done = standby._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U",
                        "postgres", "-D", str(standby.datadir), "-X", "stream", "-R", "-c",
                        "fast", timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout
    with (standby.datadir / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                   "application_name=standby1'\n")  # fmt: skip
    standby.port = _free_port()
    opts = shlex.join(["-c", f"port={standby.port}", "-c", "listen_addresses=127.0.0.1",
                       "-c", f"unix_socket_directories={standby.tmpdir}",
                       "-c", "max_connections=200"])  # fmt: skip
    done = standby._run("pg_ctl", "-D", str(standby.datadir), "-w", "-t", "60", "-l",
                        str(standby.logfile), "-o", opts, "start", timeout=90)  # fmt: skip
    assert done.returncode == 0, done.stdout + standby._log_tail()
    standby._running = True
    return standby


def _make_synchronous(primary: ThrowawayCluster) -> None:
    with psycopg.connect(primary.url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
        conn.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
        conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 60
        while True:
            row = conn.execute("SELECT sync_state FROM pg_stat_replication "
                               "WHERE application_name = 'standby1'").fetchone()  # fmt: skip
            if row == ("sync",):
                return
            assert time.monotonic() < deadline, f"standby not synchronous: {row}"
            time.sleep(0.2)


class Load:
    """Clients that submit until stopped; every acknowledgement with its time."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.stop = threading.Event()
        self.acked: dict[str, str] = {}
        self.acked_at: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.transport: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.lock = threading.Lock()

    def client(self, name: str) -> None:
        n = 0
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while not self.stop.is_set():
                n += 1
                key = f"{name}-{n}"
                while True:  # one logical command, retried under its key until acknowledged
                    try:
                        r = http.post("/cases", headers={**self.headers, "Idempotency-Key": key},
                                      json={"item_code": "XK-003", "applicant": APPLICANT})
                    except httpx.TransportError as e:
                        with self.lock:
                            self.transport[type(e).__name__] += 1
                        time.sleep(0.2)
                        continue
                    with self.lock:
                        self.statuses[r.status_code] += 1
                    if r.status_code == 201:
                        with self.lock:
                            self.acked[key] = r.json()["case_id"]
                            self.acked_at.append(time.monotonic())
                        break
                    if r.status_code != 503:
                        with self.lock:
                            self.unexpected.append(f"{key}: {r.status_code} {r.text[:300]}")
                    time.sleep(0.2)


class Follower:
    """An SSE client of ``/stream`` that resumes with ``Last-Event-ID`` after any break."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.stop = threading.Event()
        self.seen: list[tuple[int, dict[str, Any]]] = []
        self.reconnects = 0

    def run(self) -> None:
        last: int | None = None
        while not self.stop.is_set():
            headers = dict(self.headers)
            params = {"after": "0"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                with httpx.stream("GET", f"{self.base}/stream", headers=headers, params=params,
                                  timeout=httpx.Timeout(5, read=20)) as r:  # fmt: skip
                    event_id = None
                    for line in r.iter_lines():
                        if line.startswith("id:"):
                            event_id = int(line[3:].strip())
                        elif line.startswith("data:") and event_id is not None:
                            self.seen.append((event_id, orjson.loads(line[5:].strip())))
                            last = event_id
                        if self.stop.is_set():
                            return
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            time.sleep(0.3)


def test_kill_the_primary_promote_the_standby_lose_nothing(tmp_path: Path) -> None:
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    primary = ThrowawayCluster(bindir)
    primary.start()
    standby: ThrowawayCluster | None = None
    server = None
    try:
        standby = _standby_of(primary, bindir)
        _make_synchronous(primary)
        one = create_database(primary.url)
        dbname = one.rsplit("/", 1)[1]
        url = (f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/"
               f"{dbname}?target_session_attrs=read-write&connect_timeout=3")  # fmt: skip
        env = dict(os.environ, CASESTORE_SECRET=SECRET)
        subprocess.run([str(CASESTORE), "db", "migrate", "--db", url], env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        subprocess.run([str(CASESTORE), "catalogue", "--db", url], env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        port = _free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            server = subprocess.Popen([str(CASESTORE), "serve", "--db", url, "--port", str(port)],
                                      env=env, stdout=log, stderr=log)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 180, server)
        headers = {"Authorization": "Bearer " + issue_token(
            SECRET, staff_id="c-1", name="窗口", role="clerk", window="W01")}  # fmt: skip
        load, follower = Load(base, headers), Follower(base, headers)
        threads = [threading.Thread(target=load.client, args=(f"t{i}",)) for i in range(4)]
        threads.append(threading.Thread(target=follower.run))
        for t in threads:
            t.start()
        time.sleep(4)
        before = len(load.acked)
        pid = int((primary.datadir / "postmaster.pid").read_text().split()[0])
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        done = standby._run("pg_ctl", "-D", str(standby.datadir), "-w", "-t", "60", "promote",
                            timeout=90)  # fmt: skip
        assert done.returncode == 0, done.stdout
        promoted_at = time.monotonic()
        deadline = time.monotonic() + 120
        while not any(t > promoted_at for t in load.acked_at):
            assert time.monotonic() < deadline, "no command acknowledged after the promotion"
            assert server.poll() is None, "the server process died"
            time.sleep(0.1)
        time.sleep(4)
        load.stop.set()
        for t in threads[:-1]:
            t.join(timeout=120)
        assert server.poll() is None, "the server process died"
        first_after = min(t for t in load.acked_at if t > killed_at)

        new_primary = f"postgresql://postgres@127.0.0.1:{standby.port}/{dbname}"

        def caught_up() -> bool:
            h = httpx.get(f"{base}/health", timeout=5)
            return h.status_code == 200 and all(
                p["lag"] == 0 for p in h.json()["projections"].values())  # fmt: skip

        _wait(caught_up, 180, server)
        time.sleep(1.5)  # the stream's poll
        follower.stop.set()
        threads[-1].join(timeout=60)

        # Every acknowledged command is on the new primary, once; nothing else was submitted.
        with psycopg.connect(new_primary) as conn:
            rows = conn.execute("SELECT originator_id::text FROM casestore_events "
                                "WHERE topic LIKE %s", ("%Case.Submitted",)).fetchall()  # fmt: skip
        submitted = Counter(r[0] for r in rows)
        acked_ids = set(load.acked.values())
        assert len(acked_ids) == len(load.acked)  # one case per key
        assert [c for c, n in submitted.items() if n > 1] == []
        assert acked_ids - set(submitted) == set(), "acknowledged but lost"
        assert set(submitted) - acked_ids == set(), "submitted twice under one key"
        assert load.unexpected == [], load.unexpected[:5]
        # The projections equal a rebuild from the log prefix they were built from.
        for name in PROJECTIONS:
            argv = [str(CASESTORE), "project", "verify", name, "--db", url]
            checked = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
            assert checked.returncode == 0, checked.stdout + checked.stderr
        # The SSE client missed nothing and saw nothing twice.
        positions = [p for p, _ in follower.seen]
        assert positions == sorted(set(positions))
        streamed = {d["case_id"] for _, d in follower.seen if d["event"] == "Submitted"}
        assert streamed == acked_ids
        print(
            f"\nFAILOVER: acknowledged {len(load.acked)} ({before} before the kill), present "
            f"after failover {len(acked_ids & set(submitted))}, doubled 0, first ack "
            f"{first_after - killed_at:.1f} s after the kill and "
            f"{first_after - promoted_at:.1f} s after the promotion "
            f"(promoted {promoted_at - killed_at:.1f} s after the kill); statuses "
            f"{dict(load.statuses)}, transport errors {dict(load.transport)}; SSE events "
            f"{len(follower.seen)}, reconnects {follower.reconnects}"
        )
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if standby is not None:
            standby.stop()
        primary.stop()


def _wait(ok: Any, seconds: float, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, "the server process died"
        try:
            if ok():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_views_read_from_the_standby_show_its_lag_in_health(tmp_path: Path) -> None:
    """``CASESTORE_READ_DB`` on the standby: the views are read there and ``/health``
    shows how far behind the log it is (positions) and since when it replayed."""
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    primary = ThrowawayCluster(bindir)
    primary.start()
    standby: ThrowawayCluster | None = None
    server = None
    try:
        standby = _standby_of(primary, bindir)
        _make_synchronous(primary)
        one = create_database(primary.url)
        dbname = one.rsplit("/", 1)[1]
        replica = f"postgresql://postgres@127.0.0.1:{standby.port}/{dbname}"
        env = dict(os.environ, CASESTORE_SECRET=SECRET, CASESTORE_READ_DB=replica)
        for argv in (["db", "migrate"], ["catalogue"]):
            subprocess.run([str(CASESTORE), *argv, "--db", one], env=env, check=True,
                           capture_output=True, timeout=300)  # fmt: skip
        port = _free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            server = subprocess.Popen([str(CASESTORE), "serve", "--db", one, "--port", str(port)],
                                      env=env, stdout=log, stderr=log)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 180, server)
        headers = {"Authorization": "Bearer " + issue_token(
            SECRET, staff_id="c-1", name="窗口", role="clerk", window="W01")}  # fmt: skip
        for _ in range(3):
            r = httpx.post(f"{base}/cases", headers=headers, timeout=30,
                           json={"item_code": "XK-003", "applicant": APPLICANT})  # fmt: skip
            assert r.status_code == 201, r.text

        def replica_caught_up() -> bool:
            body = httpx.get(f"{base}/health", timeout=5).json()
            seen = body.get("read_replica", {})
            return seen.get("lag") == 0 and seen.get("position") == body["store"]["head"]

        _wait(replica_caught_up, 60, server)
        body = httpx.get(f"{base}/health", timeout=5).json()
        assert body["read_replica"]["standby"] is True
        assert body["read_replica"]["seconds_since_replay"] is not None
        # The applicant-free staff view is served from the standby's copy of the views.
        _wait(lambda: all(p["lag"] == 0 for p in httpx.get(f"{base}/health", timeout=5)
                          .json()["projections"].values()), 120, server)  # fmt: skip
        cases = httpx.get(f"{base}/cases", headers=headers, timeout=30)
        assert cases.status_code == 200 and len(cases.json()["items"]) == 3, cases.text
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if standby is not None:
            standby.stop()
        primary.stop()
