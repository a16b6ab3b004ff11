"""The personal-data classification drives masking, corrections included (SPEC §10)."""

from __future__ import annotations

import json

from casestore.domain.personal import PERSONAL_FIELDS, Kind, Masking, mask_for, path_kinds

ID = "110101199001011234"
PHONE = "13800001111"
_PARTY = {"name": "name", "id_number": "id_number", "phone": "phone"}
#: The personal fields the README names ("Personal data declared once"), written by hand:
#: applicant/agent name, ID number, phone; survey participants' names; the delivery
#: recipient; a bundle's applicant; an enquiry's requester and contact (masked as a phone).
DECLARED: dict[str, dict[str, str]] = {
    "Case.Submitted": {
        f"{p}.{leaf}": k for p in ("applicant", "agent") for leaf, k in _PARTY.items()
    },
    "Case.SurveyConducted": {"participants[].name": "name"},
    "Case.Delivered": {"recipient": "name"},
    "Bundle.Opened": {f"applicant.{leaf}": k for leaf, k in _PARTY.items()},
    "Enquiry.Received": {"requester": "name", "contact": "phone"},
}


def test_every_field_the_readme_names_is_classified_as_it_says() -> None:
    """A field dropped from the table, or classified as a lesser kind, fails here (the leak
    scan plants what the table lists, so it cannot see a field missing from it)."""
    for event_type, fields in DECLARED.items():
        classified = PERSONAL_FIELDS.get(event_type, {})
        for path, kind in fields.items():
            assert classified.get(path) == kind, (event_type, path, classified.get(path))


def test_paths_are_classified_from_the_table() -> None:
    assert path_kinds("applicant.phone") == {"": Kind.PHONE}
    assert path_kinds("agent.id_number") == {"": Kind.ID_NUMBER}
    assert path_kinds("applicant") == {
        "name": Kind.NAME,
        "id_number": Kind.ID_NUMBER,
        "phone": Kind.PHONE,
    }
    assert path_kinds("participants[1].name") == {"": Kind.NAME}
    assert path_kinds("legal_rep.phone") == {"": Kind.PHONE}  # unknown path, personal leaf
    assert path_kinds("materials") == {}


def _correction(field: str, wrong: object, right: object) -> dict[str, object]:
    return {"field": field, "wrong_value": wrong, "correct_value": right, "reason": "录入错误"}


def test_a_corrected_phone_is_masked_like_the_phone_it_corrects() -> None:
    event = _correction("applicant.phone", "13900002222", PHONE)
    assert mask_for(event, "reviewer")["correct_value"] == "138****1111"
    assert mask_for(event, "reviewer")["wrong_value"] == "139****2222"
    assert mask_for(event, "clerk")["correct_value"] == PHONE
    masked_id = mask_for(_correction("applicant.id_number", ID, ID), "auditor")
    assert masked_id["correct_value"] == "110***********1234"


def test_a_corrected_party_is_masked_inside() -> None:
    party = {"name": "李四", "id_type": "resident_id", "id_number": ID, "phone": PHONE}
    as_text = json.dumps(party, ensure_ascii=False)
    masked = mask_for(_correction("applicant", as_text, party), "sealer")
    assert ID not in json.dumps(masked) and PHONE not in json.dumps(masked)
    assert json.loads(masked["wrong_value"])["name"] == "李四"
    assert masked["correct_value"]["phone"] == "138****1111"
    # unreadable as a party: the whole value is hidden from a role missing any kind in it
    opaque = mask_for(_correction("agent", f"{ID}/{PHONE}", ""), "surveyor")
    assert ID not in opaque["wrong_value"]


def test_other_corrections_are_left_alone() -> None:
    event = _correction("materials", "", "申请书")
    assert mask_for(event, "auditor") == event


def test_counts_what_was_revealed() -> None:
    view = {"applicant": {"name": "李四", "id_number": ID, "phone": PHONE}}
    clerk, surveyor, auditor = Masking("clerk"), Masking("surveyor"), Masking("auditor")
    clerk.walk(view), surveyor.walk(view), auditor.walk(view)
    assert (clerk.revealed, clerk.masked) == (2, 0)
    assert (surveyor.revealed, surveyor.masked) == (1, 1)
    assert (auditor.revealed, auditor.masked) == (0, 2)


def test_query_code_digests_are_never_shown() -> None:
    assert mask_for({"query_code_hash": "hmac-sha256:k1:00"}, "admin") == {}
