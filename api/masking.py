"""Masking of personal data (ID numbers, phones) by role, for every view the API renders.

The matrix (README "Personal data"): a role sees a value in full only when its work
needs it; everyone else sees ``110***********1234`` / ``138****5678``.

| role        | ID number | phone | why                                                |
|-------------|-----------|-------|----------------------------------------------------|
| clerk       | full      | full  | checks identity at intake, calls for supplements    |
| reviewer    | full      | masked| the decision names the applicant                    |
| approver    | full      | masked| signs the decision                                  |
| surveyor    | masked    | full  | arranges the site visit with the applicant          |
| sealer      | masked    | masked| seals a document, needs neither                     |
| dispatcher  | full      | full  | verifies identity at pickup, mails the certificate  |
| admin       | full      | full  | bureau administration                               |
| auditor     | masked    | masked| replays history; hashes prove integrity without PII |
| inspector   | masked    | masked| supervision works on facts and times, not identities|
| applicant / public | omitted | omitted | the public view carries no personal data at all |

The query code's hash is never shown to anyone: a 6-digit code is cheap to brute-force
from its hash.
"""

from __future__ import annotations

from typing import Any, Final

FULL_ID_NUMBER: Final = frozenset({"clerk", "reviewer", "approver", "dispatcher", "admin"})
FULL_PHONE: Final = frozenset({"clerk", "surveyor", "dispatcher", "admin"})
HIDDEN_KEYS: Final = frozenset({"query_code_hash"})


def mask_value(value: str) -> str:
    """Keep the first 3 and last 4 characters of a long value; hide all of a short one."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_personal(data: Any, role: str) -> Any:
    """A copy of a JSON-plain structure with personal data masked for ``role``."""
    full_id = role in FULL_ID_NUMBER
    full_phone = role in FULL_PHONE
    return _walk(data, full_id, full_phone)


#: Keys that carry the value of a corrected fact (a ``Corrected`` event's data, the case
#: view's ``corrected`` marks): masked like the fact they correct.
CORRECTION_VALUES: Final = ("wrong_value", "correct_value", "value", "was")


def _walk(data: Any, full_id: bool, full_phone: bool) -> Any:
    if isinstance(data, list):
        return [_walk(v, full_id, full_phone) for v in data]
    if not isinstance(data, dict):
        return data
    fact = data.get("fact")
    if isinstance(fact, str):
        data = _mask_correction(data, fact.rsplit(".", 1)[-1], full_id, full_phone)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in HIDDEN_KEYS:
            continue
        if isinstance(value, str) and (
            (key == "id_number" and not full_id) or (key == "phone" and not full_phone)
        ):
            out[key] = mask_value(value) if value else value
        else:
            out[key] = _walk(value, full_id, full_phone)
    return out


def _mask_correction(
    data: dict[str, Any], leaf: str, full_id: bool, full_phone: bool
) -> dict[str, Any]:
    """A correction of a personal fact shows its old and new values masked the same way."""
    if not ((leaf == "id_number" and not full_id) or (leaf == "phone" and not full_phone)):
        return data
    return {
        k: mask_value(v) if k in CORRECTION_VALUES and isinstance(v, str) and v else v
        for k, v in data.items()
    }
