"""Every projection records, beside its position, the Merkle tree it was built to (issue 13
item 6): ``tree_size`` = the position and ``tree_root`` = the RFC 9162 root of the log's
first ``tree_size`` events. Expected roots are computed here, from the stored event
hashes, by RFC 9162 §2.1.1's definition (MTH) written out with ``hashlib``: not with the
ledger's tree code nor the read side's frontier. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.runtime import treebind
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.status import ProjectionStatus, statuses
from casestore.projections.runtime.treebind import LOCAL_BATCH
from casestore.projections.runtime.verify import verify_projection
from casestore.projections.runtime.worker import Worker, rebuild_into
from typer.testing import CliRunner

from casestore.cli import app as cli
from casestore.ledger.store import LedgerStore
from casestore.ledger.workers import TreeWorker
from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import APPLICANT, CLERK, REVIEWER


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1: MTH({}) = SHA-256(); MTH({d0}) = SHA-256(0x00 ‖ d0); else split
    at the largest power of two k < n: SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def cases(service: CaseService, n: int) -> None:
    for _ in range(n):
        sub = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
        service.handle(Accept(case_id=sub.case_id, actor=CLERK))
        service.handle(
            Review(case_id=sub.case_id, actor=REVIEWER, stage_name="审查", opinion="pass")
        )


def expected_root(app: CasestoreApp, size: int) -> bytes:
    hashes = [row.event_hash for row in app.log.iter_log()]
    assert len(hashes) >= size
    return mth(hashes[:size])


def recorded(db: ViewDB, key: str) -> tuple[int, int | None, bytes | None]:
    row = db.tracking(key)
    assert row is not None
    return row.position, row.tree_size, row.tree_root


def grow_tree_to(store: LedgerStore, size: int) -> None:
    TreeWorker(store, batch=size - store.head()[0]).step()
    assert store.head()[0] == size


def status_of(db: ViewDB, source: LogSource, name: str, target: str) -> ProjectionStatus:
    [found] = [s for s in statuses(db, source) if (s.name, s.target) == (name, target)]
    return found


def test_views_record_the_root_of_their_position_ahead_of_and_behind_the_tree(
    app: CasestoreApp, service: CaseService, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases(service, 3)
    head = app.log.head()[0]
    ledger = LedgerStore(app.db_url)
    db = ViewDB(app.db_url)
    source = LogSource(app)
    projection = get_projection("case_status")
    key = "case_status__tr"
    try:
        create_target(db, projection, "tr")
        # a new target is built to the empty tree
        assert recorded(db, key) == (0, 0, hashlib.sha256(b"").digest())
        # the tree has not grown at all: the worker's own frontier, from the empty tree,
        # gives the root of each position it commits
        Worker(source, db, projection, target="tr", batch=5).catch_up()
        assert ledger.head()[0] == 0
        assert recorded(db, key) == (head, head, expected_root(app, head))

        # a worker started afresh (no frontier) ahead of the tree seeds its frontier at
        # the tree's size (0 here) and reads the event hashes from there to its position
        cases(service, 1)
        second = app.log.head()[0]
        Worker(source, db, projection, target="tr", batch=5).catch_up()
        assert recorded(db, key) == (second, second, expected_root(app, second))
        assert ledger.head()[0] == 0

        # further behind than GAP_LIMIT (a long-stopped tree worker): the root is pending
        monkeypatch.setattr(treebind, "GAP_LIMIT", 0)
        cases(service, 1)
        second = app.log.head()[0]
        worker = Worker(source, db, projection, target="tr", batch=5)
        worker.catch_up()
        assert recorded(db, key) == (second, second, None)
        status = status_of(db, source, "case_status", "tr")
        assert status.tree_size == second and status.tree_root is None
        assert "tree root pending" in status.line()
        assert not worker.bind_tree()  # the tree is still not there
        # ... and recorded by the worker once the tree has reached its position
        grow_tree_to(ledger, second)
        worker.tree._next_try = 0.0  # (the binder waits a second between tries)
        assert worker.bind_tree()
        assert recorded(db, key) == (second, second, expected_root(app, second))

        # a step ahead of the tree again: small batches extend the frontier the binding
        # seeded, so every commit records its root at once, the tree standing still
        cases(service, 2)
        third = app.log.head()[0]
        worker.catch_up(max_batches=1)
        position, size, root = recorded(db, key)
        assert second < position < third and size == position
        assert root == expected_root(app, position)
        worker.catch_up()
        assert recorded(db, key) == (third, third, expected_root(app, third))
        assert ledger.head()[0] == second  # the tree did not move meanwhile
        status = status_of(db, source, "case_status", "tr")
        expected = base64.b64encode(expected_root(app, third)).decode()
        assert status.tree_root == expected and f"tree root {expected}" in status.line()

        # a rebuild (large batches, the tree ahead) takes the root from the stored tree
        grow_tree_to(ledger, third)
        rebuild_into(source, db, get_projection("audit"), target="tr", batch=4)
        assert recorded(db, "audit__tr") == (third, third, expected_root(app, third))
        frozen = rebuild_into(source, db, get_projection("audit"), target="old", upto=5, batch=2)
        assert frozen.position == 5
        assert recorded(db, "audit__old") == (5, 5, expected_root(app, 5))
    finally:
        source.close()
        db.close()
        ledger.close()


def test_project_verify_checks_the_recorded_root_against_the_tree(
    app: CasestoreApp, service: CaseService
) -> None:
    cases(service, 2)
    head = app.log.head()[0]
    ledger = LedgerStore(app.db_url)
    TreeWorker(ledger).catch_up()
    db = ViewDB(app.db_url)
    source = LogSource(app)
    try:
        create_target(db, get_projection("audit"))
        Worker(source, db, get_projection("audit"), batch=3).catch_up()
        assert recorded(db, "audit") == (head, head, expected_root(app, head))
        check = verify_projection(app, "audit")
        assert check.ok and check.root_ok is True and check.tree_root == expected_root(app, head)
        runner = CliRunner()
        ok = runner.invoke(cli, ["project", "verify", "audit", "--db", app.db_url])
        assert ok.exit_code == 0, ok.output
        root_text = base64.b64encode(expected_root(app, head)).decode()
        assert f"recorded root {root_text} = the tree's root at that size" in ok.output
        assert f"VERIFIED: audit at position {head} = tree size {head}, root {root_text}" in (
            ok.output
        )
        # a recorded root that is not the tree's (the view was built from other events)
        with db.transaction() as tx:
            tx.execute(
                "UPDATE projection_tracking SET tree_root = %s WHERE key = 'audit'",
                (bytes(32),),
            )
        check = verify_projection(app, "audit")
        assert check.root_ok is False and not check.ok
        assert check.live.tables == check.rebuilt.tables  # the rows alone still agree
        bad = runner.invoke(cli, ["project", "verify", "audit", "--db", app.db_url])
        assert bad.exit_code == 1
        assert "DIFFERS from the tree's root at that size" in bad.output
        assert "DIFFERS: audit" in bad.output
    finally:
        source.close()
        db.close()
        ledger.close()


@pytest.mark.parametrize("batch", [1, 7, LOCAL_BATCH])
def test_the_frontier_root_matches_the_rfc_for_every_size(
    app: CasestoreApp, service: CaseService, batch: int
) -> None:
    """The worker's own frontier, extended batch by batch with the tree never grown,
    records the RFC root at every position it commits."""
    cases(service, 4)
    head = app.log.head()[0]
    db = ViewDB(app.db_url)
    source = LogSource(app)
    try:
        create_target(db, get_projection("ledger"), "fr")
        worker = Worker(source, db, get_projection("ledger"), target="fr", batch=batch)
        hashes = [row.event_hash for row in app.log.iter_log()]
        while worker.catch_up(max_batches=1):
            position, size, root = recorded(db, "ledger__fr")
            assert size == position and root == mth(hashes[:position]), position
        assert recorded(db, "ledger__fr")[0] == head
    finally:
        source.close()
        db.close()


def test_a_view_reading_past_kinds_it_does_not_handle_records_the_root_of_every_event(
    app: CasestoreApp, service: CaseService
) -> None:
    """A worker reads past the event kinds its projection does not handle without building
    them (``Projection.kinds``); the tree it records is still over every event of the log.
    The enquiry list handles no case event: on a log of cases alone every page it reads is
    empty of kept events, and each commit must still record the root of its position."""
    cases(service, 3)
    head = app.log.head()[0]
    db = ViewDB(app.db_url)
    source = LogSource(app)
    projection = get_projection("enquiries")
    assert projection.kinds() is not None and "Case.Submitted" not in projection.kinds()
    try:
        create_target(db, projection, "kinds")
        worker = Worker(source, db, projection, target="kinds", batch=4)
        worker.catch_up(max_batches=1)  # the worker's own frontier, one small batch
        assert recorded(db, "enquiries__kinds") == (4, 4, expected_root(app, 4))
        worker.catch_up()
        assert recorded(db, "enquiries__kinds") == (head, head, expected_root(app, head))
        cases(service, 1)
        worker.catch_up()
        later = app.log.head()[0]
        assert recorded(db, "enquiries__kinds") == (later, later, expected_root(app, later))
    finally:
        source.close()
        db.close()
