"""Pytest plugin giving tests a PostgreSQL server: CASESTORE_TEST_PG or a throwaway cluster."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ENV_URL = "CASESTORE_TEST_PG"
AS_ENV = "CASESTORE_TEST_PG_AS"
PREFERRED_MAJOR = "15"
_PG_USER = "postgres"
_START_TIMEOUT_S = 60
_START_ATTEMPTS = 3
_TMP_PREFIX = "casestore-pg-"
_OWNER_FILE = "owner.pid"  # pid of the pytest process that owns a throwaway cluster


@dataclass
class PgServer:
    """A PostgreSQL server the harness connects to as superuser."""

    admin_url: str  # superuser URL to a maintenance database (never dropped)
    origin: str  # human-readable: where the server came from
    from_env: bool
    bin_major: str | None = None  # major version of the binaries, own cluster only
    version: str = ""
    startup_seconds: float = 0.0
    _stop: list[ThrowawayCluster] = field(default_factory=list)

    def close(self) -> None:
        while self._stop:
            self._stop.pop().stop()


_server: PgServer | None = None  # set once pg_url was set up; read by the summary hook


def server_info() -> PgServer | None:
    """The server in use this session, or None if no test has asked for one yet."""
    return _server


def pg_server_version(url: str) -> str:
    """Return ``SHOW server_version`` of the server behind ``url``."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0])


def _ci() -> bool:
    from tests.ciflag import under_ci

    return under_ci()


def _unavailable(reason: str) -> NoReturn:
    """Skip the test locally; fail it under CI=true so CI never silently skips the PG tier."""
    if _ci():
        pytest.fail(f"PostgreSQL unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _with_dbname(url: str, dbname: str) -> str:
    """Return ``url`` pointing at database ``dbname`` (URL in, URL out; key=value stays so)."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))
    return make_conninfo(url, dbname=dbname)


def _random_dbname() -> str:
    return f"casestore_t_{secrets.token_hex(6)}"


def create_database(admin_url: str) -> str:
    """Create a fresh, uniquely named database and return a URL to it."""
    name = _random_dbname()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )
    return _with_dbname(admin_url, name)


def drop_database(admin_url: str, db_url: str) -> None:
    """Drop the database ``db_url`` names, disconnecting whoever is still on it."""
    name = conninfo_to_dict(db_url).get("dbname")
    if not name:
        return
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


def _with_user(url: str, user: str) -> str:
    """``url`` connecting as ``user`` (no password: the harness's clusters trust loopback;
    a server from CASESTORE_TEST_PG must do likewise for the app role, or give PGPASSFILE)."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return make_conninfo(url, user=user, password="")


@dataclass
class AppRoleDatabase:
    """A database as deployed: migrated and granted by its owner (``casestore db migrate``,
    ``casestore db grant ROLE``); ``url`` connects as that application role."""

    owner_url: str
    url: str
    role: str


def create_app_role_database(admin_url: str) -> AppRoleDatabase:
    """A fresh database, migrated by the owner, and a new application role granted on it."""
    from casestore.bootstrap import grant, migrate

    owner_url = create_database(admin_url)
    role = f"casestore_app_{secrets.token_hex(4)}"
    try:
        migrate(owner_url)
        grant(owner_url, role)
    except BaseException:
        drop_app_role_database(admin_url, AppRoleDatabase(owner_url, owner_url, role))
        raise
    return AppRoleDatabase(owner_url, _with_user(owner_url, role), role)


def drop_app_role_database(admin_url: str, db: AppRoleDatabase) -> None:
    """Drop the database (its grants go with it), then the role."""
    drop_database(admin_url, db.owner_url)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(db.role)))


def app_role_wanted() -> bool:
    """``CASESTORE_TEST_PG_AS=app``: the PostgreSQL tiers that can (``store_url``'s tests)
    connect as the application role too, not only those that always do."""
    return os.environ.get(AS_ENV, "").strip().lower() == "app"


# --------------------------------------------------------------------------- throwaway cluster


def _major_of(bindir: str) -> str | None:
    m = re.search(r"/postgresql/(\d+)/bin/?$", bindir)
    if m:
        return m.group(1)
    try:
        out = subprocess.run(
            [os.path.join(bindir, "pg_ctl"), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return m.group(1) if m else None


def _find_bindir() -> str | None:
    """PG binaries: /usr/lib/postgresql/<N>/bin preferring 15, then ``pg_config --bindir``."""
    dirs = [
        d
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if os.access(os.path.join(d, "initdb"), os.X_OK)
    ]

    def rank(d: str) -> tuple[int, int]:
        major = _major_of(d) or "0"
        return (major == PREFERRED_MAJOR, int(major) if major.isdigit() else 0)

    if dirs:
        return max(dirs, key=rank)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
            if bindir and os.access(os.path.join(bindir, "initdb"), os.X_OK):
                return bindir
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _apt_install_postgresql() -> str | None:
    """Install Debian's postgresql (root only). Returns an error text, or None on success."""
    if shutil.which("apt-get") is None:
        return "apt-get not found"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        try:
            proc = subprocess.run(
                cmd,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{shlex.join(cmd)}: {exc}"
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            return f"{shlex.join(cmd)} exited {proc.returncode}: " + " | ".join(tail)
    return None


def _ensure_postgres_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(_PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", _PG_USER],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return pwd.getpwnam(_PG_USER)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg_user(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as ``postgres`` when we are root."""
    return ["runuser", "-u", _PG_USER, "--", *argv] if os.geteuid() == 0 else argv


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_orphans(bindir: str) -> None:
    """Stop and remove throwaway clusters left by pytest runs that were killed (SIGKILL etc.)."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), _TMP_PREFIX + "*")):
        tmp = Path(d)
        try:
            owner = int((tmp / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            owner = 0
        if owner and _pid_alive(owner):
            continue
        if not owner:  # no owner file: only reap once clearly stale, never a dir being set up
            with contextlib.suppress(OSError):
                if time.time() - tmp.stat().st_mtime < 3600:
                    continue
        if (tmp / "data" / "postmaster.pid").exists():
            argv = [os.path.join(bindir, "pg_ctl"), "-D", str(tmp / "data"), "-m", "immediate"]
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    _as_pg_user([*argv, "-w", "-t", "30", "stop"]),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd="/",
                    timeout=60,
                    check=False,
                )
        shutil.rmtree(tmp, ignore_errors=True)


_live: list[ThrowawayCluster] = []
_sigterm_installed = False


def _on_sigterm(signum: int, frame: object) -> None:
    """atexit does not run on SIGTERM: stop our clusters, then die of SIGTERM as usual."""
    for cluster in list(_live):
        with contextlib.suppress(Exception):
            cluster.stop()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm_handler() -> None:
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temp dir, run as ``postgres`` when we are root."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.tmpdir = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir="/tmp"))
        (self.tmpdir / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        self.tmpdir.chmod(0o755)
        self.datadir = self.tmpdir / "data"
        self.logfile = self.tmpdir / "postgres.log"
        self.port = 0
        self._running = False
        self._removed = False
        if self.as_root:
            user = _ensure_postgres_user()
            os.chown(self.tmpdir, user.pw_uid, user.pw_gid)
        _live.append(self)
        atexit.register(self.stop)

    def _cmd(self, *args: str) -> list[str]:
        return _as_pg_user([os.path.join(self.bindir, args[0]), *args[1:]])

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        # Output goes to a file, not a pipe: a daemon inheriting a pipe would hang the read.
        out = self.tmpdir / "cmd.out"
        with open(out, "w+", encoding="utf-8", errors="replace") as fh:
            proc = subprocess.run(
                self._cmd(*args),
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                timeout=timeout,
                start_new_session=True,
                check=False,
                env=dict(os.environ, LC_ALL="C"),
            )
            fh.seek(0)
            text = fh.read()
        return subprocess.CompletedProcess(proc.args, proc.returncode, text, "")

    def _log_tail(self, n: int = 15) -> str:
        try:
            lines = self.logfile.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-n:])

    def start(self) -> None:
        proc = self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "--auth=trust",
            "-U",
            _PG_USER,
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"initdb failed ({proc.returncode}):\n{proc.stdout}")
        last = ""
        for _ in range(_START_ATTEMPTS):
            self.port = _free_port()
            opts = shlex.join(
                [
                    "-c",
                    f"port={self.port}",
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.tmpdir}",
                    "-c",
                    "max_connections=200",
                ]
            )
            proc = self._run(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "-l",
                str(self.logfile),
                "-o",
                opts,
                "start",
                timeout=_START_TIMEOUT_S + 30,
            )
            if proc.returncode == 0:
                self._running = True
                return
            last = f"pg_ctl start failed ({proc.returncode}):\n{proc.stdout}\n{self._log_tail()}"
            if "could not bind" not in last and "already in use" not in last:
                break  # not a port race: retrying will not help
        raise RuntimeError(last)

    @property
    def url(self) -> str:
        return f"postgresql://{_PG_USER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server (immediate) and remove the temp dir; safe to call twice."""
        if self._running or (self.datadir / "postmaster.pid").exists():
            self._running = False
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.datadir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                    timeout=60,
                )
        if not self._removed:
            self._removed = True
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self in _live:
            _live.remove(self)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)


def _start_own_cluster() -> PgServer:
    bindir = _find_bindir()
    if bindir is None:
        if os.geteuid() != 0:
            _unavailable(
                "no PostgreSQL binaries (/usr/lib/postgresql/*/bin, pg_config) and not root, "
                f"so cannot apt-get install postgresql; or set {ENV_URL}"
            )
        err = _apt_install_postgresql()
        bindir = _find_bindir()
        if bindir is None:
            _unavailable(f"no PostgreSQL binaries and installing them failed: {err}")
    _reap_orphans(bindir)
    started = time.monotonic()
    cluster = ThrowawayCluster(bindir)
    _install_sigterm_handler()
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        pytest.fail(f"could not start throwaway PostgreSQL from {bindir}: {exc}", pytrace=False)
    return PgServer(
        admin_url=cluster.url,
        origin=(
            f"throwaway cluster at {cluster.tmpdir} from {bindir},"
            f" started in {time.monotonic() - started:.1f}s"
        ),
        from_env=False,
        bin_major=_major_of(bindir),
        startup_seconds=time.monotonic() - started,
        _stop=[cluster],
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def _pg_server() -> Iterator[PgServer]:
    global _server
    env_url = os.environ.get(ENV_URL, "").strip()
    if env_url:
        server = PgServer(admin_url=env_url, origin=ENV_URL, from_env=True)
    else:
        server = _start_own_cluster()
    try:
        try:
            server.version = pg_server_version(server.admin_url)
        except psycopg.Error as exc:
            pytest.fail(f"cannot connect to PostgreSQL ({server.origin}): {exc}", pytrace=False)
        _server = server
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_url(_pg_server: PgServer) -> Iterator[str]:
    """Superuser URL to a fresh database, shared by the whole session."""
    url = create_database(_pg_server.admin_url)
    try:
        yield url
    finally:
        drop_database(_pg_server.admin_url, url)


@pytest.fixture
def pg_db_url(_pg_server: PgServer) -> Iterator[str]:
    """Superuser URL to a brand-new database for one test; dropped (WITH FORCE) afterwards."""
    url = create_database(_pg_server.admin_url)
    try:
        yield url
    finally:
        drop_database(_pg_server.admin_url, url)


@pytest.fixture
def pg_app_db_url(_pg_server: PgServer) -> Iterator[str]:
    """A brand-new database as deployed, for one test: ``db migrate`` and ``db grant`` run
    by the owner first; the URL connects as the application role (SELECT and INSERT on
    the log, no CREATE), as ``casestore serve --no-workers`` and ``project run`` do."""
    db = create_app_role_database(_pg_server.admin_url)
    try:
        yield db.url
    finally:
        drop_app_role_database(_pg_server.admin_url, db)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _server is not None:
        terminalreporter.write_line(f"PostgreSQL under test: {_server.version} ({_server.origin})")
