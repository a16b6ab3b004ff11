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
from pathlib import Path

import httpx
import psycopg
import pytest

from casestore.store.logbase import APPEND_FUNCTION
from tests.integration.servedstaff import PEPPER, clerk_headers, enrol_clerk
from tests.integration.test_pg_restart import APPLICANT, CASESTORE, SECRET, _free_port, _wait
from tests.pgharness import ThrowawayCluster, _find_bindir, create_database

pytestmark = [pytest.mark.pg, pytest.mark.slow]


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


def test_health_and_commands_answer_503_while_the_database_is_frozen(tmp_path: Path) -> None:
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    cluster = ThrowawayCluster(bindir)
    cluster.start()
    server = None
    frozen: list[int] = []
    try:
        url = create_database(cluster.url)
        env = dict(
            os.environ,
            CASESTORE_SECRET=SECRET,
            CASESTORE_QUERY_PEPPER=PEPPER,
            CASESTORE_DB_CONNECT_TIMEOUT="2",
        )
        subprocess.run(
            [str(CASESTORE), "catalogue", "--db", url],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        enrol_clerk(CASESTORE, url, env)
        port = _free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            server = subprocess.Popen(
                [str(CASESTORE), "serve", "--db", url, "--port", str(port)],
                env=env,
                stdout=log,
                stderr=log,
            )
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 120, server)
        headers = clerk_headers(SECRET)
        body = {"item_code": "XK-003", "applicant": APPLICANT}
        before = httpx.post(
            f"{base}/cases", headers={**headers, "Idempotency-Key": "f-0"}, json=body, timeout=30
        )
        assert before.status_code == 201, before.text

        frozen = _cluster_pids(cluster)
        _signal_all(frozen, signal.SIGSTOP)
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
                    json=body,
                    timeout=300,
                )
            )
        )
        sender.start()
        time.sleep(3)
        assert sender.is_alive() and not waiting  # no answer while the database is stopped

        _signal_all(frozen, signal.SIGCONT)
        frozen = []
        _wait(lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200, 120, server)
        sender.join(timeout=300)
        after = waiting["r"]
        assert after.status_code == 201, after.text
        again = httpx.post(
            f"{base}/cases", headers={**headers, "Idempotency-Key": "f-1"}, json=body, timeout=30
        )
        assert again.json()["case_id"] == after.json()["case_id"]  # written once
        assert server.poll() is None, "the server process died"
    finally:
        _signal_all(frozen, signal.SIGCONT)
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        cluster.stop()


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
    tmp_path: Path,
) -> None:
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    cluster = ThrowawayCluster(bindir)
    cluster.start()
    server = None
    stopped: list[int] = []
    try:
        url = create_database(cluster.url)
        env = dict(
            os.environ,
            CASESTORE_SECRET=SECRET,
            CASESTORE_QUERY_PEPPER=PEPPER,
            CASESTORE_COMMIT_QUEUE_WAIT="2",
        )
        subprocess.run(
            [str(CASESTORE), "catalogue", "--db", url],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        enrol_clerk(CASESTORE, url, env)
        port = _free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            server = subprocess.Popen(
                [str(CASESTORE), "serve", "--db", url, "--port", str(port)],
                env=env,
                stdout=log,
                stderr=log,
            )
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 120, server)
        headers = clerk_headers(SECRET)
        body = {"item_code": "XK-003", "applicant": APPLICANT}
        before = httpx.post(f"{base}/cases", headers=headers, json=body, timeout=30)
        assert before.status_code == 201, before.text
        case_id = before.json()["case_id"]
        size = _log_size(url)

        stopped = _writer_backends(url)
        assert stopped, "no backend has appended to the log"
        _signal_all(stopped, signal.SIGSTOP)
        hung: dict[str, httpx.Response] = {}
        first = threading.Thread(
            target=lambda: hung.update(
                r=httpx.post(
                    f"{base}/cases",
                    headers={**headers, "Idempotency-Key": "h-1"},
                    json=body,
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

        _signal_all(stopped, signal.SIGCONT)
        stopped = []
        first.join(timeout=300)
        assert hung["r"].status_code == 201, hung["r"].text
        assert _log_size(url) == size + 2  # the case and its number index, once
        again = httpx.post(
            f"{base}/cases", headers={**headers, "Idempotency-Key": "h-1"}, json=body, timeout=30
        )
        assert again.json()["case_id"] == hung["r"].json()["case_id"]
        assert _log_size(url) == size + 2  # the replay wrote nothing
        retried = httpx.post(f"{base}/cases/{case_id}/accept", headers=headers, json={}, timeout=30)
        assert retried.status_code == 200, retried.text  # the refused command, retried
        assert server.poll() is None, "the server process died"
    finally:
        _signal_all(stopped, signal.SIGCONT)
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        cluster.stop()
