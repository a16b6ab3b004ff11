"""The HTTP edge's anchor: a bare FastAPI endpoint doing the least a command must do.

``POST /cases/{case_id}/review`` verifies the same bearer token as ``casestore serve``
(``casestore.identity.IdentityVerifier`` with the same secret), validates the same body with
pydantic (``api.schemas.ReviewCreate``) and inserts one row in one transaction, in the
same database, then answers ``{"position": ...}``. No event sourcing, no domain, no
middleware: the cost of FastAPI + uvicorn + one durable write. The handler is a plain
``def`` (run in the thread pool, as a synchronous driver must be) over a pool of 8
connections (PostgreSQL) or a WAL connection per thread (SQLite).

Run (the benchmark does it): ``python -m casestore.bench.anchor --db URL --port P`` with
``CASESTORE_SECRET`` set. :mod:`casestore.bench.http` drives it and ``casestore serve``
with the same load client in the same run.
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
from typing import Annotated, Any
from uuid import UUID

import orjson
import uvicorn
from casestore.api.schemas import ReviewCreate
from fastapi import FastAPI, Header, HTTPException, Response

from casestore.bootstrap import load_settings
from casestore.identity import IdentityVerifier, InvalidToken
from casestore.store.config import backend_of, sqlite_name

TABLE = "bench_anchor"


class _Rows:
    """One-row transactions on either backend."""

    def __init__(self, url: str) -> None:
        self.backend = backend_of(url)
        self.url = url
        self._local = threading.local()
        self.pool: Any = None
        if self.backend == "postgres":
            from psycopg_pool import ConnectionPool

            self.pool = ConnectionPool(url, min_size=8, max_size=8, open=True)
            with self.pool.connection() as conn:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, "
                    "case_id uuid NOT NULL, staff text NOT NULL, body bytea NOT NULL, "
                    "recorded_at timestamptz NOT NULL DEFAULT now())"
                )
        else:
            with self._sqlite() as conn:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, "
                    "case_id TEXT NOT NULL, staff TEXT NOT NULL, body BLOB NOT NULL, "
                    "recorded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                )

    def _sqlite(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(sqlite_name(self.url), timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def insert(self, case_id: UUID, staff: str, body: bytes) -> int:
        if self.pool is not None:
            with self.pool.connection() as conn:  # one transaction, committed on exit
                row = conn.execute(
                    f"INSERT INTO {TABLE} (case_id, staff, body) VALUES (%s, %s, %s) RETURNING id",
                    (case_id, staff, body),
                ).fetchone()
            return int(row[0]) if row else 0
        conn = self._sqlite()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(
                f"INSERT INTO {TABLE} (case_id, staff, body) VALUES (?, ?, ?)",
                (str(case_id), staff, body),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(cur.lastrowid or 0)


def create_anchor(url: str, secret: str) -> FastAPI:
    """The anchor app over the database at ``url``."""
    rows = _Rows(url)
    verifier = IdentityVerifier(dev_secret=secret)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/cases/{case_id}/review")
    def review(
        case_id: UUID,
        body: ReviewCreate,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing bearer token")
        try:
            caller = verifier.verify(authorization[7:])
        except InvalidToken as e:
            raise HTTPException(401, e.message) from None
        position = rows.insert(case_id, caller.staff_id, body.model_dump_json().encode())
        return Response(orjson.dumps({"position": position}), media_type="application/json")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = load_settings()
    app = create_anchor(args.db, settings.secret_value())
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
