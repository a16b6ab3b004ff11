"""The end-to-end tier: the real ``casestore`` processes, driven over loopback HTTP.

One server per backend for the whole session (starting one costs seconds on this
machine): ``casestore catalogue`` publishes the bundled catalogue, then
``casestore serve`` runs as a subprocess on a free port — on SQLite with its embedded
projection workers, on PostgreSQL with ``--no-workers`` beside a separate
``casestore project run``, the documented scale-out shape. Staff are enrolled and
granted their roles with the real ``casestore staff`` (the first admin bootstraps) and
their tokens come from the real ``casestore token --staff``. Nothing here imports the
application: what is tested is what an operator starts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CASESTORE = str(Path(sys.executable).with_name("casestore"))
SECRET = "e2e-secret-0123456789abcdef-0123456789"
#: ``KID:BASE64`` of 32 bytes (``casestore keygen --pepper`` makes a random one).
PEPPER = "e2e:" + "ZTJlLXBlcHBlci0wMTIzNDU2Nzg5YWJjZGVmLTAxMjM0NTY3ODk"
ADMIN = "e2e-admin"
ROLES = (
    "clerk",
    "reviewer",
    "approver",
    "surveyor",
    "sealer",
    "dispatcher",
    "auditor",
    "inspector",
    "admin",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("CASESTORE_")}
    return {**keep, "CASESTORE_SECRET": SECRET, "CASESTORE_QUERY_PEPPER": PEPPER, **extra}


def cli(*args: str, timeout: float = 120) -> str:
    """Run the real ``casestore`` command; its stdout (fails the test on a non-zero exit)."""
    done = subprocess.run(
        [CASESTORE, *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"casestore {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running ``casestore serve`` and what a client needs to talk to it."""

    backend: str
    db: str
    base: str
    tokens: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        if role == "inspector":
            headers["X-Purpose"] = "e2e"  # inspectors state the purpose of every request
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)

    def log_tail(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.logs if p.exists())

    def settle(self, timeout: float = 90) -> dict[str, Any]:
        """Wait until every projection and the stream have read the whole log."""
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while True:
                health: dict[str, Any] = c.get("/health").json()
                lags = [p["lag"] for p in health["projections"].values()]
                if health["projections"] and not any(lags) and health["stream"]["lag"] == 0:
                    return health
                assert time.monotonic() < deadline, (health, self.log_tail())
                time.sleep(0.2)


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [CASESTORE, *args], env=_env(), stdout=out, stderr=out, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def enrol(db: str) -> None:
    """The first admin, then one member per role, with the real ``casestore staff``."""
    cli("staff", "enroll", ADMIN, "--name", "e2e admin", "--first-admin", "--db", db)
    for role in ROLES:
        if role == "admin":
            continue
        staff = f"e2e-{role}"
        cli("staff", "enroll", staff, "--name", f"{role} e2e", "--by", ADMIN, "--db", db)
        grant = ["staff", "grant", staff, role, "--by", ADMIN, "--reason", "e2e"]
        cli(*grant, "--window", "W01", "--db", db)


def _serve(backend: str, db: str, workdir: Path, tokens: dict[str, str]) -> Iterator[Served]:
    cli("catalogue", "--db", db)
    enrol(db)
    port = _free_port()
    served = Served(backend, db, f"http://127.0.0.1:{port}", tokens)
    serve = ["serve", "--db", db, "--host", "127.0.0.1", "--port", str(port)]
    try:
        if backend == "postgres":
            served.logs.append(workdir / "project.log")
            served.procs.append(_spawn(["project", "run", "--db", db], served.logs[-1]))
            serve.append("--no-workers")
        served.logs.append(workdir / "serve.log")
        served.procs.append(_spawn(serve, served.logs[-1]))
        deadline = time.monotonic() + 120
        while True:
            for proc in served.procs:
                assert proc.poll() is None, served.log_tail()
            try:
                if httpx.get(f"{served.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, served.log_tail()
            time.sleep(0.2)
        yield served
    finally:
        for proc in reversed(served.procs):
            _stop(proc)


@pytest.fixture(scope="session")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One token per role, issued by ``casestore token --staff`` (the real CLI) for staff
    enrolled alike in every served database (a token names the member, nothing more)."""
    db = f"sqlite:///{tmp_path_factory.mktemp('e2e-staff') / 'staff.db'}"
    enrol(db)
    staff = {role: ADMIN if role == "admin" else f"e2e-{role}" for role in ROLES}
    return {role: cli("token", "--staff", staff[role], "--db", db).strip() for role in ROLES}


@pytest.fixture(scope="session")
def served_sqlite(
    tmp_path_factory: pytest.TempPathFactory, tokens: dict[str, str]
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("e2e-sqlite")
    yield from _serve("sqlite", f"sqlite:///{workdir / 'casestore.db'}", workdir, tokens)


@pytest.fixture(scope="session")
def served_postgres(
    tmp_path_factory: pytest.TempPathFactory, tokens: dict[str, str], pg_url: str
) -> Iterator[Served]:
    from tests.pgharness import create_database, drop_database

    workdir = tmp_path_factory.mktemp("e2e-postgres")
    db = create_database(pg_url)
    try:
        yield from _serve("postgres", db, workdir, tokens)
    finally:
        drop_database(pg_url, db)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def served(request: pytest.FixtureRequest) -> Served:
    """``casestore serve`` on each backend (the PostgreSQL one needs the harness's cluster)."""
    result: Served = request.getfixturevalue(f"served_{request.param}")
    return result
