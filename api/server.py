"""Process entry points for ``casestore serve`` and ``casestore demo`` (uvicorn, one process).

Scale out by running more of these processes behind a load balancer: the API keeps
no state of its own beyond caches that the store's version checks keep honest.
Both build through the composition root (:mod:`casestore.bootstrap`) from one
:class:`~casestore.settings.Settings`.
"""

from __future__ import annotations

import secrets
import sys

import uvicorn
from pydantic import SecretStr

from casestore.settings import Settings

from .app import create_app
from .logs import configure_logging
from .tracing import install_tracing

SECRET_ENV = "CASESTORE_SECRET"
_CASE_TOPIC = "casestore.domain.case:Case."


def _serve(settings: Settings, host: str, port: int, workers: bool) -> None:
    listener = configure_logging(settings.log_level)
    provider = None
    try:
        app = create_app(settings, workers=workers)
        provider = install_tracing(app)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,  # AccessLog writes one JSON line per request instead
            timeout_graceful_shutdown=5,
        )
    finally:
        if provider is not None:
            provider.shutdown()  # flush the spans still batched
        listener.stop()


def run_server(settings: Settings, *, host: str, port: int, workers: bool) -> None:
    """Serve the API; refuses to start (exit 2) without ``CASESTORE_SECRET``."""
    if not settings.secret_value():
        print(
            f"casestore serve: {SECRET_ENV} is not set; refusing to start without a token "
            f"signing secret.\n  export {SECRET_ENV}=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')\n"
            f"  (or {SECRET_ENV}_FILE=PATH, or a file casestore_secret in "
            "CASESTORE_SECRETS_DIR / $CREDENTIALS_DIRECTORY)",
            file=sys.stderr,
        )
        raise SystemExit(2)
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
    """Simulate ``cases`` cases (catalogue included) into a database without cases."""
    from casestore.simulate import run_simulation

    summary = run_simulation(settings, cases=cases, seed=1, start=None, days=120, progress=True)
    print(f"casestore demo: {summary}", file=sys.stderr)


def run_demo(settings: Settings, *, host: str, port: int, cases: int) -> None:
    """Seed an empty database with realistic history, then serve it with embedded workers."""
    if not has_cases(settings):
        print(f"casestore demo: seeding {cases} cases into {settings.db} ...", file=sys.stderr)
        seed_demo(settings, cases)
    if not settings.secret_value():
        secret = secrets.token_urlsafe(32)
        settings = settings.model_copy(update={"secret": SecretStr(secret)})
        print(
            f"casestore demo: generated a token signing secret for this run. To get a token:\n"
            f"  export {SECRET_ENV}={secret}\n"
            "  casestore token --staff S001 --name 张三 --role clerk --window W01\n"
            "  (roles: clerk reviewer approver surveyor sealer dispatcher auditor inspector "
            "admin)",
            file=sys.stderr,
        )
    if settings.signing_key is None:
        from casestore.ledger.demokey import demo_signing_key

        settings = demo_signing_key(settings)
    print(f"casestore demo: serving on http://{host}:{port}/", file=sys.stderr)
    _serve(settings, host, port, True)
