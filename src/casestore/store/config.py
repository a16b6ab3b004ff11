"""One database URL (``CASESTORE_DB``) turned into eventsourcing's environment."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from casestore.domain.errors import InvalidCommand

DEFAULT_DB = "sqlite:///./casestore.db"


def database_url(explicit: str | None = None) -> str:
    """``--db`` wins, then ``CASESTORE_DB``, then the embedded SQLite default."""
    return explicit or os.environ.get("CASESTORE_DB") or DEFAULT_DB


def backend_of(url: str) -> str:
    """``sqlite`` or ``postgres``."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgres"
    raise InvalidCommand(f"unsupported database URL scheme {scheme!r} (sqlite:// or postgresql://)")


def eventsourcing_env(url: str, *, pool_size: int = 8) -> dict[str, str]:
    """The eventsourcing settings for a URL (never POSTGRES_ENABLE_DB_FUNCTIONS)."""
    parts = urlsplit(url)
    if backend_of(url) == "sqlite":
        raw = unquote(parts.path)
        if parts.netloc == "" and raw.startswith("/./"):
            raw = raw[1:]
        name = raw if raw in (":memory:",) or raw.startswith("file:") else str(Path(raw))
        if raw == "/:memory:":
            name = "file:casestore?mode=memory&cache=shared"
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": name,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.get("host") or parts.hostname or "localhost"
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "casestore",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(query.get("port") or parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or query.get("user") or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or query.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # A restart leaves dead connections in the pool: check each before lending it.
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }
