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
``make system-deps`` as root); skipped without them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from casestore.projections.runtime.registry import all_projections

from tests.failover_harness import (
    CASESTORE,
    SECRET,
    Follower,
    Load,
    free_port,
    stop,
    submitted_cases,
    wait_until,
)
from tests.integration.servedstaff import PEPPER, clerk_headers, enrol_clerk
from tests.pgharness import _as_pg_user, _ensure_postgres_user, _find_bindir

pytestmark = [pytest.mark.pg, pytest.mark.slow]
EXAMPLE = Path(__file__).parents[2] / "deploy" / "patroni" / "patroni-pg1.yml"
PASSWORDS = {"PATRONI_SUPERUSER_PASSWORD": "su-secret", "PATRONI_REPLICATION_PASSWORD":
             "rep-secret", "PATRONI_REWIND_PASSWORD": "rewind-secret"}  # fmt: skip


def _node_config(root: Path, name: str, etcd: int, bindir: str) -> tuple[Path, int, int]:
    """The example for node ``name`` on this machine: (file, REST port, PostgreSQL port)."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    rest, pg = free_port(), free_port()
    config["name"] = name
    config["restapi"] = {"listen": f"127.0.0.1:{rest}", "connect_address": f"127.0.0.1:{rest}"}
    config["etcd3"] = {"hosts": [f"127.0.0.1:{etcd}"]}
    boot = config["bootstrap"]
    boot["pg_hba"] = ["local all all trust", "host replication all 127.0.0.1/32 trust",
                      "host all all 127.0.0.1/32 trust"]  # fmt: skip
    params = boot["dcs"]["postgresql"]["parameters"]
    params["archive_command"] = f"test ! -f {root}/wal/%f && cp %p {root}/wal/%f"
    config["postgresql"].update(
        listen=f"127.0.0.1:{pg}",
        connect_address=f"127.0.0.1:{pg}",
        data_dir=str(root / name),
        bin_dir=bindir,
        pgpass=str(root / f"pgpass-{name}"),
        parameters={"unix_socket_directories": str(root), "max_connections": 100},
    )
    path = root / f"{name}.yml"
    path.write_text(yaml.safe_dump(config))
    return path, rest, pg


def _members(rest: int) -> dict[str, str]:
    body = httpx.get(f"http://127.0.0.1:{rest}/cluster", timeout=3).json()
    return {m["name"]: m["role"] for m in body["members"] if m.get("state") == "running"}


def _start(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(_as_pg_user(argv), stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)  # fmt: skip


def _end(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Signal a process we started (its own session) and wait; SIGKILL after 60 s."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_patroni_switchover_under_load_loses_nothing(tmp_path: Path) -> None:
    bindir = _find_bindir()
    missing = [t for t in ("patroni", "patronictl", "etcd") if shutil.which(t) is None]
    if bindir is None or missing:
        pytest.skip(f"needs PostgreSQL, Patroni and etcd (missing: {missing or 'PostgreSQL'})")
    # Outside pytest's root-only tmp folder: Patroni runs PostgreSQL, which refuses root.
    root = Path(tempfile.mkdtemp(prefix="casestore-patroni-", dir="/tmp"))
    (root / "wal").mkdir()
    if os.geteuid() == 0:
        user = _ensure_postgres_user()
        for path in (root, root / "wal"):
            os.chown(path, user.pw_uid, user.pw_gid)
    env = dict(os.environ, **PASSWORDS)
    etcd_port, peer = free_port(), free_port()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    server = None
    try:
        procs["etcd"] = _start(
            ["etcd", "--name", "e1", "--data-dir", str(root / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"e1=http://127.0.0.1:{peer}"],
            root / "etcd.log", env)  # fmt: skip
        nodes = {n: _node_config(root, n, etcd_port, bindir) for n in ("pg1", "pg2")}
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
        assert _members(nodes["pg2"][1]).get("pg2") == "leader"
        load.wait_for_ack_after(switched_at, 120, server)
        time.sleep(4)
        load.stop.set()
        for t in threads[:-1]:
            t.join(timeout=120)
        first_after = min(t for t in load.acked_at if t > switched_at)

        def caught_up() -> bool:
            h = httpx.get(f"{base}/health", timeout=5)
            return h.status_code == 200 and all(
                p["lag"] == 0 for p in h.json()["projections"].values())  # fmt: skip

        wait_until(caught_up, 180, server)
        time.sleep(1.5)  # the stream's poll
        follower.stop.set()
        threads[-1].join(timeout=60)
        assert server.poll() is None, "the server process died"

        submitted = submitted_cases(f"postgresql://postgres@127.0.0.1:{two}/casestore")
        acked_ids = set(load.acked.values())
        assert len(acked_ids) == len(load.acked)
        assert [c for c, n in submitted.items() if n > 1] == []
        assert acked_ids - set(submitted) == set(), "acknowledged but lost"
        assert set(submitted) - acked_ids == set(), "submitted twice under one key"
        assert load.unexpected == [], load.unexpected[:5]
        for name in [p.name for p in all_projections()]:
            argv = [str(CASESTORE), "project", "verify", name, "--db", url]
            checked = subprocess.run(argv, env=cs_env, capture_output=True, text=True,
                                     timeout=300)  # fmt: skip
            assert checked.returncode == 0, checked.stdout + checked.stderr
        verified = subprocess.run([str(CASESTORE), "verify", "--db", url], env=cs_env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
        streamed = {d["case_id"] for _, d in follower.seen if d["event"] == "Submitted"}
        assert streamed == acked_ids
        roles = json.dumps(_members(nodes["pg2"][1]))
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
            _end(procs.get(name))
        shutil.rmtree(root, ignore_errors=True)
