"""Two PostgreSQL clusters on loopback as a primary and its synchronous standby, and the
clients the failover tests drive through ``casestore serve`` (issue 16 item 1).

Used by ``tests/integration/test_failover.py`` (serve with embedded workers) and
``tests/integration/test_failover_deployed.py`` (the deployed shape: API and projection
workers as separate processes, as the application role).
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

from tests.pgharness import ThrowawayCluster

CASESTORE = Path(sys.executable).parent / "casestore"
SECRET = "failover-test-secret-of-32-bytes!!"
APPLICANT = {"name": "王五", "id_type": "resident_id", "id_number": "110101199001011234",
             "phone": "13800002222"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def standby_of(primary: ThrowawayCluster, bindir: str) -> ThrowawayCluster:
    """A streaming standby named ``standby1``, cloned from the primary by pg_basebackup."""
    standby = ThrowawayCluster(bindir)
    done = standby._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U",
                        "postgres", "-D", str(standby.datadir), "-X", "stream", "-R", "-c",
                        "fast", timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout
    with (standby.datadir / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                   "application_name=standby1'\n")  # fmt: skip
    standby.port = free_port()
    opts = shlex.join(["-c", f"port={standby.port}", "-c", "listen_addresses=127.0.0.1",
                       "-c", f"unix_socket_directories={standby.tmpdir}",
                       "-c", "max_connections=200"])  # fmt: skip
    done = standby._run("pg_ctl", "-D", str(standby.datadir), "-w", "-t", "60", "-l",
                        str(standby.logfile), "-o", opts, "start", timeout=90)  # fmt: skip
    assert done.returncode == 0, done.stdout + standby._log_tail()
    standby._running = True
    return standby


def make_synchronous(primary: ThrowawayCluster) -> None:
    """``synchronous_standby_names = 'standby1'``, ``synchronous_commit = on``; returns
    once ``pg_stat_replication`` shows the standby ``sync``."""
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


def kill_primary_and_promote(primary: ThrowawayCluster, standby: ThrowawayCluster) -> float:
    """SIGKILL the primary's postmaster, promote the standby a second later; the kill's
    ``time.monotonic()``."""
    pid = int((primary.datadir / "postmaster.pid").read_text().split()[0])
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)
    done = standby._run("pg_ctl", "-D", str(standby.datadir), "-w", "-t", "60", "promote",
                        timeout=90)  # fmt: skip
    assert done.returncode == 0, done.stdout
    return killed_at


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

    def client(self, name: str, base: str | None = None) -> None:
        """Submit cases to ``base`` (the load's own by default), each logical command
        under its own ``Idempotency-Key``, retried under it until acknowledged."""
        n = 0
        with httpx.Client(base_url=base or self.base, timeout=30) as http:
            while not self.stop.is_set():
                n += 1
                key = f"{name}-{n}"
                while True:
                    try:
                        r = http.post(
                            "/cases",
                            headers={**self.headers, "Idempotency-Key": key},
                            json={"item_code": "XK-003", "applicant": APPLICANT},
                        )
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

    def wait_for_ack_after(self, moment: float, seconds: float, *procs: Any) -> None:
        deadline = time.monotonic() + seconds
        while not any(t > moment for t in self.acked_at):
            assert time.monotonic() < deadline, "no command acknowledged after the promotion"
            for proc in procs:
                assert proc.poll() is None, f"a process died: {proc.args}"
            time.sleep(0.1)


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


def wait_until(ok: Any, seconds: float, *procs: Any) -> None:
    """Poll ``ok()`` until true; fail when ``seconds`` pass or one of ``procs`` exits."""
    deadline = time.monotonic() + seconds
    while True:
        for proc in procs:
            assert proc.poll() is None, f"a process died: {proc.args}"
        try:
            if ok():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGINT, then SIGKILL after 30 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def submitted_cases(url: str) -> Counter[str]:
    """How many ``Case.Submitted`` events each case has in the log at ``url``."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT originator_id::text FROM casestore_events "
                            "WHERE topic LIKE %s", ("%Case.Submitted",)).fetchall()  # fmt: skip
    return Counter(r[0] for r in rows)
