"""A database lock held past the busy timeout answers truthfully (issue 12 item 3): 503
``unavailable`` with Retry-After, nothing appended, and the same command succeeds once
the lock is released (no restart).

Another connection holds SQLite's write lock (``BEGIN IMMEDIATE``) while the service,
configured with a one-second busy timeout, takes a command.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import casestore.store.application as store_application
from tests.api.support import APPLICANT, make_api


def test_a_lock_timeout_is_503_and_appends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store_application.eventsourcing_env

    def short_lock(url: str, **kw: Any) -> dict[str, str]:
        env = real(url, **kw)
        env["SQLITE_LOCK_TIMEOUT"] = "1"
        return env

    monkeypatch.setattr(store_application, "eventsourcing_env", short_lock)
    db = tmp_path / "locked.db"
    api = make_api(db)
    try:
        head = api.head()
        body = {"item_code": "XK-003", "applicant": APPLICANT}
        holder = sqlite3.connect(db, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, held past the busy timeout
            r = api.post("/cases", "clerk", json=body, headers={"Idempotency-Key": "lock-1"})
            assert r.status_code == 503, r.text
            problem = r.json()
            assert problem["type"].endswith("/unavailable"), problem
            assert r.headers["Retry-After"].isdigit(), r.headers
            assert r.headers["content-type"].startswith("application/problem+json")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert api.head() == head, "a refused command was appended"
        again = api.post("/cases", "clerk", json=body, headers={"Idempotency-Key": "lock-1"})
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") != "true"
        written = api.head()
        assert written > head
        replay = api.post("/cases", "clerk", json=body, headers={"Idempotency-Key": "lock-1"})
        assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["case_id"] == again.json()["case_id"]
        assert api.head() == written  # the first answer was the only write
    finally:
        api.close()
