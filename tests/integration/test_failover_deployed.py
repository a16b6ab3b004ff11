"""Failover as deployed (issue 16 items 1 and 3): separate API and projection-worker
processes, every one connected as the application role.

The shape of ``deploy/systemd``: the owner runs ``casestore db migrate``, ``casestore
catalogue`` and ``casestore db grant casestore_app``; two ``casestore serve --no-workers``
(API) and two ``casestore project run`` (one active per projection, one standby) connect
as ``casestore_app`` on the multi-host URL with ``target_session_attrs=read-write``. Two
clients per API process submit under ``Idempotency-Key`` and retry; an SSE client follows
the second API process. The primary's postmaster is killed (SIGKILL), the synchronous
standby promoted. Then no process was restarted; every acknowledged case is on the new
primary exactly once and nothing else was submitted; every projection, maintained only by
the ``project run`` processes, resumed from its stored position and equals a rebuild
(``casestore project verify``); the log verifies; no process logged a permission error.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from casestore.projections.runtime.registry import all_projections

from tests.failover_harness import (
    CASESTORE,
    SECRET,
    Follower,
    Load,
    free_port,
    kill_primary_and_promote,
    make_synchronous,
    standby_of,
    stop,
    submitted_cases,
    wait_until,
)
from tests.integration.servedstaff import PEPPER, clerk_headers, enrol_clerk
from tests.pgharness import ThrowawayCluster, _find_bindir, create_database

pytestmark = [pytest.mark.pg, pytest.mark.slow]
ROLE = "casestore_app"


def test_api_and_projector_processes_as_the_app_role_lose_nothing(tmp_path: Path) -> None:
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    primary = ThrowawayCluster(bindir)
    primary.start()
    standby: ThrowawayCluster | None = None
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        standby = standby_of(primary, bindir)
        make_synchronous(primary)
        dbname = create_database(primary.url).rsplit("/", 1)[1]
        hosts = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
        query = "target_session_attrs=read-write&connect_timeout=3"
        owner_url = f"postgresql://postgres@{hosts}/{dbname}?{query}"
        app_url = f"postgresql://{ROLE}@{hosts}/{dbname}?{query}"
        env = dict(os.environ, CASESTORE_SECRET=SECRET, CASESTORE_QUERY_PEPPER=PEPPER)
        for argv in (["db", "migrate"], ["catalogue"], ["db", "grant", ROLE]):
            done = subprocess.run([str(CASESTORE), *argv, "--db", owner_url], env=env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
        enrol_clerk(CASESTORE, owner_url, env)
        ports = [free_port(), free_port()]
        logs = {}
        commands = {
            "api1": ["serve", "--no-workers", "--port", str(ports[0])],
            "api2": ["serve", "--no-workers", "--port", str(ports[1])],
            "projector-a": ["project", "run"],
            "projector-b": ["project", "run"],
        }
        for name, argv in commands.items():
            logs[name] = tmp_path / f"{name}.log"
            with logs[name].open("wb") as out:
                procs[name] = subprocess.Popen([str(CASESTORE), *argv, "--db", app_url],
                                               env=env, stdout=out, stderr=out)  # fmt: skip
        running = list(procs.values())
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base in bases:
            wait_until(lambda b=base: httpx.get(f"{b}/health", timeout=2).status_code == 200,
                       180, *running)  # fmt: skip
        headers = clerk_headers(SECRET)
        load, follower = Load(bases[0], headers), Follower(bases[1], headers)
        threads = [threading.Thread(target=load.client, args=(f"t{i}", bases[i % 2]))
                   for i in range(4)]  # fmt: skip
        threads.append(threading.Thread(target=follower.run))
        for t in threads:
            t.start()
        time.sleep(4)
        before = len(load.acked)
        killed_at = kill_primary_and_promote(primary, standby)
        promoted_at = time.monotonic()
        load.wait_for_ack_after(promoted_at, 120, *running)
        time.sleep(4)
        load.stop.set()
        for t in threads[:-1]:
            t.join(timeout=120)
        first_after = min(t for t in load.acked_at if t > promoted_at)

        def caught_up() -> bool:
            h = httpx.get(f"{bases[0]}/health", timeout=5)
            return h.status_code == 200 and all(
                p["lag"] == 0 for p in h.json()["projections"].values())  # fmt: skip

        wait_until(caught_up, 180, *running)
        time.sleep(1.5)  # the stream's poll
        follower.stop.set()
        threads[-1].join(timeout=60)
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited: {logs[name].read_text()[-2000:]}"

        # Every acknowledged command is on the new primary, once; nothing else was submitted.
        submitted = submitted_cases(f"postgresql://postgres@127.0.0.1:{standby.port}/{dbname}")
        acked_ids = set(load.acked.values())
        assert len(acked_ids) == len(load.acked)
        assert [c for c, n in submitted.items() if n > 1] == []
        assert acked_ids - set(submitted) == set(), "acknowledged but lost"
        assert set(submitted) - acked_ids == set(), "submitted twice under one key"
        assert load.unexpected == [], load.unexpected[:5]
        # The projection workers resumed from their stored positions: each view equals a
        # rebuild from the log prefix it was built from.
        names = [p.name for p in all_projections()]
        for name in names:
            argv = [str(CASESTORE), "project", "verify", name, "--db", owner_url]
            checked = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
            assert checked.returncode == 0, checked.stdout + checked.stderr
        verified = subprocess.run([str(CASESTORE), "verify", "--db", owner_url], env=env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
        positions = [p for p, _ in follower.seen]
        assert positions == sorted(set(positions))
        streamed = {d["case_id"] for _, d in follower.seen if d["event"] == "Submitted"}
        assert streamed == acked_ids
        for name, path in logs.items():
            assert b"permission denied" not in path.read_bytes(), name
        print(
            f"\nFAILOVER (deployed, as {ROLE}): acknowledged {len(load.acked)} ({before} "
            f"before the kill), present after failover {len(acked_ids & set(submitted))}, "
            f"doubled 0; promoted {promoted_at - killed_at:.1f} s after the kill, first ack "
            f"after it {first_after - promoted_at:.1f} s later ({first_after - killed_at:.1f} s "
            f"after the kill); statuses "
            f"{dict(load.statuses)}, transport errors {dict(load.transport)}; "
            f"{len(names)} projections verified; SSE events {len(follower.seen)}, "
            f"reconnects {follower.reconnects}; processes restarted 0"
        )
    finally:
        for proc in procs.values():
            stop(proc)
        if standby is not None:
            standby.stop()
        primary.stop()
