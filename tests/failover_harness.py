"""What the failover tests share (issue 16 item 1): two PostgreSQL clusters on loopback as
a primary and its synchronous standby, Patroni nodes and etcd members built from the
shipped example, a prepared and served ``casestore``, the clients they drive through it,
and the checks that nothing acknowledged was lost or doubled.

Used by ``tests/integration/test_failover.py`` (serve with embedded workers),
``tests/integration/test_failover_deployed.py`` (the deployed shape: API and projection
workers as separate processes, as the application role), ``test_patroni.py`` (the
README's switchover) and ``test_patroni_failover.py`` (Patroni's automatic failover).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import yaml

from tests.integration.servedstaff import PEPPER, enrol_clerk
from tests.pgharness import ThrowawayCluster, _as_pg_user, _ensure_postgres_user, _find_bindir

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


# -- casestore, prepared and served ---------------------------------------------------------


def casestore_env(**extra: str) -> dict[str, str]:
    """The environment every ``casestore`` process of these tests runs with."""
    return dict(os.environ, CASESTORE_SECRET=SECRET, CASESTORE_QUERY_PEPPER=PEPPER, **extra)


def prepare(url: str, env: Mapping[str, str], *, migrate: bool = True) -> None:
    """``db migrate`` (unless not ``migrate``), the catalogue and an enrolled clerk, in the
    store at ``url``."""
    for argv in ([["db", "migrate"]] if migrate else []) + [["catalogue"]]:
        done = subprocess.run([str(CASESTORE), *argv, "--db", url], env=dict(env),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
    enrol_clerk(CASESTORE, url, env)


def serve(url: str, env: Mapping[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``casestore serve`` on a free loopback port, its output in ``log``: the process and
    its base URL, once ``/health`` answers 200 (3 minutes at most)."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen([str(CASESTORE), "serve", "--db", url, "--port", str(port)],
                                  env=dict(env), stdout=out, stderr=out)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 180, server)
    except BaseException:
        stop(server)
        raise
    return server, base


def projections_caught_up(base: str) -> bool:
    """``/health`` answers 200 and every projection has read the whole log."""
    h = httpx.get(f"{base}/health", timeout=5)
    return h.status_code == 200 and all(p["lag"] == 0 for p in h.json()["projections"].values())


def assert_acknowledged_once(load: Load, submitted: Counter[str]) -> set[str]:
    """Every acknowledged case is in the log once and nothing else was submitted; the
    acknowledged case ids."""
    acked_ids = set(load.acked.values())
    assert len(acked_ids) == len(load.acked)  # one case per key
    assert [c for c, n in submitted.items() if n > 1] == []
    assert acked_ids - set(submitted) == set(), "acknowledged but lost"
    assert set(submitted) - acked_ids == set(), "submitted twice under one key"
    assert load.unexpected == [], load.unexpected[:5]
    return acked_ids


def assert_projections_verify(url: str, env: Mapping[str, str]) -> None:
    """``casestore project verify`` of every projection exits 0: each equals a rebuild."""
    from casestore.projections.runtime.registry import all_projections

    for name in [p.name for p in all_projections()]:
        argv = [str(CASESTORE), "project", "verify", name, "--db", url]
        checked = subprocess.run(argv, env=dict(env), capture_output=True, text=True,
                                 timeout=300)  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr


def assert_log_verifies(url: str, env: Mapping[str, str]) -> None:
    """``casestore verify`` exits 0 (INTACT)."""
    verified = subprocess.run([str(CASESTORE), "verify", "--db", url], env=dict(env),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


# -- Patroni and etcd, from the shipped example ---------------------------------------------

EXAMPLE = Path(__file__).parents[1] / "deploy" / "patroni" / "patroni-pg1.yml"
PASSWORDS = {"PATRONI_SUPERUSER_PASSWORD": "su-secret", "PATRONI_REPLICATION_PASSWORD":
             "rep-secret", "PATRONI_REWIND_PASSWORD": "rewind-secret"}  # fmt: skip


def patroni_bindir() -> str:
    """The PostgreSQL binaries Patroni runs; skips the test without PostgreSQL, Patroni
    or etcd."""
    bindir = _find_bindir()
    missing = [t for t in ("patroni", "patronictl", "etcd") if shutil.which(t) is None]
    if bindir is None or missing:
        pytest.skip(f"needs PostgreSQL, Patroni and etcd (missing: {missing or 'PostgreSQL'})")
    return bindir


def patroni_root() -> Path:
    """A fresh folder for the nodes, etcd and the WAL archive, outside pytest's root-only
    tmp folder (Patroni runs PostgreSQL, which refuses root), owned by ``postgres``."""
    root = Path(tempfile.mkdtemp(prefix="casestore-patroni-", dir="/tmp"))
    (root / "wal").mkdir()
    if os.geteuid() == 0:
        user = _ensure_postgres_user()
        for path in (root, root / "wal"):
            os.chown(path, user.pw_uid, user.pw_gid)
    return root


def node_config(root: Path, name: str, etcd: list[int], bindir: str) -> tuple[Path, int, int]:
    """The example for node ``name`` on this machine, talking to the etcd members on the
    client ports ``etcd``: (file, REST port, PostgreSQL port). Only the addresses,
    folders and host-based access differ from the shipped file."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    rest, pg = free_port(), free_port()
    config["name"] = name
    config["restapi"] = {"listen": f"127.0.0.1:{rest}", "connect_address": f"127.0.0.1:{rest}"}
    config["etcd3"] = {"hosts": [f"127.0.0.1:{client}" for client in etcd]}
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


def members(rest: int) -> dict[str, str]:
    """Running members of the cluster and their roles, from a node's REST API."""
    body = httpx.get(f"http://127.0.0.1:{rest}/cluster", timeout=3).json()
    return {m["name"]: m["role"] for m in body["members"] if m.get("state") == "running"}


def start_as_postgres(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``argv`` as the ``postgres`` user (when root), in its own session, output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(_as_pg_user(argv), stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)  # fmt: skip


def end(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Signal a process we started (its own session) and wait; SIGKILL after 60 s."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def etcd_member(root: Path, i: int, ports: list[tuple[int, int]], env: dict[str, str]
                ) -> subprocess.Popen[bytes]:  # fmt: skip
    """Member e``i`` of the etcd cluster on ``ports`` (client, peer) per member; restarted
    with the same arguments, it rejoins."""
    client, peer = ports[i - 1]
    cluster = ",".join(f"e{n}=http://127.0.0.1:{p}" for n, (_, p) in enumerate(ports, 1))
    return start_as_postgres(
        ["etcd", "--name", f"e{i}", "--data-dir", str(root / f"etcd{i}"),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", cluster, "--initial-cluster-token", "casestore-test",
         "--initial-cluster-state", "new"],
        root / f"etcd{i}.log", env)  # fmt: skip


def start_patroni_pair(
    root: Path, nodes: dict[str, tuple[Path, int, int]], procs: dict[str, Any],
    env: dict[str, str]
) -> str:  # fmt: skip
    """Patroni on pg1 (once it leads) and pg2 (once it is the synchronous standby), the
    database ``casestore`` created; the two-host URL that follows the leader."""
    procs["pg1"] = start_as_postgres(["patroni", str(nodes["pg1"][0])], root / "pg1.log", env)
    wait_until(lambda: members(nodes["pg1"][1]).get("pg1") == "leader", 180, *procs.values())
    procs["pg2"] = start_as_postgres(["patroni", str(nodes["pg2"][0])], root / "pg2.log", env)
    wait_until(lambda: members(nodes["pg1"][1]).get("pg2") == "sync_standby", 180,
               *procs.values())  # fmt: skip
    one, two = nodes["pg1"][2], nodes["pg2"][2]
    subprocess.run(["psql", f"postgresql://postgres@127.0.0.1:{one}/postgres", "-c",
                    "CREATE DATABASE casestore"], check=True, capture_output=True,
                   timeout=60)  # fmt: skip
    return (f"postgresql://postgres@127.0.0.1:{one},127.0.0.1:{two}/casestore"
            "?target_session_attrs=read-write&connect_timeout=3")  # fmt: skip
