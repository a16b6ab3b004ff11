"""Every staff role against every HTTP command, checked against the README's role table.

``MAY`` is written here by hand from README.md, "Roles and problem types" (and nothing
is read from ``casestore.domain.roles``): a role the table does not list gets 403 and
appends nothing; a role it lists passes the role check (whatever the case's stage then
says). A deliberate change to the product's matrix — ``reviewer`` allowed to ``decide``,
a clerk allowed to register windows — fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import APPLICANT, BODIES, LIFECYCLE, STAFF_ROLES, Api

WRITERS = {"clerk", "reviewer", "approver", "surveyor", "sealer", "dispatcher", "admin"}
#: command -> the staff roles that may issue it (README, "Roles and problem types").
MAY: dict[str, set[str]] = {
    "submit": {"clerk", "admin"},
    "submit-bundle": {"clerk", "admin"},
    "supplement-request": {"clerk", "reviewer", "admin"},
    "reject": {"clerk", "reviewer", "admin"},
    "supplement": {"clerk", "admin"},
    "accept": {"clerk", "admin"},
    "withdraw": {"clerk", "admin"},
    "follow-up": {"clerk", "admin"},
    "review": {"reviewer", "approver"},
    "suspend": {"reviewer", "approver"},
    "resume": {"reviewer", "approver"},
    "survey-schedule": {"reviewer", "surveyor"},
    "survey-result": {"surveyor"},
    "extend": {"approver"},
    "decide": {"approver"},
    "bundle-extend": {"approver"},
    "seal": {"sealer"},
    "deliver": {"clerk", "dispatcher"},
    "evaluate": {"clerk", "dispatcher", "admin"},
    "bad-review": {"approver", "admin"},
    "correct": WRITERS,
    "service": {"clerk", "dispatcher", "admin"},
    "enquiry-receive": {"clerk", "approver", "admin"},
    "enquiry-answer": {"clerk", "reviewer", "approver", "admin"},
    "enquiry-refer": {"clerk", "approver", "admin"},
    "enquiry-close": {"clerk", "approver", "admin"},
    "window-register": {"admin"},
    "window-revise": {"admin"},
    "window-party-post": {"admin"},
    "window-duty": {"admin"},
    "award-grant": {"clerk", "admin"},
    "award-revoke": {"admin"},
}
CASE_ACTIONS = [a for a, _, _ in LIFECYCLE] + ["reject", "withdraw", "service"]
SERVICE = {"service": "copying", "units": 2, "charged_fen": 100}


def _check(api: Api, role: str, action: str, url: str, body: dict[str, Any]) -> int:
    """POST as ``role``; 403 and nothing appended exactly when the table says so."""
    before = api.head()
    r = api.post(url, role, json=body)
    if role in MAY[action]:
        assert r.status_code != 403, (action, role, r.text)
    else:
        assert r.status_code == 403, (action, role, r.status_code, r.text)
        assert r.json()["type"].endswith("/forbidden")
        assert api.head() == before, f"{role} {action} appended"
    if r.status_code >= 400:
        assert api.head() == before, (action, role, r.text)
    return r.status_code


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_role_against_every_case_command(api: Api, role: str) -> None:
    case = api.submit()
    for action in CASE_ACTIONS:
        body = SERVICE if action == "service" else BODIES[action]
        _check(api, role, action, f"/cases/{case['case_id']}/{action}", body)
    _check(api, role, "submit", "/cases", {"item_code": "XK-001", "applicant": APPLICANT})
    bundle = {"bundle_code": "YJS-001", "applicant": APPLICANT}
    _check(api, role, "submit-bundle", "/bundles", bundle)
    opened = api.post("/bundles", "clerk", json=bundle).json()["bundle_id"]
    extend = {"reason": "会审", "approved_by": "副县长 王某"}
    extend["approval_document"] = "旬政审〔2025〕3号"
    _check(api, role, "bundle-extend", f"/bundles/{opened}/extend", extend)


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_role_against_every_practice_command(api: Api, role: str) -> None:
    enquiry = {"kind": "request", "topic": "营业执照办理"}
    made = api.post("/enquiries", "clerk", json=enquiry).json()["enquiry_id"]
    _check(api, role, "enquiry-receive", "/enquiries", enquiry)
    _check(api, role, "enquiry-answer", f"/enquiries/{made}/answer", {"answer": "已答复"})
    _check(api, role, "enquiry-refer", f"/enquiries/{made}/refer", {"to_unit": "市场监管局"})
    _check(api, role, "enquiry-close", f"/enquiries/{made}/close", {"outcome": "resolved"})
    window = {"code": "G01", "name": "绿色通道", "window_type": "green_channel"}
    assert api.post("/windows", "admin", json=window).status_code == 201
    _check(api, role, "window-register", "/windows", {**window, "code": f"N-{role}"})
    revised = {"name": "招商引资绿色通道", "window_type": "green_channel"}
    _check(api, role, "window-revise", "/windows/G01/revise", revised)
    post = {"staff_id": "clerk-1", "staff_name": "王五"}
    _check(api, role, "window-party-post", "/windows/G01/party-post", post)
    duty = {"day": "2025-09-02", "staff_id": "approver-1", "staff_name": "赵六"}
    _check(api, role, "window-duty", "/windows/G01/duty", duty)
    award = {"kind": "silk_banner", "recipient_kind": "window", "recipient": "G01"}
    granted = api.post("/awards", "admin", json=award).json()["award_id"]
    _check(api, role, "award-grant", "/awards", award)
    _check(api, role, "award-revoke", f"/awards/{granted}/revoke", {"reason": "录入错误"})


def test_each_allowed_role_can_really_issue_its_command(api: Api) -> None:
    """Walk a case per allowed role of each step (not just the first role): 200."""
    for step, (action, _, body) in enumerate(LIFECYCLE):
        for role in sorted(MAY[action]):
            case = api.submit()
            for prior_action, prior_role, prior_body in LIFECYCLE[:step]:
                api.command(case["case_id"], prior_action, prior_role, prior_body)
            r = api.post(f"/cases/{case['case_id']}/{action}", role, json=body)
            assert r.status_code == 200, (action, role, r.text)
