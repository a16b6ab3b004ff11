"""The composition root: settings in, a wired store, service, read side and API out.

Every process builds through here — the CLI's verbs, ``casestore serve``/``demo``
(``api.server``), ``create_app``, the simulator, the importer and the benchmarks — so a
setting means the same thing everywhere and is validated once, at start
(:func:`casestore.settings.load_settings`; bad configuration is a :class:`SettingsError`,
exit 2 at the CLI).

Layering: this module sits on top. It imports the write side; the read side and the HTTP
edge only lazily, inside :func:`build_api`, so ``import casestore.bootstrap`` stays cheap
and nothing below imports upward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from casestore.domain.values import configure_earliest
from casestore.settings import Settings, SettingsError, load_settings
from casestore.store.application import CasestoreApp
from casestore.timelimits import WorkingCalendar

if TYPE_CHECKING:
    from fastapi import FastAPI

    from casestore.ledger.config import LedgerConfig
    from casestore.querycode import QueryPeppers
    from casestore.service import CaseService

__all__ = [
    "Migration",
    "Settings",
    "SettingsError",
    "WriteSide",
    "build_api",
    "calendar_for",
    "grant",
    "load_settings",
    "migrate",
    "open_store",
    "require_schema",
    "settings_for",
    "write_side",
]

Config = Settings | str | None
"""Settings, or a database URL whose other settings come from the environment."""


def settings_for(config: Config = None) -> Settings:
    """``config`` itself, or the process's settings for a database URL (``None``: the
    configured or default one). The process-wide values (the earliest business time every
    command and import is bounded by) are set from them here."""
    settings = config if isinstance(config, Settings) else load_settings(db=config)
    configure_earliest(settings.earliest_business_time())
    return settings


def open_store(config: Config = None) -> CasestoreApp:
    """The event store (eventsourcing application) the settings describe."""
    return CasestoreApp(settings=settings_for(config))


def calendar_for(settings: Settings) -> WorkingCalendar:
    """The working-day calendar with the configured overrides."""
    return WorkingCalendar(settings.overrides())


@dataclass
class WriteSide:
    """One store and the service over it: what every writer needs."""

    settings: Settings
    store: CasestoreApp
    service: CaseService

    def close(self) -> None:
        self.store.close()

    # The runners below follow the log itself (the store), not the service's commands; the
    # composition root hands them the store so the HTTP edge never reaches past the service.

    def start_background(self, ledger: LedgerConfig) -> list[Any]:
        """Every registered projection as a thread of this process (woken by its commits),
        and the verifiable log's tree worker and checkpoint signer; each has ``stop()``."""
        from casestore.ledger.runner import LedgerRunner
        from casestore.projections.runtime.live import EmbeddedWorkers

        workers = EmbeddedWorkers(self.store)
        workers.start()
        try:
            return [workers, LedgerRunner(self.store, ledger).start()]
        except BaseException:
            workers.stop()
            raise

    def rebuild_as_of(
        self,
        name: str,
        *,
        until: datetime | None = None,
        at_position: int | None = None,
        target: str,
        db: Any,
    ) -> None:
        """Build projection ``name`` from the events recorded up to ``until`` (or up to log
        position ``at_position``) into the views of ``target`` (the dashboard's as-of
        views, a monthly report's)."""
        from casestore.projections.runtime.worker import rebuild_as_of

        rebuild_as_of(self.store, name, until=until, at_position=at_position, target=target, db=db)


def write_side(
    config: Config = None,
    *,
    clock: Callable[[], datetime] | None = None,
    peppers: QueryPeppers | None = None,
) -> WriteSide:
    """The store and the application service for ``config`` (server clock ``clock``;
    query codes under ``peppers``, else the settings' ``CASESTORE_QUERY_PEPPER``)."""
    from casestore.service import CaseService, utc_now

    settings = settings_for(config)
    store = CasestoreApp(settings=settings)
    try:
        service = CaseService(
            store,
            clock=clock or utc_now,
            calendar=calendar_for(settings),
            clock_config=settings.clock(),
            peppers=peppers or settings.peppers(),
        )
    except BaseException:
        store.close()
        raise
    return WriteSide(settings, store, service)


def build_api(
    config: Config = None,
    *,
    workers: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The HTTP API over the configured store (embedded projection workers if asked)."""
    from casestore.api.app import create_app

    return create_app(settings_for(config), workers=workers, clock=clock)


# -- schema ownership (SPEC §12: ``casestore db migrate``, ``db grant``) -----------------


@dataclass(frozen=True)
class Migration:
    """What ``db migrate`` did: the version before (None: an empty database), after, and
    the read views created or rebuilt."""

    before: int | None
    after: int
    views: list[str]
    revoked: list[str]


def migrate(config: Config = None) -> Migration:
    """Create or upgrade every table, trigger and function of the write side and the read
    side to the version this code needs; record it. Idempotent; refuses to downgrade
    (:class:`~casestore.store.schema.SchemaMismatch`). Run once, as the database owner."""
    from casestore.projections.runtime.schema import migrate_views
    from casestore.store import schema
    from casestore.store.roles import reassert_append_only

    settings = settings_for(config)
    before = schema.refuse_downgrade(settings.db)
    schema.migrate_write_side(settings.db)
    store = CasestoreApp(settings=settings)
    try:
        views = migrate_views(store)
    finally:
        store.close()
    revoked = reassert_append_only(settings.db) if store.backend == "postgres" else []
    schema.record(settings.db)
    return Migration(before.effective, schema.SCHEMA_VERSION, views, revoked)


def grant(config: Config, role: str, password: str | None = None) -> None:
    """Give ``role`` the application's rights (see :mod:`casestore.store.roles`)."""
    from casestore.projections.runtime.schema import view_tables
    from casestore.store.roles import grant_app_role

    settings = settings_for(config)
    grant_app_role(settings.db, role, password, view_tables=view_tables(settings.db))


def require_schema(config: Config = None) -> None:
    """Refuse (:class:`~casestore.store.schema.SchemaMismatch`) unless the database has
    exactly the schema version this code needs and no view waits for a rebuild. A new,
    empty SQLite database (the embedded default) is migrated here instead: one process
    owns it, and ``casestore serve`` must work from nothing."""
    from casestore.projections.runtime.schema import stale_views
    from casestore.store import schema

    settings = settings_for(config)
    found = schema.state(settings.db)
    if found.effective is None and settings.db.startswith("sqlite"):
        migrate(settings)
        return
    schema.check(settings.db)
    stale = stale_views(settings.db)
    if stale:
        raise schema.SchemaMismatch(
            "read views wait for a rebuild to this casestore's projection versions ("
            + "; ".join(stale)
            + "): run `casestore db migrate` once as the database owner"
        )
