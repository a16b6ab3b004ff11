"""Patroni's automatic failover with a three-member etcd (issue 16 item 1), under load.

The shipped example (``deploy/patroni/patroni-pg1.yml``, timings as shipped: ttl 30 s,
loop_wait 10 s) on loopback: three etcd members and two Patroni nodes, as the README
lays them out on hosts pg1, pg2 and a third. ``casestore serve`` takes commands on the
two-host URL from four clients. Then pg1's "host" dies: its Patroni, its PostgreSQL and
its etcd member are killed with SIGKILL, nobody runs ``patronictl``. The two etcd members
left keep a quorum, and Patroni promotes pg2 by itself (synchronous mode is strict; the
test prints how many commands were acknowledged in the 3 s after the promotion, while
pg2 had no standby, but asserts nothing about it); when the host returns
(its etcd member and Patroni restarted), Patroni rewinds pg1 and attaches it as the
standby, and commands are acknowledged again. Every acknowledged case is on pg2 exactly
once, the server process was never restarted, and the log verifies on the two-host URL.

Needs ``patroni`` and ``etcd`` (skipped without them, like ``test_patroni.py``); the
nodes, etcd and the served ``casestore`` come from ``tests/failover_harness.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.failover_harness import (
    PASSWORDS,
    SECRET,
    Load,
    assert_acknowledged_once,
    assert_log_verifies,
    casestore_env,
    end,
    etcd_member,
    free_port,
    members,
    node_config,
    patroni_bindir,
    patroni_root,
    prepare,
    serve,
    start_as_postgres,
    start_patroni_pair,
    stop,
    submitted_cases,
    wait_until,
)
from tests.integration.servedstaff import clerk_headers

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def test_patroni_fails_over_by_itself_when_the_leader_s_host_dies(tmp_path: Path) -> None:
    bindir = patroni_bindir()
    root = patroni_root()
    env = dict(os.environ, **PASSWORDS)
    ports = [(free_port(), free_port()) for _ in range(3)]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    server = None
    try:
        for i in (1, 2, 3):
            procs[f"etcd{i}"] = etcd_member(root, i, ports, env)
        etcd = [client for client, _ in ports]
        nodes = {n: node_config(root, n, etcd, bindir) for n in ("pg1", "pg2")}
        url = start_patroni_pair(root, nodes, procs, env)
        cs_env = casestore_env()
        prepare(url, cs_env)
        server, base = serve(url, cs_env, tmp_path / "serve.log")
        load = Load(base, clerk_headers(SECRET))
        threads = [threading.Thread(target=load.client, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(4)

        # pg1's host dies: Patroni, PostgreSQL and the etcd member on it, all at once.
        postmaster = int((root / "pg1" / "postmaster.pid").read_text().split()[0])
        killed_at = time.monotonic()
        for name in ("pg1", "etcd1"):
            os.killpg(procs[name].pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(postmaster, signal.SIGKILL)
        for name in ("pg1", "etcd1"):
            procs.pop(name).wait(timeout=30)
        before = len(load.acked)
        survivors = [*procs.values(), server]
        wait_until(lambda: members(nodes["pg2"][1]).get("pg2") == "leader", 240, *survivors)
        promoted_at = time.monotonic()
        time.sleep(3)
        acked_alone = sum(1 for t in load.acked_at if t > promoted_at)

        # The host returns: its etcd member rejoins, Patroni rewinds pg1 into a standby.
        procs["etcd1"] = etcd_member(root, 1, ports, env)
        procs["pg1"] = start_as_postgres(
            ["patroni", str(nodes["pg1"][0])], root / "pg1-again.log", env
        )
        wait_until(lambda: members(nodes["pg2"][1]).get("pg1") == "sync_standby", 300,
                   *procs.values(), server)  # fmt: skip
        rejoined_at = time.monotonic()
        load.wait_for_ack_after(rejoined_at, 120, server)
        time.sleep(3)
        load.stop.set()
        for t in threads:
            t.join(timeout=120)
        assert server.poll() is None, "the server process died"

        two = nodes["pg2"][2]
        submitted = submitted_cases(f"postgresql://postgres@127.0.0.1:{two}/casestore")
        acked_ids = assert_acknowledged_once(load, submitted)
        assert_log_verifies(url, cs_env)
        first_after = min(t for t in load.acked_at if t > killed_at)
        print(
            f"\nPATRONI AUTOMATIC FAILOVER: acknowledged {len(load.acked)} ({before} before the "
            f"kill), present on pg2 {len(acked_ids & set(submitted))}, doubled 0; pg2 leader "
            f"{promoted_at - killed_at:.1f} s after the kill (no patronictl), acknowledged "
            f"while alone {acked_alone}; pg1 back as sync standby {rejoined_at - killed_at:.1f}"
            f" s after the kill; first ack after the kill {first_after - killed_at:.1f} s; "
            f"statuses {dict(load.statuses)}, transport errors {dict(load.transport)}"
        )
    finally:
        stop(server)
        for name in ("pg2", "pg1", "etcd1", "etcd2", "etcd3"):
            end(procs.get(name))
        shutil.rmtree(root, ignore_errors=True)
