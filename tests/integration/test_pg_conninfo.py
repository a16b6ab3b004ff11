"""The database URL reaches psycopg whole on the write side (issue 11.4).

eventsourcing builds its pool from host, port, user, password and dbname only, so before
this everything else in ``CASESTORE_DB`` was silently dropped by the event store (while
the read side, connecting with the URL, honoured it). Each test would pass with the old
five-keyword pool only if the parameter were ignored.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from casestore.bootstrap import open_store
from casestore.settings import load_settings

pytestmark = pytest.mark.pg


def _with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _application_name(store: object) -> str:
    datastore = store.recorder.datastore  # type: ignore[attr-defined]
    with datastore.get_connection() as conn:
        row = conn.execute("SELECT current_setting('application_name') AS name").fetchone()
    return str(row["name"])


def test_the_event_store_connects_with_every_url_parameter(pg_db_url: str) -> None:
    url = _with_query(pg_db_url, "application_name=casestore-write-side&connect_timeout=5")
    store = open_store(load_settings({}, db=url))
    try:
        assert _application_name(store) == "casestore-write-side"
    finally:
        store.close()


def test_several_hosts_are_tried_in_order(pg_db_url: str) -> None:
    parts = urlsplit(pg_db_url)
    user, live = parts.netloc.rsplit("@", 1)
    # Port 1 on loopback refuses: libpq moves on to the live server, as with a failover pair.
    netloc = f"{user}@127.0.0.1:1,{live}"
    url = urlunsplit((parts.scheme, netloc, parts.path, "target_session_attrs=read-write", ""))
    store = open_store(load_settings({}, db=url))
    try:
        assert _application_name(store) == ""
        assert store.log.head()[0] == 0
    finally:
        store.close()


def test_sslmode_is_not_dropped(pg_db_url: str) -> None:
    # The throwaway cluster has no TLS: with sslmode=require no connection can be made
    # (the pool gives up after the connect timeout), with sslmode=disable it works.
    url = _with_query(pg_db_url, "sslmode=require")
    with pytest.raises(Exception, match=r"(?i)ssl|couldn.t get a connection"):
        store = open_store(load_settings({}, db=url, db_connect_timeout=2))
        store.close()
    store = open_store(load_settings({}, db=_with_query(pg_db_url, "sslmode=disable")))
    store.close()


def test_the_auditor_tools_reach_the_primary_of_a_failover_pair_url(pg_db_url: str) -> None:
    """``verify``, ``digest`` and ``export`` open sessions read-only from their start, which
    libpq's ``target_session_attrs=read-write`` refuses on every host: with the README's
    failover URL they answered "couldn't get a connection" (found by the deployed failover
    test). They now ask for the primary."""
    import subprocess
    import sys
    from pathlib import Path

    parts = urlsplit(pg_db_url)
    user, live = parts.netloc.rsplit("@", 1)
    netloc = f"{user}@127.0.0.1:1,{live}"
    url = urlunsplit((parts.scheme, netloc, parts.path, "target_session_attrs=read-write", ""))
    open_store(load_settings({}, db=url)).close()  # an empty log
    casestore = Path(sys.executable).parent / "casestore"
    for verb in ("verify", "digest"):
        done = subprocess.run([str(casestore), verb, "--db", url], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, (verb, done.stdout, done.stderr)
    from casestore.store.pg_recorder import audit_conninfo

    assert "target_session_attrs=primary" in audit_conninfo(url)
    assert audit_conninfo("host=a target_session_attrs=any") == "host=a target_session_attrs=any"
