"""Domain model: aggregates, events and invariants (stdlib and eventsourcing.domain only)."""

from casestore.domain.bundle import Bundle
from casestore.domain.case import Case
from casestore.domain.catalogue import BundleDefinition, Item, bundle_definition_id, item_id
from casestore.domain.errors import (
    AlreadyDone,
    CasestoreError,
    ConcurrencyConflict,
    DeadlinePassed,
    Forbidden,
    InvalidCommand,
    NotFound,
    OutOfOrder,
    RuleViolation,
)
from casestore.domain.values import Actor, ItemLimits, Party, SurveyParticipant

__all__ = [
    "Actor",
    "AlreadyDone",
    "Bundle",
    "BundleDefinition",
    "Case",
    "CasestoreError",
    "ConcurrencyConflict",
    "DeadlinePassed",
    "Forbidden",
    "InvalidCommand",
    "Item",
    "ItemLimits",
    "NotFound",
    "OutOfOrder",
    "Party",
    "RuleViolation",
    "SurveyParticipant",
    "bundle_definition_id",
    "item_id",
]
