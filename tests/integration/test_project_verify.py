"""``project verify``: every projection's live view equals a rebuild up to its position,
and a view with one row changed by hand does not (SPEC §9, issue 13)."""

from __future__ import annotations

import pytest
from casestore.projections.engine.db import ViewDB
from casestore.projections.runtime.live import EmbeddedWorkers
from casestore.projections.runtime.registry import all_projections
from casestore.projections.runtime.verify import verify_projection

from casestore.service import Accept, CaseService, Decide, Review, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import APPLICANT, APPROVER, CLERK, REVIEWER


def some_history(service: CaseService) -> None:
    for n in range(6):
        sub = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
        service.handle(Accept(case_id=sub.case_id, actor=CLERK))
        service.handle(
            Review(case_id=sub.case_id, actor=REVIEWER, stage_name="审查", opinion="pass")
        )
        if n % 2:
            service.handle(Decide(case_id=sub.case_id, actor=APPROVER, outcome="approve"))


def test_every_projection_verifies_and_a_changed_row_does_not(
    app: CasestoreApp, service: CaseService
) -> None:
    some_history(service)
    with EmbeddedWorkers(app, poll_interval=0.05) as workers:
        assert workers.wait_for(app.log.head()[0], timeout=60), workers.errors()
        # the live workers keep running: verify reads one consistent snapshot
        for projection in all_projections():
            check = verify_projection(app, projection.name)
            assert check.ok, (projection.name, check.differing())
            assert check.live.position == app.log.head()[0]
            assert sum(check.live.rows.values()) == sum(check.rebuilt.rows.values())
    db = ViewDB(app.db_url)
    try:
        with db.transaction() as tx:
            tx.execute(
                "UPDATE case_status SET stage = 'decided' WHERE case_id = "
                "(SELECT min(case_id) FROM case_status WHERE stage <> 'decided')"
            )
    finally:
        db.close()
    check = verify_projection(app, "case_status")
    assert not check.ok and check.differing() == ["case_status"]
    # the same through the CLI, with the tree size and root of the view's log prefix
    from typer.testing import CliRunner

    from casestore.cli import app as cli

    runner = CliRunner()
    differs = runner.invoke(cli, ["project", "verify", "case_status", "--db", app.db_url])
    assert differs.exit_code == 1 and "DIFFERS: case_status" in differs.output
    ok = runner.invoke(cli, ["project", "verify", "audit", "--db", app.db_url])
    assert ok.exit_code == 0, ok.output
    assert f"VERIFIED: audit at position {app.log.head()[0]} = tree size" in ok.output


def test_unknown_projection_is_refused(app: CasestoreApp) -> None:
    from casestore.domain.errors import NotFound

    with pytest.raises(NotFound):
        verify_projection(app, "no_such_view")
