"""The Patroni + etcd example (``deploy/patroni/patroni-pg1.yml``) run, and the README's
switchover procedure carried out under load (issue 16 item 1).

One etcd member and two Patroni nodes on loopback ports, each node's configuration the
example's with only the addresses, folders and host-based access changed for this
machine (synchronous mode strict, ``maximum_lag_on_failover: 0``, pg_rewind and WAL
archiving exactly as shipped). ``casestore serve`` connects with the two-host URL and
``target_session_attrs=read-write``; four clients submit under ``Idempotency-Key``; then
``patronictl switchover --leader pg1 --candidate pg2``. Afterwards pg2 leads, the same
server process takes commands, every acknowledged case is on pg2 exactly once, every
projection equals a rebuild and the log verifies on the two-host URL.

Needs ``patroni`` and ``etcd`` (Debian: ``patroni``, ``etcd-server``; installed by
``make system-deps`` as root); skipped without them. The nodes, etcd and the served
``casestore`` come from ``tests/failover_harness.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.failover_harness import (
    PASSWORDS,
    SECRET,
    Follower,
    Load,
    assert_acknowledged_once,
    assert_log_verifies,
    assert_projections_verify,
    casestore_env,
    end,
    etcd_member,
    free_port,
    members,
    node_config,
    patroni_bindir,
    patroni_root,
    prepare,
    projections_caught_up,
    serve,
    start_patroni_pair,
    stop,
    submitted_cases,
    wait_until,
)
from tests.integration.servedstaff import clerk_headers
from tests.pgharness import _as_pg_user

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def test_patroni_switchover_under_load_loses_nothing(tmp_path: Path) -> None:
    bindir = patroni_bindir()
    root = patroni_root()
    env = dict(os.environ, **PASSWORDS)
    ports = [(free_port(), free_port())]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    server = None
    try:
        procs["etcd"] = etcd_member(root, 1, ports, env)
        nodes = {n: node_config(root, n, [ports[0][0]], bindir) for n in ("pg1", "pg2")}
        url = start_patroni_pair(root, nodes, procs, env)
        cs_env = casestore_env()
        prepare(url, cs_env)
        server, base = serve(url, cs_env, tmp_path / "serve.log")
        headers = clerk_headers(SECRET)
        load, follower = Load(base, headers), Follower(base, headers)
        threads = [threading.Thread(target=load.client, args=(f"t{i}",)) for i in range(4)]
        threads.append(threading.Thread(target=follower.run))
        for t in threads:
            t.start()
        time.sleep(4)
        before = len(load.acked)
        # The README's switchover procedure (--force: no confirmation prompt).
        started_at = time.monotonic()
        switched = subprocess.run(
            _as_pg_user(["patronictl", "-c", str(nodes["pg1"][0]), "switchover", "--leader",
                         "pg1", "--candidate", "pg2", "--force"]),
            env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
        switched_at = time.monotonic()
        assert switched.returncode == 0, switched.stdout + switched.stderr
        assert members(nodes["pg2"][1]).get("pg2") == "leader"
        load.wait_for_ack_after(switched_at, 120, server)
        time.sleep(4)
        load.stop.set()
        for t in threads[:-1]:
            t.join(timeout=120)
        first_after = min(t for t in load.acked_at if t > switched_at)

        wait_until(lambda: projections_caught_up(base), 180, server)
        time.sleep(1.5)  # the stream's poll
        follower.stop.set()
        threads[-1].join(timeout=60)
        assert server.poll() is None, "the server process died"

        two = nodes["pg2"][2]
        submitted = submitted_cases(f"postgresql://postgres@127.0.0.1:{two}/casestore")
        acked_ids = assert_acknowledged_once(load, submitted)
        assert_projections_verify(url, cs_env)
        assert_log_verifies(url, cs_env)
        streamed = {d["case_id"] for _, d in follower.seen if d["event"] == "Submitted"}
        assert streamed == acked_ids
        roles = json.dumps(members(nodes["pg2"][1]))
        print(
            f"\nPATRONI SWITCHOVER: acknowledged {len(load.acked)} ({before} before), present "
            f"on pg2 {len(acked_ids & set(submitted))}, doubled 0; patronictl took "
            f"{switched_at - started_at:.1f} s, first ack after it "
            f"{first_after - switched_at:.1f} s later; statuses {dict(load.statuses)}, "
            f"transport errors {dict(load.transport)}; SSE events {len(follower.seen)}, "
            f"reconnects {follower.reconnects}; members {roles}"
        )
    finally:
        stop(server)
        for name in ("pg2", "pg1", "etcd"):
            end(procs.get(name))
        shutil.rmtree(root, ignore_errors=True)
