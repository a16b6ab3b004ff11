"""Which failures are the infrastructure's (503 ``unavailable``), not the request's.

A command or query that fails because the database is down, restarting, out of
connections, out of disk, read-only, locked past its timeout, or because the application
role lacks a right that only the owner has (building past views) answers 503 with
``Retry-After`` — never 500, and never a 2xx for a command that was not written. The
cause is looked for along the exception's chain (eventsourcing wraps psycopg's and
sqlite3's errors; the service may wrap those again).
"""

from __future__ import annotations

import errno
import sqlite3

import eventsourcing.persistence as es
import psycopg
import psycopg_pool

from casestore.service import CommitQueueTimeout, exception_chain

#: Seconds a client should wait before retrying a request refused as ``unavailable``.
RETRY_AFTER_SECONDS = 2

_TRANSIENT: tuple[type[BaseException], ...] = (
    es.OperationalError,
    es.InterfaceError,
    es.ConnectionPoolClosedError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    psycopg_pool.PoolClosed,
    sqlite3.OperationalError,
    TimeoutError,
    ConnectionError,
)
#: Exception classes the API answers itself (503 when :func:`unavailable_reason` says so).
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    es.PersistenceError,
    psycopg.Error,
    psycopg_pool.PoolTimeout,
    psycopg_pool.PoolClosed,
    sqlite3.Error,
    TimeoutError,
    ConnectionError,
    OSError,
)
#: The application role (``casestore db grant``) cannot create tables: a view as of a past
#: moment that nobody built yet is the owner's to build (README, "Schema ownership").
PRIVILEGE_REASON = (
    "the application's database role may not do this (permission denied): views as of a "
    "past moment (a monthly report, the dashboard's as-of view) are built by the database "
    "owner, e.g. `casestore report monthly --month YYYY-MM`; missing rights are given by "
    "`casestore db grant ROLE`"
)
_LOST_CONNECTION = ("server closed the connection", "terminating connection", "connection")
_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO}


def unavailable_reason(error: BaseException) -> str | None:
    """A short reason when ``error`` means the store cannot serve now, else None."""
    for e in exception_chain(error):
        if isinstance(e, CommitQueueTimeout):
            return (
                "the database has not finished the writes ahead of this command; it was "
                "withdrawn from the queue and nothing was written"
            )
        if isinstance(e, psycopg.errors.InsufficientPrivilege):
            return PRIVILEGE_REASON
        if isinstance(e, OSError) and e.errno in _DISK_ERRNOS:
            return "the database's disk is full or read-only"
        if isinstance(e, es.DatabaseError | psycopg.DatabaseError) and any(
            words in str(e).lower() for words in _LOST_CONNECTION
        ):
            return "the database is not reachable"
        if isinstance(e, _TRANSIENT):
            text = str(e).lower()
            if "full" in text or "no space" in text:
                return "the database's disk is full"
            if "readonly" in text or "read-only" in text:
                return "the database is read-only"
            if "lock" in text or "busy" in text:
                return "the database is busy (lock timeout)"
            if isinstance(e, psycopg_pool.PoolTimeout | es.ConnectionUnavailableError):
                return "no database connection is free (pool exhausted)"
            return "the database is not reachable"
    return None
