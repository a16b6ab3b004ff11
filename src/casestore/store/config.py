"""One database URL turned into eventsourcing's environment.

The URL comes from :class:`casestore.settings.Settings` (``CASESTORE_DB`` or ``--db``); this
module reads no environment. A PostgreSQL URL reaches psycopg whole: its every libpq
parameter (``sslmode``, ``sslrootcert``, several hosts, ``target_session_attrs``,
``application_name``, …) is honoured by the write side's pool exactly as by the read
side's connections (see :mod:`casestore.store.pg_factory`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from casestore.domain.errors import InvalidCommand

DEFAULT_DB = "sqlite:///./casestore.db"
#: The environment key :class:`~casestore.store.pg_factory.CasestorePostgresFactory` reads.
CONNINFO_KEY = "CASESTORE_CONNINFO"


def backend_of(url: str) -> str:
    """``sqlite`` or ``postgres``."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgres"
    raise InvalidCommand(f"unsupported database URL scheme {scheme!r} (sqlite:// or postgresql://)")


def check_database_url(url: str) -> str:
    """``url`` if it names a usable database, else a ``ValueError`` that says why
    (without echoing a password)."""
    try:
        backend = backend_of(url)
    except InvalidCommand as e:
        raise ValueError(e.message) from None
    if backend == "postgres":
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as e:
            raise ValueError(f"not a valid PostgreSQL URL: {e}") from None
    elif not sqlite_name(url):
        raise ValueError("a sqlite:/// URL needs a file path (or :memory:)")
    return url


def sqlite_name(url: str) -> str:
    """The file (or shared in-memory URI) a ``sqlite://`` URL names."""
    parts = urlsplit(url)
    raw = unquote(parts.path)
    if parts.netloc == "" and raw.startswith("/./"):
        raw = raw[1:]
    if raw == "/:memory:":
        return "file:casestore?mode=memory&cache=shared"
    if raw in (":memory:",) or raw.startswith("file:"):
        return raw
    if raw.startswith("//"):
        # ``sqlite:////abs/file.db`` (the usual absolute form) leaves ``//abs/file.db``, and
        # POSIX paths keep exactly two leading slashes (``Path("//a") == "//a"``): the same
        # file, but printed with ``//`` (the demo's key path did). One slash is the path.
        raw = "/" + raw.lstrip("/")
    return str(Path(raw)) if raw else ""


def pg_conninfo(url: str, **overrides: str) -> str:
    """The libpq connection string of a PostgreSQL URL, every parameter kept."""
    return make_conninfo(url, **overrides)


def eventsourcing_env(
    url: str, *, pool_size: int = 8, pre_ping: bool = True, connect_timeout: int = 5
) -> dict[str, str]:
    """The eventsourcing settings for a URL (never POSTGRES_ENABLE_DB_FUNCTIONS)."""
    if backend_of(url) == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": sqlite_name(url),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    params = conninfo_to_dict(url)
    # eventsourcing insists on these four; the pool itself connects with the whole URL.
    return {
        "PERSISTENCE_MODULE": "casestore.store.pg_factory:CasestorePostgresFactory",
        CONNINFO_KEY: pg_conninfo(url),
        "POSTGRES_DBNAME": str(params.get("dbname") or "casestore"),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": str(params.get("port") or 5432),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout),
        # A restart leaves dead connections in the pool: check each before lending it.
        "POSTGRES_PRE_PING": "y" if pre_ping else "n",
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }
