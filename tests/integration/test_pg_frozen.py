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
import pytest

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
