"""Domain errors: every refused command raises one of these and appends nothing.

The tree (the API maps each leaf to one RFC 9457 problem ``type``)::

    CasestoreError
    ├── InvalidCommand          bad or missing field values (400/422)
    ├── RuleViolation           a business rule refuses the command (409)
    │   ├── OutOfOrder          the case is not at a stage that allows it
    │   ├── AlreadyDone         one decision / one seal / one extension ...
    │   ├── DeadlinePassed      e.g. an extension after the statutory deadline
    │   └── SubjectErased       new personal data for a forgotten subject's old case
    ├── Forbidden               the actor's role may not issue this command (403)
    ├── NotFound                no such case, item or bundle (404)
    └── ConcurrencyConflict     the command was based on a stale version (409/412)
"""

from __future__ import annotations


class CasestoreError(Exception):
    """Base class of every error casestore raises on purpose."""

    code = "casestore-error"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class InvalidCommand(CasestoreError):
    """A command's fields are missing or malformed."""

    code = "invalid-command"


class IdempotencyKeyReused(InvalidCommand):
    """An ``Idempotency-Key`` used before by another staff member, command, target or body:
    replaying the first outcome would answer a different request."""

    code = "idempotency-key-reused"


class RuleViolation(CasestoreError):
    """A business rule of the approval process refuses the command."""

    code = "rule-violation"


class OutOfOrder(RuleViolation):
    """The case is not at a stage where this command is allowed."""

    code = "out-of-order"


class AlreadyDone(RuleViolation):
    """The command may happen once only and already has."""

    code = "already-done"


class DeadlinePassed(RuleViolation):
    """The command came after the legal deadline that bounds it."""

    code = "deadline-passed"


class SubjectErased(RuleViolation):
    """The subject whose key protects this case's personal data has been forgotten
    (``casestore forget``): nothing personal can be added to its cases any more."""

    code = "subject-forgotten"


class Forbidden(CasestoreError):
    """The actor's role may not issue this command."""

    code = "forbidden"


class NotFound(CasestoreError):
    """The case, item or bundle does not exist."""

    code = "not-found"


class ConcurrencyConflict(CasestoreError):
    """The command was decided on a version that is no longer current."""

    code = "conflict"
