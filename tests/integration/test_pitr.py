"""Point-in-time recovery of the log with PostgreSQL's own WAL archiving (issue 16 item 2),
following the README's "Point-in-time recovery" steps on a throwaway cluster.

The primary archives every WAL segment (``archive_mode = on``, ``archive_command`` copying
into a folder); a base backup is taken with ``pg_basebackup``; cases are appended; an
auditor keeps ``casestore digest`` at a moment T; more cases are appended after T. The
base backup is restored with ``restore_command`` and ``recovery_target_time = T``: the
recovered log verifies against the digest kept at T (``casestore verify --digest``), holds
exactly the events up to T, and none of the later cases.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from casestore.service import CaseService
from casestore.service.commands import SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, FakeClock
from tests.failover_harness import CASESTORE, free_port
from tests.pgharness import ThrowawayCluster, _find_bindir, create_database

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def _append(url: str, cases: int, *, catalogue: bool = False) -> list[str]:
    app = CasestoreApp(url)
    try:
        service = CaseService(app, clock=FakeClock())
        if catalogue:
            service.load_catalogue(CATALOGUE, ADMIN)
        submit = SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
        return [str(service.handle(submit).case_id) for _ in range(cases)]
    finally:
        app.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CASESTORE), *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))  # fmt: skip


def test_recover_the_log_to_a_moment_and_verify_it_against_the_digest_kept_then() -> None:
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    primary = ThrowawayCluster(bindir)
    primary.start()
    recovered: ThrowawayCluster | None = None
    try:
        archive = primary.tmpdir / "wal-archive"
        archive.mkdir()
        _give_to_cluster_owner(archive, primary)
        # The base backup is written straight into the data folder of the cluster that
        # will recover it.
        recovered = ThrowawayCluster(bindir)
        base = recovered.datadir
        with psycopg.connect(primary.url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET archive_mode = 'on'")
            conn.execute(  # the README's archive_command
                f"ALTER SYSTEM SET archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'"
            )  # type: ignore[arg-type]
        done = primary._run("pg_ctl", "-D", str(primary.datadir), "-w", "-t", "60", "restart",
                            "-m", "fast", timeout=90)  # fmt: skip
        assert done.returncode == 0, done.stdout + primary._log_tail()
        url = create_database(primary.url)
        assert _cli("db", "migrate", "--db", url).returncode == 0
        _append(url, 3, catalogue=True)
        done = primary._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U",
                            "postgres", "-D", str(base), "-X", "stream", "-c", "fast",
                            timeout=180)  # fmt: skip
        assert done.returncode == 0, done.stdout
        _append(url, 2)  # after the base backup: replayed from the archive
        digest = _cli("digest", "--db", url)
        assert digest.returncode == 0, digest.stderr
        kept = digest.stdout.strip().split()[-1]
        with psycopg.connect(url) as conn:
            target = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            head = conn.execute("SELECT max(notification_id) FROM casestore_events").fetchone()[0]  # type: ignore[index]
        time.sleep(1.5)
        later = _append(url, 2)  # after T: must not be recovered
        with psycopg.connect(primary.url, autocommit=True) as conn:
            wal = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]  # type: ignore[index]
            deadline = time.monotonic() + 60
            while not (archive / wal).exists():
                assert time.monotonic() < deadline, "WAL segment not archived"
                time.sleep(0.2)

        # Recover the base backup to T on a new cluster (the README's steps).
        stamp = target.isoformat()
        with (recovered.datadir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"restore_command = 'cp {archive}/%f %p'\n"
                       f"recovery_target_time = '{stamp}'\n"
                       "recovery_target_action = 'promote'\n"
                       "archive_mode = 'off'\n")  # fmt: skip
        (recovered.datadir / "recovery.signal").touch()
        _give_to_cluster_owner(recovered.datadir / "recovery.signal", recovered)
        recovered.port = free_port()
        opts = (f"-c port={recovered.port} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                f"-c unix_socket_directories={recovered.tmpdir}")  # fmt: skip
        done = recovered._run("pg_ctl", "-D", str(recovered.datadir), "-w", "-t", "120", "-l",
                              str(recovered.logfile), "-o", opts, "start", timeout=150)  # fmt: skip
        assert done.returncode == 0, done.stdout + recovered._log_tail()
        recovered._running = True
        dbname = url.rsplit("/", 1)[1]
        back = f"postgresql://postgres@127.0.0.1:{recovered.port}/{dbname}"
        deadline = time.monotonic() + 120
        while True:
            with psycopg.connect(back, autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                    break
            assert time.monotonic() < deadline, recovered._log_tail()
            time.sleep(0.5)

        checked = _cli("verify", "--db", back, "--digest", kept)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with psycopg.connect(back) as conn:
            got = conn.execute("SELECT max(notification_id) FROM casestore_events").fetchone()[0]  # type: ignore[index]
            ids = {r[0] for r in conn.execute(
                "SELECT originator_id::text FROM casestore_events").fetchall()}  # fmt: skip
        assert got == head  # every event up to T, nothing after it
        assert ids.isdisjoint(later)
        print(
            f"\nPITR: recovered to {stamp}: head {got} (T's head {head}), digest {kept} "
            f"holds, {len(later)} later cases absent"
        )
    finally:
        if recovered is not None:
            recovered.stop()
        primary.stop()


def _give_to_cluster_owner(path: Path, cluster: ThrowawayCluster) -> None:
    """The cluster's server runs as its folder's owner (``postgres`` when we are root)."""
    owner = cluster.tmpdir.stat()
    os.chown(path, owner.st_uid, owner.st_gid)
