"""Personal data, declared once: which event fields carry it, and who may see it in full.

:data:`PERSONAL_FIELDS` is the classification table, beside the event classes it
describes. Everything that shows an event or a view to someone — the API's views and
event lists, as-of reconstructions, the live stream, the audit export, ``casestore
export``, error messages and logs — masks through :func:`mask_for`, so a field added
to this table is masked everywhere (and the leak scan in ``tests/api/test_leak_scan.py``
is generated from it, so it is tested everywhere too).

Paths are dotted; ``[]`` stands for every element of a list. A ``Corrected`` event's
``wrong_value`` / ``correct_value`` take the class of the path its ``fact`` names
(``field`` before event version 2; ``applicant.phone`` -> phone), and a correction of a
whole party (``applicant``) masks the personal values nested inside it. The same holds
for the views' ``corrected`` marks (``fact`` with ``value`` and ``was``).

Who sees what in full (README "Personal data"); everyone else sees ``110***********1234``
/ ``138****5678``, and the public sees neither:

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
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class Kind(StrEnum):
    """What sort of personal data a field holds."""

    ID_NUMBER = "id_number"
    PHONE = "phone"
    NAME = "name"


_PARTY = {"name": Kind.NAME, "id_number": Kind.ID_NUMBER, "phone": Kind.PHONE}


def _party(prefix: str) -> dict[str, Kind]:
    return {f"{prefix}.{leaf}": kind for leaf, kind in _PARTY.items()}


#: The classification table: event type -> {field path: kind}.
PERSONAL_FIELDS: Final[Mapping[str, Mapping[str, Kind]]] = {
    "Case.Submitted": {**_party("applicant"), **_party("agent")},
    "Case.SurveyConducted": {"participants[].name": Kind.NAME},
    "Case.Delivered": {"recipient": Kind.NAME},
    "Bundle.Opened": _party("applicant"),
    # 群众诉求/咨询: who asked, and how to reach them (a phone number, as a rule)
    "Enquiry.Received": {"requester": Kind.NAME, "contact": Kind.PHONE},
}
#: Fields whose class is that of another path, named in the same object's ``fact`` (a
#: ``Corrected`` event, v1 ``field``; a view's ``corrected`` mark: ``value`` and ``was``).
CORRECTION_VALUES: Final = ("wrong_value", "correct_value", "value", "was")
CORRECTION_PATHS: Final = ("fact", "field")
#: Shown in place of a personal value whose subject was forgotten (its key destroyed),
#: and of one this process holds no key for (SPEC §10, ``casestore forget``).
ERASED: Final = "〔已删除〕"
SEALED: Final = "〔已加密〕"
PLACEHOLDERS: Final = frozenset({ERASED, SEALED})
#: Never shown to anyone, masked or not (a peppered digest of the applicant's query code).
HIDDEN_FIELDS: Final = frozenset({"query_code_hash"})

STAFF_ROLES: Final = frozenset(
    {"clerk", "reviewer", "approver", "surveyor", "sealer", "dispatcher", "auditor", "inspector"}
    | {"admin"}
)
#: Kind -> the roles that see it in full.
FULL_VIEW: Final[Mapping[Kind, frozenset[str]]] = {
    Kind.ID_NUMBER: frozenset({"clerk", "reviewer", "approver", "dispatcher", "admin"}),
    Kind.PHONE: frozenset({"clerk", "surveyor", "dispatcher", "admin"}),
    Kind.NAME: STAFF_ROLES,
}
#: Kinds some staff role may not see: the ones masking and the access trail are about.
SENSITIVE: Final = frozenset(k for k, roles in FULL_VIEW.items() if roles != STAFF_ROLES)


def _normal(path: str) -> str:
    """``participants[2].name`` -> ``participants[].name``."""
    out, depth = [], 0
    for ch in path.strip():
        if ch == "[":
            depth += 1
            out.append("[")
        elif ch == "]":
            depth -= 1
            out.append("]")
        elif depth == 0:
            out.append(ch)
    return "".join(out)


#: Leaf key -> kind, for views that are not events (a case view's ``applicant``).
PERSONAL_KEYS: Final[Mapping[str, Kind]] = {
    path.rsplit(".", 1)[-1].removesuffix("[]"): kind
    for fields in PERSONAL_FIELDS.values()
    for path, kind in fields.items()
    if kind in SENSITIVE
}
_ALL_PATHS: Final[Mapping[str, Kind]] = {
    path: kind for fields in PERSONAL_FIELDS.values() for path, kind in fields.items()
}


def path_kinds(path: str) -> dict[str, Kind]:
    """The personal paths at or under ``path``, relative to it (``""`` for itself).

    ``applicant.phone`` -> ``{"": PHONE}``; ``applicant`` -> ``{"name": NAME,
    "id_number": ID_NUMBER, "phone": PHONE}``; a path ending in a personal leaf key that
    no event declares (``legal_rep.phone``) is classified by that leaf, to be safe.
    """
    path = _normal(path)
    found = {
        p[len(path) :].lstrip("."): kind
        for p, kind in _ALL_PATHS.items()
        if p == path or p.startswith(path + ".")
    }
    if not found and (leaf := path.rsplit(".", 1)[-1]) in PERSONAL_KEYS:
        found[""] = PERSONAL_KEYS[leaf]
    return found


def mask_value(value: str) -> str:
    """Keep the first 3 and last 4 characters of a long value; hide all of a short one."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


@dataclass
class Masking:
    """One rendering for one role: masks, and counts what it showed in full or hid."""

    role: str
    revealed: int = 0
    masked: int = 0
    _full: frozenset[Kind] = field(init=False)

    def __post_init__(self) -> None:
        self._full = frozenset(k for k, roles in FULL_VIEW.items() if self.role in roles)

    def sees(self, kind: Kind) -> bool:
        return kind in self._full

    def value(self, value: Any, kind: Kind) -> Any:
        """One personal value as this role may see it."""
        if not isinstance(value, str) or not value or kind not in SENSITIVE:
            return value
        if value in PLACEHOLDERS:
            return value
        if kind in self._full:
            self.revealed += 1
            return value
        self.masked += 1
        return mask_value(value)

    def walk(self, data: Any) -> Any:
        """A copy of a JSON-plain structure with personal values masked for the role."""
        if isinstance(data, list):
            return [self.walk(v) for v in data]
        if not isinstance(data, dict):
            return data
        corrects = next((p for k in CORRECTION_PATHS if isinstance(p := data.get(k), str)), None)
        correction = corrects is not None and any(k in data for k in CORRECTION_VALUES)
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in HIDDEN_FIELDS:
                continue
            if correction and key in CORRECTION_VALUES:
                out[key] = self.corrected(str(corrects), value)
            elif key in PERSONAL_KEYS and isinstance(value, str):
                out[key] = self.value(value, PERSONAL_KEYS[key])
            else:
                out[key] = self.walk(value)
        return out

    def corrected(self, path: str, value: Any) -> Any:
        """A corrected value, classified by the path it corrects."""
        kinds = path_kinds(path)
        if not kinds:
            return self.walk(value)
        if "" in kinds:
            return self.value(value, kinds[""])
        nested = value
        if isinstance(value, str):
            try:
                nested = json.loads(value)
            except ValueError:
                nested = None
        if isinstance(nested, dict):
            masked = self.walk(nested)
            return masked if not isinstance(value, str) else json.dumps(masked, ensure_ascii=False)
        # Not readable as the composite it corrects: show it only to a role that sees
        # every kind the composite holds.
        sensitive = {k for k in kinds.values() if k in SENSITIVE}
        if all(self.sees(k) for k in sensitive):
            self.revealed += bool(sensitive) and bool(value)
            return value
        self.masked += 1
        return mask_value(value) if isinstance(value, str) else None


def mask_for(data: Any, role: str) -> Any:
    """A copy of ``data`` with personal values masked for ``role``."""
    return Masking(role).walk(data)


def personal_paths() -> Iterator[tuple[str, str, Kind]]:
    """Every (event type, path, kind) of the table (what the leak scan covers)."""
    for event_type, fields in PERSONAL_FIELDS.items():
        for path, kind in fields.items():
            yield event_type, path, kind


def personal_values(event_type: str, data: Any) -> Iterator[tuple[str, Kind, Any]]:
    """(path, kind, value) of every personal value in one event's plain data (a
    ``Corrected`` event's values by the class of the fact they correct)."""
    for path, kind in PERSONAL_FIELDS.get(event_type, {}).items():
        yield from _at(path.split("."), data, path, kind)
    fact = next((data.get(k) for k in CORRECTION_PATHS if isinstance(data.get(k), str)), None)
    kinds = path_kinds(str(fact)) if event_type.endswith(".Corrected") and fact else {}
    for key in ("wrong_value", "correct_value") if kinds else ():
        yield f"{fact} ({key})", kinds.get("", Kind.NAME), data.get(key)


def _at(parts: list[str], data: Any, path: str, kind: Kind) -> Iterator[tuple[str, Kind, Any]]:
    if not parts:
        if isinstance(data, str) and data:
            yield path, kind, data
        return
    head = parts[0].removesuffix("[]")
    value = data.get(head) if isinstance(data, dict) else None
    if parts[0].endswith("[]") and isinstance(value, list):
        for item in value:
            yield from _at(parts[1:], item, path, kind)
    elif value is not None:
        yield from _at(parts[1:], value, path, kind)
