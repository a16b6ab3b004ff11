"""eventsourcing's PostgreSQL factory, with a pool that connects with the whole URL.

eventsourcing builds its pool from five keyword arguments (dbname, host, port, user,
password), so everything else a ``postgresql://`` URL says — ``sslmode``,
``sslrootcert``, several hosts, ``target_session_attrs``, ``application_name`` — would be
dropped on the write side. This factory hands the pool the libpq connection string of
the URL instead (``CASESTORE_CONNINFO`` in the application's environment, made by
:func:`casestore.store.config.eventsourcing_env`), keeping only the row factory as a
keyword, before anything connects.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment
from psycopg.rows import dict_row

from casestore.store.config import CONNINFO_KEY


class CasestorePostgresFactory(PostgresFactory):
    """``PostgresFactory`` whose pool connects with the URL's every parameter."""

    def __init__(self, env: Environment | dict[str, str] | None) -> None:
        super().__init__(env)
        conninfo = self.env.get(CONNINFO_KEY)
        if conninfo:
            pool = self.datastore.pool
            pool.conninfo = conninfo
            pool.kwargs = {"row_factory": dict_row}
