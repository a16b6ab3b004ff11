"""Process entry points for ``casestore serve`` and ``casestore demo`` (uvicorn, one process).

Scale out by running more of these processes behind a load balancer: the API keeps
no state of its own beyond caches that the store's version checks keep honest.
"""

from __future__ import annotations

import os
import secrets
import sys

import uvicorn

from .app import create_app
from .logs import configure_logging

SECRET_ENV = "CASESTORE_SECRET"
_CASE_TOPIC = "casestore.domain.case:Case."


def _serve(db_url: str, secret: str, host: str, port: int, workers: bool) -> None:
    listener = configure_logging()
    try:
        app = create_app(db_url, secret=secret, workers=workers)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,  # AccessLog writes one JSON line per request instead
            timeout_graceful_shutdown=5,
        )
    finally:
        listener.stop()


def run_server(db_url: str, *, host: str, port: int, workers: bool) -> None:
    """Serve the API; refuses to start (exit 2) without ``CASESTORE_SECRET``."""
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(
            f"casestore serve: {SECRET_ENV} is not set; refusing to start without a token "
            f"signing secret.\n  export {SECRET_ENV}=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')",
            file=sys.stderr,
        )
        raise SystemExit(2)
    _serve(db_url, secret, host, port, workers)


def has_cases(db_url: str) -> bool:
    """Whether the log holds at least one case (stops at the first one)."""
    from casestore.service import CaseService

    service = CaseService.open(db_url)
    try:
        return any(row.topic.startswith(_CASE_TOPIC) for row in service.log_rows(0, page=500))
    finally:
        service.close()


def seed_demo(db_url: str, cases: int) -> None:
    """Simulate ``cases`` cases (catalogue included) into a database without cases."""
    from casestore.simulate import run_simulation

    summary = run_simulation(db_url, cases=cases, seed=1, start=None, days=120, progress=True)
    print(f"casestore demo: {summary}", file=sys.stderr)


def run_demo(db_url: str, *, host: str, port: int, cases: int) -> None:
    """Seed an empty database with realistic history, then serve it with embedded workers."""
    if not has_cases(db_url):
        print(f"casestore demo: seeding {cases} cases into {db_url} ...", file=sys.stderr)
        seed_demo(db_url, cases)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        secret = secrets.token_urlsafe(32)
        print(
            f"casestore demo: generated a token signing secret for this run. To get a token:\n"
            f"  export {SECRET_ENV}={secret}\n"
            "  casestore token --staff S001 --name 张三 --role clerk --window W01\n"
            "  (roles: clerk reviewer approver surveyor sealer dispatcher auditor inspector "
            "admin)",
            file=sys.stderr,
        )
    print(f"casestore demo: serving on http://{host}:{port}/", file=sys.stderr)
    _serve(db_url, secret, host, port, True)
