"""Least privilege on the read side (issue 18): only the case list (``case_status``, which
shows a masked name and corrected facts) opens personal fields. Every other projection
reads them sealed, so no view of theirs holds a name, an ID number or a phone in clear
(a forget has nothing to erase there), and their rebuild fetches no key."""

from __future__ import annotations

from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB, drop_target
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import all_projections
from casestore.projections.runtime.worker import rebuild_into

from casestore.service import CaseService
from casestore.store.application import CasestoreApp
from tests.conftest import APPLICANT
from tests.integration.test_forget import submit_and_close, world  # noqa: F401 (fixture)

#: What the case below holds about its applicant (tests/conftest.py), and the corrected
#: phone; none of it may appear in clear in a view but the case list's masked name.
CLEAR = ("张三", "110101199001011234", "13800000000", "13700001111")


def _view_text(db: ViewDB, names: dict[str, str]) -> str:
    rows: list[dict[str, Any]] = []
    for physical in names.values():
        rows += db.rows(f"SELECT * FROM {physical}")
    return repr(rows)


def test_only_the_case_list_opens_personal_fields(
    world: tuple[CasestoreApp, CaseService],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, service = world
    submit_and_close(service, APPLICANT)
    keys = app.subject_keys
    assert keys is not None
    fetched: list[set[str]] = []
    real = keys.prefetch

    def prefetch(key_ids: set[str]) -> set[str]:
        fetched.append(set(key_ids))
        return real(key_ids)

    monkeypatch.setattr(keys, "prefetch", prefetch)
    db, source = ViewDB(app.db_url), LogSource(app)
    head = app.log.head()[0]
    seen = {}
    try:
        for projection in all_projections():
            fetched.clear()
            rebuild_into(source, db, projection, target="lp", upto=head)
            text = _view_text(db, projection.table_names("lp"))
            seen[projection.name] = text
            opened = any(fetched)
            assert opened == (projection.name == "case_status"), projection.name
            if projection.name != "case_status":
                for value in CLEAR:
                    assert value not in text, (projection.name, value)
            drop_target(db, projection, "lp")
    finally:
        source.close()
        db.close()
    case_list = seen["case_status"]
    assert "张*" in case_list  # the masked name, drawn from the opened field
    assert "110101199001011234" not in case_list and "13800000000" not in case_list
