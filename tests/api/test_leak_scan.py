"""Leak scan: no full ID number or phone reaches a role that must not see it, on any
GET route or the stream, with data that includes corrections of personal fields.

The planted values are generated from the classification table
(``casestore.domain.personal.PERSONAL_FIELDS``): every sensitive path gets its own
value at intake and a correction of its own, so a field added to the table is planted
and scanned without touching this test (a path no producer below can plant fails it).
Who may see what is written here by hand from the README's matrix.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from typing import Any

import pytest

from casestore.domain.personal import PERSONAL_FIELDS, SENSITIVE, Kind
from tests.api.support import STAFF_ROLES, Api, walk

FULL = {
    "id_number": {"clerk", "reviewer", "approver", "dispatcher", "admin"},
    "phone": {"clerk", "surveyor", "dispatcher", "admin"},
}
_serial = itertools.count(1)
SCAN_COUNTS: dict[str, int] = {}


def _value(kind: Kind) -> str:
    n = next(_serial)
    return f"11010119900101{n:04d}" if kind is Kind.ID_NUMBER else f"139{n:08d}"


def _party(prefix: str, fields: dict[str, Kind], planted: dict[str, Kind]) -> dict[str, Any]:
    party = {"name": f"{prefix}人", "id_type": "resident_id", "id_number": "x"}
    for path, kind in fields.items():
        if path.startswith(prefix + ".") and kind in SENSITIVE:
            value = _value(kind)
            party[path.split(".", 1)[1]] = value
            planted[value] = kind
    return party


def _plant(api: Api) -> tuple[dict[str, Kind], dict[str, str]]:
    planted: dict[str, Kind] = {}
    handled: set[tuple[str, str]] = set()
    case_fields = dict(PERSONAL_FIELDS["Case.Submitted"])
    body = {
        "item_code": "XK-003",
        "applicant": _party("applicant", case_fields, planted),
        "agent": {**_party("agent", case_fields, planted), "mandate": "WT-1"},
    }
    handled |= {("Case.Submitted", p) for p in case_fields}
    r = api.post("/cases", "clerk", json=body)
    assert r.status_code == 201, r.text
    case = r.json()
    walk(api, case["case_id"], upto="correct")
    # A correction of every sensitive path of every Case event, and of a whole party.
    for event_type, fields in PERSONAL_FIELDS.items():
        if not event_type.startswith("Case."):
            continue
        for path, kind in fields.items():
            handled.add((event_type, path))
            if kind not in SENSITIVE:
                continue
            wrong, right = _value(kind), _value(kind)
            planted |= {wrong: kind, right: kind}
            api.command(
                case["case_id"],
                "correct",
                "clerk",
                {
                    "corrects_version": 1,
                    "field": path,
                    "wrong_value": wrong,
                    "correct_value": right,
                    "reason": "录入错误",
                },
            )
    whole = _party("applicant", case_fields, planted)
    api.command(
        case["case_id"],
        "correct",
        "clerk",
        {
            "corrects_version": 1,
            "field": "applicant",
            "wrong_value": json.dumps(whole, ensure_ascii=False),
            "correct_value": "",
            "reason": "整体更正",
        },
    )
    bundle_fields = dict(PERSONAL_FIELDS["Bundle.Opened"])
    handled |= {("Bundle.Opened", p) for p in bundle_fields}
    r = api.post(
        "/bundles",
        "clerk",
        json={"bundle_code": "YJS-001", "applicant": _party("applicant", bundle_fields, planted)},
    )
    assert r.status_code == 201, r.text
    bundle = r.json()
    enquiry_fields = dict(PERSONAL_FIELDS["Enquiry.Received"])
    handled |= {("Enquiry.Received", p) for p in enquiry_fields}
    enquiry: dict[str, Any] = {"kind": "consultation", "topic": "营业执照办理"}
    for path, kind in enquiry_fields.items():
        enquiry[path] = _value(kind) if kind in SENSITIVE else "咨询人"
        if kind in SENSITIVE:
            planted[enquiry[path]] = kind
    r = api.post("/enquiries", "clerk", json=enquiry)
    assert r.status_code == 201, r.text
    unplanted = {(t, p) for t, f in PERSONAL_FIELDS.items() for p in f} - handled
    assert not unplanted, f"the leak scan cannot plant {unplanted}: add a producer"
    child = next(iter(bundle["children"].values()))
    ids = {
        "case_id": case["case_id"],
        "case_no": case["case_no"],
        "code": case["query_code"],
        "bundle_id": bundle["bundle_id"],
        "child": child["case_id"],
    }
    return planted, ids


def _get_routes(api: Api) -> list[str]:
    spec = api.app.openapi()
    return sorted(p for p, ops in spec["paths"].items() if "get" in ops)


def _fill(path: str, ids: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    values = {
        "case_id": ids["case_id"],
        "bundle_id": ids["bundle_id"],
        "case_no": ids["case_no"],
        "staff_id": "clerk-1",
    }
    names = re.findall(r"{(\w+)}", path)
    if any(n not in values for n in names):
        return None
    url = path.format(**{n: values[n] for n in names})
    params: dict[str, Any] = {}
    if path.startswith("/public/"):
        params["code"] = ids["code"]
    if path == "/stream":
        params = {"after": 0, "limit": 3}
    if path == "/staff":
        params = {"role": "clerk"}
    return url, params


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_no_full_id_number_or_phone_reaches_a_role_that_must_not_see_it(
    api_workers: Api, role: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = api_workers
    planted, ids = _plant(api)
    api.sync()
    caplog.set_level(logging.DEBUG, logger="casestore")
    checks = requests = skipped = 0
    for path in _get_routes(api):
        filled = _fill(path, ids)
        if filled is None:
            skipped += 1
            continue
        url, params = filled
        variants = [params]
        if "{case_id}" in path and not path.endswith("/proof"):
            variants.append({**params, "at_position": 1})  # an as-of reconstruction
        for p in variants:
            r = api.get(url, role, params=p)
            requests += 1
            text = r.text
            for value, kind in planted.items():
                checks += 1
                if role not in FULL[kind.value]:
                    assert value not in text, (role, path, p, kind, r.status_code)
    logged = "\n".join(rec.getMessage() + str(rec.__dict__) for rec in caplog.records)
    for value, kind in planted.items():
        checks += 1
        assert value not in logged, (role, kind)
    # Roles that may see a kind do see it somewhere (the scan is not vacuous).
    case = api.get(f"/cases/{ids['case_id']}/events", role).text
    for value, kind in planted.items():
        if role in FULL[kind.value] and value in api.get(f"/cases/{ids['case_id']}", "admin").text:
            assert value in case
    SCAN_COUNTS[role] = checks
    print(
        f"leak scan {role}: {requests} requests over {len(_get_routes(api)) - skipped} GET "
        f"routes (+stream), {len(planted)} planted values, {checks} checks, {skipped} routes "
        "without fillable parameters"
    )
