"""Checks that the PostgreSQL test harness hands out working, isolated databases."""

from __future__ import annotations

import os

import psycopg
import pytest

from casestore.store.schema import SCHEMA_VERSION
from tests.pgharness import ENV_URL, pg_server_version, server_info

pytestmark = pytest.mark.pg


def test_pg_url_connects_as_superuser(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row == (True,)
        assert conn.execute("SHOW max_connections").fetchone() is not None


def test_pg_db_url_is_empty_and_isolated(pg_url: str, pg_db_url: str) -> None:
    assert pg_db_url != pg_url
    with psycopg.connect(pg_db_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE only_here (id int)")
        conn.commit()
    with psycopg.connect(pg_url) as other:
        row = other.execute("SELECT to_regclass('public.only_here')").fetchone()
        assert row == (None,)


def test_own_cluster_runs_the_binaries_it_found(pg_url: str) -> None:
    info = server_info()
    assert info is not None
    if os.environ.get(ENV_URL) or info.from_env:
        pytest.skip(f"server comes from {ENV_URL}; its version is not ours to choose")
    version = pg_server_version(pg_url)
    assert version == info.version
    assert version.split(".")[0] == info.bin_major
    if info.bin_major == "15":
        assert version.startswith("15")


@pytest.mark.pg
def test_pg_app_db_url_connects_as_the_granted_application_role(pg_app_db_url: str) -> None:
    """The API tier's PostgreSQL tests run as deployed: migrated and granted by the owner,
    then connected as the role `db grant` made, which may read and append, never create a
    table or rewrite the log."""
    with psycopg.connect(pg_app_db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row is not None
        assert row[0].startswith("casestore_app_") and row[1] is False
        versions = conn.execute("SELECT version FROM casestore_schema").fetchall()
        assert versions == [(SCHEMA_VERSION,)]
        assert conn.execute("SELECT count(*) FROM casestore_events").fetchone() == (0,)
        for statement in ("CREATE TABLE harness_probe (x int)", "DELETE FROM casestore_events",
                          "TRUNCATE casestore_events"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)  # type: ignore[arg-type]
