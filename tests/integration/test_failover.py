"""Failover with zero acknowledged loss (issue 16 item 1), as users run it.

Two PostgreSQL 15 clusters on loopback ports: a primary and a streaming standby that the
primary waits for on every commit (``synchronous_standby_names = 'standby1'``,
``synchronous_commit = on``). ``casestore serve`` (embedded projection workers) connects
with a multi-host URL and ``target_session_attrs=read-write``. Four clients keep
submitting cases, each logical command under its own ``Idempotency-Key`` and retried
under it until acknowledged; an SSE client follows ``/stream`` and resumes with
``Last-Event-ID`` whenever its connection ends. The primary's postmaster is killed with
SIGKILL, the standby promoted. Then: the same server process (never restarted) takes
commands again; every acknowledged case is on the new primary exactly once and nothing
else was submitted; each projection equals a rebuild from the log (``casestore project
verify``); the SSE client saw every acknowledged case's intake, each position once.
The counts are printed (``-s``) for the closing note.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.failover_harness import (
    APPLICANT,
    SECRET,
    Follower,
    Load,
    assert_acknowledged_once,
    assert_projections_verify,
    casestore_env,
    kill_primary_and_promote,
    make_synchronous,
    prepare,
    projections_caught_up,
    serve,
    standby_of,
    stop,
    submitted_cases,
    wait_until,
)
from tests.integration.servedstaff import clerk_headers
from tests.pgharness import ThrowawayCluster, _find_bindir, create_database

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def test_kill_the_primary_promote_the_standby_lose_nothing(tmp_path: Path) -> None:
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    primary = ThrowawayCluster(bindir)
    primary.start()
    standby: ThrowawayCluster | None = None
    server = None
    try:
        standby = standby_of(primary, bindir)
        make_synchronous(primary)
        one = create_database(primary.url)
        dbname = one.rsplit("/", 1)[1]
        url = (f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/"
               f"{dbname}?target_session_attrs=read-write&connect_timeout=3")  # fmt: skip
        env = casestore_env()
        prepare(url, env)
        server, base = serve(url, env, tmp_path / "serve.log")
        headers = clerk_headers(SECRET)
        load, follower = Load(base, headers), Follower(base, headers)
        threads = [threading.Thread(target=load.client, args=(f"t{i}",)) for i in range(4)]
        threads.append(threading.Thread(target=follower.run))
        for t in threads:
            t.start()
        time.sleep(4)
        before = len(load.acked)
        killed_at = kill_primary_and_promote(primary, standby)
        promoted_at = time.monotonic()
        load.wait_for_ack_after(promoted_at, 120, server)
        time.sleep(4)
        load.stop.set()
        for t in threads[:-1]:
            t.join(timeout=120)
        assert server.poll() is None, "the server process died"
        first_after = min(t for t in load.acked_at if t > promoted_at)

        new_primary = f"postgresql://postgres@127.0.0.1:{standby.port}/{dbname}"
        wait_until(lambda: projections_caught_up(base), 180, server)
        time.sleep(1.5)  # the stream's poll
        follower.stop.set()
        threads[-1].join(timeout=60)

        # Every acknowledged command is on the new primary, once; nothing else was submitted.
        submitted = submitted_cases(new_primary)
        acked_ids = assert_acknowledged_once(load, submitted)
        # Every projection equals a rebuild from the log prefix it was built from.
        assert_projections_verify(url, env)
        # The SSE client missed nothing and saw nothing twice.
        positions = [p for p, _ in follower.seen]
        assert positions == sorted(set(positions))
        streamed = {d["case_id"] for _, d in follower.seen if d["event"] == "Submitted"}
        assert streamed == acked_ids
        print(
            f"\nFAILOVER: acknowledged {len(load.acked)} ({before} before the kill), present "
            f"after failover {len(acked_ids & set(submitted))}, doubled 0; promoted "
            f"{promoted_at - killed_at:.1f} s after the kill, first ack after it "
            f"{first_after - promoted_at:.1f} s later ({first_after - killed_at:.1f} s after "
            f"the kill); statuses "
            f"{dict(load.statuses)}, transport errors {dict(load.transport)}; SSE events "
            f"{len(follower.seen)}, reconnects {follower.reconnects}"
        )
    finally:
        stop(server)
        if standby is not None:
            standby.stop()
        primary.stop()


def test_views_read_from_the_standby_show_its_lag_in_health(tmp_path: Path) -> None:
    """``CASESTORE_READ_DB`` on the standby: the views are read there and ``/health``
    shows how far behind the log it is (positions) and since when it replayed."""
    bindir = _find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    primary = ThrowawayCluster(bindir)
    primary.start()
    standby: ThrowawayCluster | None = None
    server = None
    try:
        standby = standby_of(primary, bindir)
        make_synchronous(primary)
        one = create_database(primary.url)
        dbname = one.rsplit("/", 1)[1]
        replica = f"postgresql://postgres@127.0.0.1:{standby.port}/{dbname}"
        env = casestore_env(CASESTORE_READ_DB=replica)
        prepare(one, env)
        server, base = serve(one, env, tmp_path / "serve.log")
        headers = clerk_headers(SECRET)
        for _ in range(3):
            r = httpx.post(f"{base}/cases", headers=headers, timeout=30,
                           json={"item_code": "XK-003", "applicant": APPLICANT})  # fmt: skip
            assert r.status_code == 201, r.text

        def replica_caught_up() -> bool:
            body = httpx.get(f"{base}/health", timeout=5).json()
            seen = body.get("read_replica", {})
            return seen.get("lag") == 0 and seen.get("position") == body["store"]["head"]

        wait_until(replica_caught_up, 60, server)
        body = httpx.get(f"{base}/health", timeout=5).json()
        assert body["read_replica"]["standby"] is True
        assert body["read_replica"]["seconds_since_replay"] is not None
        # The applicant-free staff view is served from the standby's copy of the views.
        wait_until(lambda: all(p["lag"] == 0 for p in httpx.get(f"{base}/health", timeout=5)
                          .json()["projections"].values()), 120, server)  # fmt: skip
        cases = httpx.get(f"{base}/cases", headers=headers, timeout=30)
        assert cases.status_code == 200 and len(cases.json()["items"]) == 3, cases.text
    finally:
        stop(server)
        if standby is not None:
            standby.stop()
        primary.stop()
