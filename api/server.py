"""Process entry points for ``casestore serve`` and ``casestore demo`` (uvicorn, one process).

Scale out by running more of these processes behind a load balancer: the API keeps
no state of its own beyond caches that the store's version checks keep honest.
Both build through the composition root (:mod:`casestore.bootstrap`) from one
:class:`~casestore.settings.Settings`.
"""

from __future__ import annotations

import gc
import secrets
import sys
from typing import NoReturn

import uvicorn
from pydantic import SecretStr

from casestore.settings import Settings

from .app import create_app
from .logs import configure_logging
from .tracing import install_tracing

SECRET_ENV = "CASESTORE_SECRET"
PEPPER_ENV = "CASESTORE_QUERY_PEPPER"
_CASE_TOPIC = "casestore.domain.case:Case."


def _serve(settings: Settings, host: str, port: int, workers: bool) -> None:
    listener = configure_logging(settings.log_level)
    provider = None
    try:
        app = create_app(settings, workers=workers)
        provider = install_tracing(app)
        freeze_startup_heap()
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,  # AccessLog writes one JSON line per request instead
            timeout_graceful_shutdown=5,
            # Forwarded headers are the app's business, from CASESTORE_TRUSTED_PROXIES
            # only (uvicorn would otherwise trust them from 127.0.0.1 by default).
            proxy_headers=False,
            forwarded_allow_ips="",
        )
    finally:
        if provider is not None:
            provider.shutdown()  # flush the spans still batched
        listener.stop()


def freeze_startup_heap() -> None:
    """Take what start-up built (modules, the app, its routes and schemas: ~100,000
    objects) out of the cyclic collector's scans (``gc.freeze``): it lives as long as the
    process anyway. A full collection holds the GIL, so it stalls every request and
    group-commit hand-off in the process while it runs; without the freeze it scanned all
    of start-up each time. Measured through ``casestore.bench.edge`` (8 and 32 clients, a
    shared machine at load 11-14): full collections of 300-590 ms fell to 100-160 ms."""
    gc.collect()
    gc.freeze()


def _refuse(message: str) -> NoReturn:
    print(f"casestore serve: {message}", file=sys.stderr)
    raise SystemExit(2)


def run_server(settings: Settings, *, host: str, port: int, workers: bool) -> None:
    """Serve the API; refuses to start (exit 2) without a way to identify callers
    (``CASESTORE_SECRET`` of 32+ bytes or an OIDC provider) or without
    ``CASESTORE_QUERY_PEPPER`` (both checked by the settings when given)."""
    if settings.peppers() is None:
        _refuse(
            f"{PEPPER_ENV} is not set; refusing to start. Query codes are stored as an "
            f"HMAC under it:\n  export {PEPPER_ENV}=$(casestore keygen --pepper)\n"
            f"  (or {PEPPER_ENV}_FILE=PATH, or a file casestore_query_pepper in "
            "CASESTORE_SECRETS_DIR / $CREDENTIALS_DIRECTORY)"
        )
    if not settings.secret_value() and settings.oidc() is None:
        _refuse(
            f"neither {SECRET_ENV} nor CASESTORE_OIDC_* is set; refusing to start without a "
            f"way to identify callers.\n  export {SECRET_ENV}=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')\n"
            f"  (or {SECRET_ENV}_FILE=PATH, or a file casestore_secret in "
            "CASESTORE_SECRETS_DIR / $CREDENTIALS_DIRECTORY)"
        )
    _serve(settings, host, port, workers)


def has_cases(settings: Settings) -> bool:
    """Whether the log holds at least one case (stops at the first one)."""
    from casestore.bootstrap import write_side

    service = write_side(settings).service
    try:
        return any(row.topic.startswith(_CASE_TOPIC) for row in service.log_rows(0, page=500))
    finally:
        service.close()


def seed_demo(settings: Settings, cases: int) -> None:
    """Simulate ``cases`` cases (catalogue and staff included) into a database without
    cases."""
    from casestore.simulate import run_simulation

    summary = run_simulation(settings, cases=cases, seed=1, start=None, days=120, progress=True)
    print(f"casestore demo: {summary}", file=sys.stderr)


def run_demo(settings: Settings, *, host: str, port: int, cases: int) -> None:
    """Seed an empty database with realistic history, then serve it with embedded workers.

    Without a configured pepper the demo uses the simulation's (derived from its seed:
    simulated data only); without a secret it generates one for this run."""
    from casestore.simulate import simulation_peppers

    if settings.peppers() is None:
        pepper = SecretStr(simulation_peppers(1).setting())
        settings = settings.model_copy(update={"query_pepper": pepper})
    if not has_cases(settings):
        print(f"casestore demo: seeding {cases} cases into {settings.db} ...", file=sys.stderr)
        seed_demo(settings, cases)
    secret = settings.secret_value()
    if not secret:
        secret = secrets.token_urlsafe(32)
        settings = settings.model_copy(update={"secret": SecretStr(secret)})
    print(
        "casestore demo: the simulated bureau's staff are enrolled with their roles "
        "(admin-01, clerk-01-01, reviewer-01, approver-01, surveyor-01, sealer-01, "
        "dispatcher-01, ...). To get a token for one of them:\n"
        f"  export {SECRET_ENV}={secret}\n"
        f"  casestore token --staff approver-01 --db {settings.db}\n"
        "  An auditor or inspector: casestore staff enroll insp-01 --name 纪检 --by admin-01, "
        "then casestore staff grant insp-01 inspector --by admin-01 --reason 监督 "
        "(and send X-Purpose with each request).",
        file=sys.stderr,
    )
    if settings.signing_key is None:
        from casestore.ledger.demokey import demo_signing_key

        settings = demo_signing_key(settings)
    print(f"casestore demo: serving on http://{host}:{port}/", file=sys.stderr)
    _serve(settings, host, port, True)
