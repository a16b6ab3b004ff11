"""The FastAPI application factory: one store, one service, routes, errors, metrics.

``create_app(settings, workers=False, clock=None)`` builds an app over one database
through the composition root (:mod:`casestore.bootstrap`); callers are identified by
development tokens signed with ``CASESTORE_SECRET`` and/or by the identity provider's
tokens (``CASESTORE_OIDC_*``), and authorised by the grants in the log. The write side
is synchronous (eventsourcing has no asyncio API), so every route calls it in the thread
pool and the event loop only moves bytes. With ``workers=True`` the embedded projection
runner starts in the lifespan (the SQLite default of ``casestore serve``); against
PostgreSQL run the API with ``--no-workers`` and ``casestore project run`` elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from casestore.authority import Authority
from casestore.bootstrap import write_side
from casestore.identity import REMEMBERED_TOKENS, IdentityVerifier, OidcConfig
from casestore.ledger.config import LedgerConfig
from casestore.querycode import QueryPeppers
from casestore.settings import Settings, SettingsError, load_settings
from casestore.trail import AccessTrail

from .bodylimit import BodyLimit
from .clientaddr import TrustedProxies
from .deps import ApiState
from .flatroutes import include_flat
from .logs import AccessLog
from .metrics import ApiMetrics
from .problems import PROBLEM_BASE, RefuseNul, TokenBeforeBody, install_error_handlers
from .queryparams import reject_unknown_query
from .ratelimit import StreamSlots
from .readside import ReadSide
from .routes import (
    audit,
    cases,
    commands,
    docs,
    documents,
    enquiries,
    exports,
    items,
    ops,
    public,
    reports,
    staff,
    stream,
    web,
)
from .routes import awards as award_routes
from .routes import log as log_routes
from .routes import monthly as monthly_reports
from .routes import windows as window_routes
from .stream import StreamHub
from .tickets import StreamTickets

log = logging.getLogger("casestore.api")

DESCRIPTION = f"""
Event-sourced case tracking for a county Administrative Approval Service Bureau
(行政审批服务局). Commands append immutable events; queries read the log and its
projections. Errors are `application/problem+json` (RFC 9457) with `type` URIs under
`{PROBLEM_BASE}`. Authenticate with `Authorization: Bearer <token>` (the bureau's
identity provider, or `casestore token --staff STAFF_ID` in development); what you may
do comes from the roles granted to you in the log (`casestore staff grant`).
"""


def create_app(
    config: Settings | str,
    *,
    secret: str | None = None,
    oidc: OidcConfig | None = None,
    peppers: QueryPeppers | None = None,
    workers: bool = False,
    clock: Callable[[], datetime] | None = None,
    read_db_url: str | None = None,
    access_trail: bool | None = None,
    trusted_proxies: Sequence[str | IPv4Network | IPv6Network] | None = None,
) -> FastAPI:
    """An API built from ``config``: settings, or a database URL whose other settings come
    from the environment (``secret`` and ``read_db_url`` then override theirs; ``oidc``,
    ``peppers``, ``access_trail`` and ``trusted_proxies`` given in code override the
    settings' ``CASESTORE_OIDC_*``, ``CASESTORE_QUERY_PEPPER``, ``CASESTORE_ACCESS_TRAIL``
    and ``CASESTORE_TRUSTED_PROXIES``).

    Development tokens are verified with ``CASESTORE_SECRET`` (at least 32 bytes), the
    identity provider's with ``oidc``. The projection views are read from
    ``CASESTORE_READ_DB`` when set (a PostgreSQL hot standby of the primary serves them
    read-only), else from the store's own database.
    """
    settings = _settings(config, secret=secret, read_db_url=read_db_url)
    oidc = oidc or settings.oidc()
    if not settings.secret_value() and oidc is None:
        raise SettingsError(
            "a token signing secret (CASESTORE_SECRET) or an identity provider "
            "(CASESTORE_OIDC_*) is required"
        )
    identity = IdentityVerifier(
        dev_secret=settings.secret_value() or None, oidc=oidc, remember=REMEMBERED_TOKENS
    )
    clock_config = settings.clock()
    wired = write_side(settings, clock=clock, peppers=peppers)
    service = wired.service
    try:
        ledger_config = LedgerConfig.from_settings(settings)
        views_url = settings.views_url()
        read = ReadSide(
            views_url, service, service.calendar, clock_config, replica=views_url != settings.db
        )
    except BaseException:
        service.close()
        raise
    trail_on = settings.access_trail if access_trail is None else access_trail
    proxies = settings.trusted_proxies if trusted_proxies is None else trusted_proxies
    state = ApiState(
        db_url=settings.db,
        identity=identity,
        authority=Authority(wired.store, service.clock),
        trail=AccessTrail(wired.store, service.clock, enabled=trail_on),
        tickets=StreamTickets(),
        proxies=TrustedProxies(proxies),
        service=service,
        wiring=wired,
        calendar=service.calendar,
        clock_config=clock_config,
        metrics=ApiMetrics(read.positions),
        hub=StreamHub(service, wired.store),
        read=read,
        workers=workers,
        witnesses=list(ledger_config.witnesses),
        board_slots=StreamSlots(settings.board_streams_per_client, settings.board_streams_total),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.hub.start()
        if workers:
            started = await run_in_threadpool(wired.start_background, ledger_config)
            state.background.extend(started)
            log.info("embedded projection workers started", extra={"db": service.backend})
        try:
            yield
        finally:
            for runner in state.background:
                await run_in_threadpool(runner.stop)
            await state.hub.stop()
            read.close()
            if state.ledger is not None:
                state.ledger.close()
            service.close()

    app = FastAPI(
        title="casestore",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
        docs_url=None,  # served with local assets by routes/docs.py
        redoc_url=None,
    )
    app.state.casestore = state
    install_error_handlers(app)
    routers = (
        commands,
        enquiries,
        window_routes,
        monthly_reports,
        award_routes,
        documents,
        cases,
        public,
        reports,
        exports,
        items,
        audit,
        staff,
        stream,
        ops,
        log_routes,
    )
    for module in (*routers, web, docs):
        include_flat(app, module.router)
    app.add_middleware(TokenBeforeBody, verify=state.identity.verify)
    app.add_middleware(RefuseNul)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(AccessLog, observe=state.metrics.request)
    return app


def _settings(config: Settings | str, *, secret: str | None, read_db_url: str | None) -> Settings:
    if isinstance(config, str):
        return load_settings(db=config, secret=secret, read_db=read_db_url)
    return config.with_overrides(secret=secret, read_db=read_db_url)
