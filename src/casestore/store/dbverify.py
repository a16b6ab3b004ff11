"""Server-side verification on PostgreSQL: every hash recomputed by the database itself.

The same checks as :func:`casestore.store.integrity.verify_rows` makes locally, written
in SQL (``pg_catalog.sha256`` over the same canonical bytes), run as concurrent queries
so both cores work: per-case chains in version order (split by case id ranges) and the
global chain in position order. Only counts come back. If every link holds, the stored
chain *is* the chain recomputed from genesis (by induction), so a saved digest is
checked against the stored hash at its position. When anything fails, the caller runs
the streamed Python pass to name each finding. ``casestore verify --independent`` skips
this and recomputes everything in Python, for an auditor who trusts no server code.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

from casestore.store.integrity import LinkCheck

ZERO = SQL("'\\x" + "00" * 32 + "'::bytea")
_CASE_CHECK = SQL(
    "SELECT count(*) FILTER (WHERE NOT ok) AS bad FROM (SELECT event_hash = pg_catalog.sha256("
    "coalesce(lag(event_hash) OVER w, {zero}) || uuid_send(originator_id) "
    "|| int8send(originator_version) "
    "|| int8send((extract(epoch FROM recorded_at) * 1000000)::bigint) "
    "|| int4send(octet_length(convert_to(topic, 'UTF8'))) || convert_to(topic, 'UTF8') "
    "|| state) AND originator_version = coalesce(lag(originator_version) OVER w, 0) + 1 AS ok "
    "FROM {table} WHERE {where} "
    "WINDOW w AS (PARTITION BY originator_id ORDER BY originator_version)) t"
)
_CHAIN_CHECK = SQL(
    "SELECT count(*) AS n, count(*) FILTER (WHERE NOT ok) AS bad, "
    "(array_agg(chain_hash) FILTER (WHERE notification_id = {pos}))[1] AS at_digest "
    "FROM (SELECT notification_id, chain_hash, chain_hash = pg_catalog.sha256("
    "coalesce(lag(chain_hash) OVER (ORDER BY notification_id), {zero}) || event_hash) AS ok "
    "FROM {table}) t"
)
_HALVES = (
    SQL("originator_id < '80000000-0000-0000-0000-000000000000'::uuid"),
    SQL("originator_id >= '80000000-0000-0000-0000-000000000000'::uuid"),
)


def check_in_database(
    connect: Callable[[], AbstractContextManager[Any]], table: str, digest_position: int = 0
) -> LinkCheck:
    """Run the per-case and global checks concurrently, each on its own connection."""
    t = Identifier(table)
    queries = [_CASE_CHECK.format(zero=ZERO, table=t, where=half) for half in _HALVES]
    queries.append(_CHAIN_CHECK.format(zero=ZERO, table=t, pos=Literal(digest_position)))

    def run(query: SQL) -> tuple[object, ...]:
        with connect() as conn, conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            cur.execute("SET LOCAL work_mem = '256MB'")
            cur.execute(query)
            row = cur.fetchone()
        assert row is not None
        return tuple(row)

    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        results = list(pool.map(run, queries))
    *cases, chain = results
    bad = sum(int(c[0]) for c in cases) + int(chain[1])  # type: ignore[call-overload]
    return LinkCheck(
        events=int(chain[0]),  # type: ignore[call-overload]
        bad_links=bad,
        chain_at_digest=bytes(chain[2]) if chain[2] is not None else None,  # type: ignore[call-overload]
    )
