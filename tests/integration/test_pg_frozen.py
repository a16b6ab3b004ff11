"""A frozen database (every PostgreSQL process stopped with SIGSTOP: the kernel still
accepts and acknowledges TCP, the server never answers) under a real ``casestore serve``:
``/health`` still answers, with 503 ``unavailable`` naming the database and the writes,
instead of hanging (issue 12, item 3). A command sent meanwhile waits for the database:
nothing on the client side can tell a frozen server from a slow commit (libpq has no read
timeout, a server-side ``statement_timeout`` cannot fire while the server is stopped), and
answering 503 for a command whose transaction may still commit would invite a retry
without its key. Once the database thaws the command completes, written once, and the
service recovers without a process restart.

Each ``/health`` probe has a time budget (``api/routes/ops.py``); this test checks that
the answer comes and what it says, with a client timeout far above the budget so a
loaded machine does not make it flaky. The elapsed times are printed for the record.

The second test stops only the backend that writes the log (the group-commit leader's
kept connection), so a command's reads (its staff member's grants, its key's binding)
still answer while its batch hangs: a second command, queued behind that batch, leaves
the queue after ``CASESTORE_COMMIT_QUEUE_WAIT`` and answers 503 with nothing written;
the first, already sent, completes once when the backend runs again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from casestore.store.logbase import APPEND_FUNCTION
from tests.failover_harness import APPLICANT, SECRET, casestore_env, prepare, serve, wait_until
from tests.integration.servedstaff import clerk_headers
from tests.pgharness import ThrowawayCluster, _find_bindir, create_database

pytestmark = [pytest.mark.pg, pytest.mark.slow]
BODY = {"item_code": "XK-003", "applicant": APPLICANT}


def _cluster_pids(cluster: ThrowawayCluster) -> list[int]:
    """The postmaster and every process it forked."""
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:  # field 4 of /proc/PID/stat: the parent
            pids.append(int(stat.parent.name))
    return pids


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class Served:
    """A throwaway cluster with a database and ``casestore serve`` on it; processes of
    the cluster stopped with :meth:`freeze` run again at the latest when the test ends."""

    cluster: ThrowawayCluster
    url: str
    base: str
    server: subprocess.Popen[bytes]
    headers: dict[str, str]
    frozen: list[int] = field(default_factory=list)

    def freeze(self, pids: list[int]) -> None:
        self.frozen = pids
        _signal_all(pids, signal.SIGSTOP)

    def thaw(self) -> None:
        _signal_all(self.frozen, signal.SIGCONT)
        self.frozen = []


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``served(**env)``: a fresh cluster, the catalogue and a clerk, and ``casestore
    serve`` with ``env`` added to its environment, answering ``/health`` with 200."""
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    started: list[Served] = []
    clusters: list[ThrowawayCluster] = []

    def start(**extra: str) -> Served:
        cluster = ThrowawayCluster(bindir)
        cluster.start()
        clusters.append(cluster)
        url = create_database(cluster.url)
        env = casestore_env(**extra)
        prepare(url, env, migrate=False)
        server, base = serve(url, env, tmp_path / "serve.log")
        started.append(Served(cluster, url, base, server, clerk_headers(SECRET)))
        return started[-1]

    try:
        yield start
    finally:
        for one in started:
            one.thaw()
            one.server.send_signal(signal.SIGINT)
            try:
                one.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                one.server.kill()
        for cluster in clusters:
            cluster.stop()


def test_frozen_database_health_answers_503_a_command_waits_unanswered_and_lands_once(
    served: Callable[..., Served],
) -> None:
    app = served(CASESTORE_DB_CONNECT_TIMEOUT="2")
    base, headers = app.base, app.headers
    before = httpx.post(
        f"{base}/cases", headers={**headers, "Idempotency-Key": "f-0"}, json=BODY, timeout=30
    )
    assert before.status_code == 201, before.text

    app.freeze(_cluster_pids(app.cluster))
    started = time.monotonic()
    health = httpx.get(f"{base}/health", timeout=30)
    health_s = time.monotonic() - started
    assert health.status_code == 503, health.text
    assert health.headers["content-type"].startswith("application/problem+json")
    assert health.json()["database"]["ok"] is False
    assert health.json()["writes"]["ok"] is False
    assert health.headers.get("Retry-After")
    print(f"frozen database: /health answered 503 in {health_s:.2f} s")
    waiting: dict[str, httpx.Response] = {}
    sender = threading.Thread(
        target=lambda: waiting.update(
            r=httpx.post(
                f"{base}/cases",
                headers={**headers, "Idempotency-Key": "f-1"},
                json=BODY,
                timeout=300,
            )
        )
    )
    sender.start()
    time.sleep(3)
    assert sender.is_alive() and not waiting  # no answer while the database is stopped

    app.thaw()
    wait_until(lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200, 120, app.server)
    sender.join(timeout=300)
    after = waiting["r"]
    assert after.status_code == 201, after.text
    again = httpx.post(
        f"{base}/cases", headers={**headers, "Idempotency-Key": "f-1"}, json=BODY, timeout=30
    )
    assert again.json()["case_id"] == after.json()["case_id"]  # written once
    assert app.server.poll() is None, "the server process died"


def _writer_backends(url: str) -> list[int]:
    """The backends whose last statement appended to the log (the leaders' connections)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE %s",
            (f"%{APPEND_FUNCTION}%",),
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def _unread_bytes(pid: int) -> int:
    """Bytes waiting, unread, in the TCP sockets of process ``pid`` (a statement sent to a
    stopped backend sits there)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    unread = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    unread += int(fields[4].split(":")[1], 16)
    return unread


def _log_size(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM casestore_events").fetchone()
    assert row is not None
    return int(row[0])


def test_a_command_queued_behind_a_hung_commit_answers_503_and_the_hung_one_lands_once(
    served: Callable[..., Served],
) -> None:
    app = served(CASESTORE_COMMIT_QUEUE_WAIT="2")
    base, headers, url = app.base, app.headers, app.url
    before = httpx.post(f"{base}/cases", headers=headers, json=BODY, timeout=30)
    assert before.status_code == 201, before.text
    case_id = before.json()["case_id"]
    size = _log_size(url)

    stopped = _writer_backends(url)
    assert stopped, "no backend has appended to the log"
    app.freeze(stopped)
    hung: dict[str, httpx.Response] = {}
    first = threading.Thread(
        target=lambda: hung.update(
            r=httpx.post(
                f"{base}/cases",
                headers={**headers, "Idempotency-Key": "h-1"},
                json=BODY,
                timeout=300,
            )
        )
    )
    first.start()
    # The first command's batch has been sent once its statement sits unread at the
    # stopped backend: from then on the command is inside a committing batch.
    deadline = time.monotonic() + 120
    while not any(_unread_bytes(pid) for pid in stopped):
        assert time.monotonic() < deadline, "the first command never reached the writer"
        assert first.is_alive(), hung
        time.sleep(0.1)

    started = time.monotonic()
    queued = httpx.post(f"{base}/cases/{case_id}/accept", headers=headers, json={}, timeout=120)
    queued_s = time.monotonic() - started
    assert queued.status_code == 503, queued.text
    assert queued.headers["content-type"].startswith("application/problem+json")
    assert queued.json()["type"].endswith("/unavailable")
    assert "nothing was written" in queued.json()["detail"]
    assert queued.headers.get("Retry-After")
    assert first.is_alive() and not hung  # the sent one still waits for its batch
    assert _log_size(url) == size  # nothing written meanwhile
    print(f"hung commit: the queued command answered 503 in {queued_s:.2f} s")

    app.thaw()
    first.join(timeout=300)
    assert hung["r"].status_code == 201, hung["r"].text
    assert _log_size(url) == size + 2  # the case and its number index, once
    again = httpx.post(
        f"{base}/cases", headers={**headers, "Idempotency-Key": "h-1"}, json=BODY, timeout=30
    )
    assert again.json()["case_id"] == hung["r"].json()["case_id"]
    assert _log_size(url) == size + 2  # the replay wrote nothing
    retried = httpx.post(f"{base}/cases/{case_id}/accept", headers=headers, json={}, timeout=30)
    assert retried.status_code == 200, retried.text  # the refused command, retried
    assert app.server.poll() is None, "the server process died"
