"""The item catalogue (事项目录) as event-sourced aggregates: who changed a limit, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from casestore.domain.errors import InvalidCommand
from casestore.domain.values import Actor, ItemLimits, require, require_text

CASE_TYPES = frozenset({"instant", "promised"})
SPEC_FIELDS = (
    "name",
    "kind",
    "case_type",
    "statutory_days",
    "promised_days",
    "needs_survey",
    "survey_days",
    "joint",
    "materials",
    "pause_kinds",
    "legal_basis",
    "retention_years",
    "survey_needs",
)
#: Optional item fields and their defaults (filled in when an item is published).
OPTIONAL_FIELDS: dict[str, Any] = {"legal_basis": "", "retention_years": 30}
#: Fields an item may leave out: those with defaults, and ``survey_needs`` (what the
#: 踏勘清单 says is inspected; absent means none listed, not stored as an empty list).
MAY_LACK = frozenset({*OPTIONAL_FIELDS, "survey_needs"})
#: 档案 retention: years a closed case's personal data is kept before its subject may be
#: forgotten without a court order (``casestore retention due``); 30 unless the item says.
DEFAULT_RETENTION_YEARS: int = OPTIONAL_FIELDS["retention_years"]


def item_id(code: str) -> UUID:
    """Items are addressed by their 实施编码; the aggregate id derives from it."""
    return uuid5(NAMESPACE_URL, f"casestore:item:{code}")


def check_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate an item's fields; ``promised_days`` above statutory is allowed but flagged (S14)."""
    unknown = set(spec) - set(SPEC_FIELDS)
    require(not unknown, f"unknown item fields {sorted(unknown)}")
    require_text(spec["name"], "name")
    require(spec["case_type"] in CASE_TYPES, "case_type must be instant|promised")
    for key in ("statutory_days", "promised_days", "survey_days"):
        value = spec[key]
        require(
            isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            f"{key} must be a non-negative integer",
        )
    require(isinstance(spec["materials"], list), "materials must be a list")
    require(isinstance(spec["pause_kinds"], list), "pause_kinds must be a list")
    years = spec.get("retention_years", DEFAULT_RETENTION_YEARS)
    require(
        isinstance(years, int) and not isinstance(years, bool) and 1 <= years <= 100,
        "retention_years must be an integer from 1 to 100",
    )
    needs = spec.get("survey_needs", [])
    require(
        isinstance(needs, list)
        and len(needs) <= 50
        and all(isinstance(n, str) and 0 < len(n.strip()) <= 200 for n in needs),
        "survey_needs must be a list of up to 50 non-empty texts (200 characters at most)",
    )
    return spec


class CatalogueEntry(Aggregate):
    """What an item and a bundle definition share: published under a code, revised field
    by field with a reason, each change by an actor.

    Subclasses get their own copies of these event classes (eventsourcing re-creates
    inherited events per aggregate class), so the stored topics stay
    ``casestore.domain.catalogue:Item.Published`` and ``...:BundleDefinition.Revised``.
    """

    class Event(Aggregate.Event):
        actor: Actor
        occurred_at: datetime | None

    class Published(Event, Aggregate.Created):
        code: str
        spec: dict[str, Any]

        def apply(self, entry: CatalogueEntry) -> None:
            entry.code = self.code
            entry.spec = dict(self.spec)

    class Revised(Event):
        changes: dict[str, Any]
        reason: str

        def apply(self, entry: CatalogueEntry) -> None:
            entry.spec = {**entry.spec, **self.changes}

    def __init__(self) -> None:
        self.code = ""
        self.spec: dict[str, Any] = {}

    @staticmethod
    def check(spec: dict[str, Any]) -> dict[str, Any]:
        """The subclass's validation of a whole spec (returns it)."""
        raise NotImplementedError

    @classmethod
    def _publish(
        cls, aggregate_id: UUID, code: str, spec: dict[str, Any], actor: Actor, at: datetime
    ) -> Any:
        return cls._create(
            cls.Published,
            id=aggregate_id,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            code=code,
            spec=cls.check(spec),
        )

    def revise(self, *, changes: dict[str, Any], reason: str, actor: Actor, at: datetime) -> None:
        """Change some fields; a case or bundle already opened keeps what it copied."""
        changed = {k: v for k, v in changes.items() if self.spec.get(k) != v}
        if not changed:
            raise InvalidCommand("the revision changes nothing")
        self.check({**self.spec, **changed})
        self.trigger_event(
            self.Revised,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            changes=changed,
            reason=require_text(reason, "reason"),
        )


class Item(CatalogueEntry):
    """An approval item with its legal and promised time limits."""

    check = staticmethod(check_spec)

    @classmethod
    def publish(cls, *, code: str, spec: dict[str, Any], actor: Actor, at: datetime) -> Item:
        """Publish an item into the catalogue."""
        require_text(code, "code")
        missing = set(SPEC_FIELDS) - set(spec) - MAY_LACK
        require(not missing, f"item {code} lacks {sorted(missing)}")
        item: Item = cls._publish(item_id(code), code, {**OPTIONAL_FIELDS, **spec}, actor, at)
        return item

    @property
    def retention_years(self) -> int:
        """Years a closed case of this item is kept (published before the field: 30)."""
        return int(self.spec.get("retention_years", DEFAULT_RETENTION_YEARS))

    def limits(self) -> ItemLimits:
        """The limits in force now, to be copied into an acceptance."""
        return ItemLimits.from_spec(self.spec, self.version)


BUNDLE_FIELDS = ("name", "items", "statutory_days", "promised_days")


def bundle_definition_id(code: str) -> UUID:
    """A 一件事 bundle definition is addressed by its code; the aggregate id derives from it."""
    return uuid5(NAMESPACE_URL, f"casestore:bundle-definition:{code}")


def check_bundle_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate a bundle definition's fields (its items must exist: the service checks)."""
    unknown = set(spec) - set(BUNDLE_FIELDS)
    require(not unknown, f"unknown bundle fields {sorted(unknown)}")
    missing = set(BUNDLE_FIELDS) - set(spec)
    require(not missing, f"a bundle definition lacks {sorted(missing)}")
    require_text(spec["name"], "name")
    items = spec["items"]
    require(
        isinstance(items, list) and all(isinstance(c, str) and c.strip() for c in items),
        "items must be a list of item codes",
    )
    require(len(set(items)) == len(items) >= 2, "a bundle packages at least two distinct items")
    for key in ("statutory_days", "promised_days"):
        value = spec[key]
        require(
            isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            f"{key} must be a non-negative integer",
        )
    return spec


class BundleDefinition(CatalogueEntry):
    """A 一件事 bundle offered by the catalogue: which items one intake opens."""

    check = staticmethod(check_bundle_spec)

    @classmethod
    def publish(
        cls, *, code: str, spec: dict[str, Any], actor: Actor, at: datetime
    ) -> BundleDefinition:
        """Publish a bundle definition into the catalogue."""
        require_text(code, "code")
        definition: BundleDefinition = cls._publish(
            bundle_definition_id(code), code, dict(spec), actor, at
        )
        return definition

    @property
    def items(self) -> list[str]:
        """The item codes one intake opens a case for, in order."""
        return list(self.spec["items"])
