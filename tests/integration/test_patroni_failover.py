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

Needs ``patroni`` and ``etcd`` (skipped without them, like ``test_patroni.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.failover_harness import (
    CASESTORE,
    SECRET,
    Load,
    free_port,
    stop,
    submitted_cases,
    wait_until,
)
from tests.integration.servedstaff import PEPPER, clerk_headers, enrol_clerk
from tests.integration.test_patroni import PASSWORDS, _end, _members, _node_config, _start
from tests.pgharness import _ensure_postgres_user, _find_bindir

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def _etcd(root: Path, i: int, ports: list[tuple[int, int]], env: dict[str, str]
          ) -> subprocess.Popen[bytes]:  # fmt: skip
    """Member e``i`` of the three (restarted with the same arguments, it rejoins)."""
    client, peer = ports[i - 1]
    cluster = ",".join(f"e{n}=http://127.0.0.1:{p}" for n, (_, p) in enumerate(ports, 1))
    return _start(
        ["etcd", "--name", f"e{i}", "--data-dir", str(root / f"etcd{i}"),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", cluster, "--initial-cluster-token", "casestore-test",
         "--initial-cluster-state", "new"],
        root / f"etcd{i}.log", env)  # fmt: skip


def test_patroni_fails_over_by_itself_when_the_leader_s_host_dies(tmp_path: Path) -> None:
    bindir = _find_bindir()
    missing = [t for t in ("patroni", "patronictl", "etcd") if shutil.which(t) is None]
    if bindir is None or missing:
        pytest.skip(f"needs PostgreSQL, Patroni and etcd (missing: {missing or 'PostgreSQL'})")
    root = Path(tempfile.mkdtemp(prefix="casestore-patroni-", dir="/tmp"))
    (root / "wal").mkdir()
    if os.geteuid() == 0:
        user = _ensure_postgres_user()
        for path in (root, root / "wal"):
            os.chown(path, user.pw_uid, user.pw_gid)
    env = dict(os.environ, **PASSWORDS)
    ports = [(free_port(), free_port()) for _ in range(3)]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    server = None
    try:
        for i in (1, 2, 3):
            procs[f"etcd{i}"] = _etcd(root, i, ports, env)
        nodes = {}
        for name in ("pg1", "pg2"):
            path, rest, pg = _node_config(root, name, ports[0][0], bindir)
            config = yaml.safe_load(path.read_text())
            config["etcd3"] = {"hosts": [f"127.0.0.1:{client}" for client, _ in ports]}
            path.write_text(yaml.safe_dump(config))
            nodes[name] = (path, rest, pg)
        procs["pg1"] = _start(["patroni", str(nodes["pg1"][0])], root / "pg1.log", env)
        wait_until(lambda: _members(nodes["pg1"][1]).get("pg1") == "leader", 180,
                   *procs.values())  # fmt: skip
        procs["pg2"] = _start(["patroni", str(nodes["pg2"][0])], root / "pg2.log", env)
        wait_until(lambda: _members(nodes["pg1"][1]).get("pg2") == "sync_standby", 180,
                   *procs.values())  # fmt: skip

        one, two = nodes["pg1"][2], nodes["pg2"][2]
        subprocess.run(["psql", f"postgresql://postgres@127.0.0.1:{one}/postgres", "-c",
                        "CREATE DATABASE casestore"], check=True, capture_output=True,
                       timeout=60)  # fmt: skip
        url = (f"postgresql://postgres@127.0.0.1:{one},127.0.0.1:{two}/casestore"
               "?target_session_attrs=read-write&connect_timeout=3")  # fmt: skip
        cs_env = dict(os.environ, CASESTORE_SECRET=SECRET, CASESTORE_QUERY_PEPPER=PEPPER)
        for argv in (["db", "migrate"], ["catalogue"]):
            done = subprocess.run([str(CASESTORE), *argv, "--db", url], env=cs_env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stderr
        enrol_clerk(CASESTORE, url, cs_env)
        port = free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            server = subprocess.Popen([str(CASESTORE), "serve", "--db", url, "--port", str(port)],
                                      env=cs_env, stdout=log, stderr=log)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 180, server)
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
        wait_until(lambda: _members(nodes["pg2"][1]).get("pg2") == "leader", 240, *survivors)
        promoted_at = time.monotonic()
        time.sleep(3)
        acked_alone = sum(1 for t in load.acked_at if t > promoted_at)

        # The host returns: its etcd member rejoins, Patroni rewinds pg1 into a standby.
        procs["etcd1"] = _etcd(root, 1, ports, env)
        procs["pg1"] = _start(["patroni", str(nodes["pg1"][0])], root / "pg1-again.log", env)
        wait_until(lambda: _members(nodes["pg2"][1]).get("pg1") == "sync_standby", 300,
                   *procs.values(), server)  # fmt: skip
        rejoined_at = time.monotonic()
        load.wait_for_ack_after(rejoined_at, 120, server)
        time.sleep(3)
        load.stop.set()
        for t in threads:
            t.join(timeout=120)
        assert server.poll() is None, "the server process died"

        submitted = submitted_cases(f"postgresql://postgres@127.0.0.1:{two}/casestore")
        acked_ids = set(load.acked.values())
        assert len(acked_ids) == len(load.acked)
        assert [c for c, n in submitted.items() if n > 1] == []
        assert acked_ids - set(submitted) == set(), "acknowledged but lost"
        assert set(submitted) - acked_ids == set(), "submitted twice under one key"
        assert load.unexpected == [], load.unexpected[:5]
        verified = subprocess.run([str(CASESTORE), "verify", "--db", url], env=cs_env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
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
            _end(procs.get(name))
        shutil.rmtree(root, ignore_errors=True)
