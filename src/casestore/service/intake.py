"""Intake: new cases and 一件事 bundles, built unsaved, and the answers to a replay.

:meth:`IntakeMixin.open_case` and :meth:`IntakeMixin.open_bundle` draw the ids,
case numbers and query codes (from :class:`Draws`, seeded in a simulation) and return
the new aggregates with their pending events; the message loop appends them, the
simulator batches them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from casestore.domain import Bundle, Case, ConcurrencyConflict, NotFound
from casestore.domain.index import CaseNumber
from casestore.domain.roles import check_permission
from casestore.domain.values import local_date
from casestore.querycode import QueryPeppers, legacy_hash
from casestore.service.commands import SubmitBundle, SubmitCase
from casestore.service.results import (
    BundleSubmission,
    ChildCase,
    NewBundle,
    NewCase,
    Submission,
)
from casestore.store.batch import Duplicate

if TYPE_CHECKING:
    from casestore.domain import BundleDefinition, Item
    from casestore.store.application import CasestoreApp

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def query_code_hash(case_id: UUID, code: str) -> str:
    """The wave-1 stored form ``sha256(case_id ‖ code)``: only old cases in the log carry
    it (they still verify); new codes are digested by :class:`QueryPeppers`."""
    return legacy_hash(case_id, code)


class Draws:
    """Where new ids, case-number suffixes and query codes come from.

    Cryptographic randomness by default; a simulator passes a seeded one so a history
    is a function of its seed.
    """

    def uuid(self) -> UUID:
        return uuid4()

    def case_suffix(self) -> str:
        return "".join(secrets.choice(CROCKFORD) for _ in range(6))

    def query_code(self) -> str:
        return f"{secrets.randbelow(10**6):06d}"


class IntakeMixin:
    """Builds new cases and bundles for :class:`~casestore.service.CaseService`."""

    app: CasestoreApp
    clock: Callable[[], datetime]
    draws: Draws
    bureau_prefix: str
    peppers: QueryPeppers

    if TYPE_CHECKING:

        def item(self, code: str, *, fresh: bool = False) -> Item: ...

        def bundle_definition(self, code: str) -> BundleDefinition: ...

    def open_case(self, command: SubmitCase) -> NewCase:
        """A new case and its case-number index, not saved (role and item checked)."""
        check_permission(command.action, command.actor)
        self.item(command.item_code)
        return self._new_case(command, None)

    def open_bundle(self, command: SubmitBundle) -> NewBundle:
        """A bundle and a new case per item of its definition, not saved."""
        check_permission(command.action, command.actor)
        definition = self.bundle_definition(command.bundle_code)
        spec = definition.spec
        for code in definition.items:
            self.item(code)
        bundle_id = self.draws.uuid()
        children = [
            self._new_case(
                SubmitCase(
                    actor=command.actor,
                    item_code=code,
                    applicant=command.applicant,
                    channel=command.channel,
                    materials=list(command.materials),
                ),
                bundle_id,
            )
            for code in definition.items
        ]
        bundle = Bundle.open(
            bundle_id=bundle_id,
            code=command.bundle_code,
            name=spec["name"],
            applicant=command.applicant,
            children={child.case.item_code: child.case.id for child in children},
            promised_days=int(spec.get("promised_days", 0)),
            actor=command.actor,
            at=self.clock(),
        )
        return NewBundle(bundle, children)

    def _new_case(self, command: SubmitCase, bundle_id: UUID | None) -> NewCase:
        at = self.clock()
        case_id = self.draws.uuid()
        case_no = f"{self.bureau_prefix}{local_date(at):%Y%m%d}{self.draws.case_suffix()}"
        code = self.draws.query_code()
        case = Case.submit(
            case_id=case_id,
            case_no=case_no,
            query_code_hash=self.peppers.digest(case_id, code),
            item_code=command.item_code,
            applicant=command.applicant,
            agent=command.agent,
            channel=command.channel,
            extended_hours=command.extended_hours,
            appointment_id=command.appointment_id,
            receiving_region=command.receiving_region,
            handling_region=command.handling_region,
            materials=list(command.materials),
            bundle_id=bundle_id,
            priority=getattr(command, "priority", False),
            actor=command.actor,
            at=at,
            occurred_at=command.occurred_at,
        )
        return NewCase(case, CaseNumber.register(case_no, case_id, command.actor, at), code)

    def _submission_of(self, dup: Duplicate) -> Submission:
        """The first submission under an idempotency key (its key may name the number index).

        The query code is not returned again: only its hash is stored.
        """
        case_id, version = dup.originator_id, dup.version
        try:
            index = self.app.get(CaseNumber, case_id)
        except NotFound:
            pass
        else:
            assert index.case_id is not None
            case_id, version = index.case_id, 1
        case = self.app.get(Case, case_id, version=version)
        return Submission(case.id, version, dup.position, duplicate=True, case_no=case.case_no)

    @staticmethod
    def _bundle_submission(new: NewBundle, position: int) -> BundleSubmission:
        return BundleSubmission(
            bundle_id=new.bundle.id,
            position=position,
            children={
                child.case.item_code: ChildCase(child.case.id, child.case.case_no, child.query_code)
                for child in new.children
            },
        )

    def _bundle_replay(self, dup: Duplicate) -> BundleSubmission:
        """The first intake's answer, from the aggregate its idempotency key names (the
        bundle, a child case or a child's case-number index: all saved together)."""
        bundle_id: UUID | None
        try:
            bundle_id = self.app.get(Bundle, dup.originator_id).id
        except NotFound:
            try:
                case = self.app.get(Case, dup.originator_id, version=1)
            except NotFound:
                index = self.app.get(CaseNumber, dup.originator_id)
                assert index.case_id is not None
                case = self.app.get(Case, index.case_id, version=1)
            bundle_id = case.bundle_id
        if bundle_id is None:
            raise ConcurrencyConflict("the idempotency key was used for another kind of command")
        bundle = self.app.get(Bundle, bundle_id)
        children = {
            code: ChildCase(child, self.app.get(Case, child, version=1).case_no)
            for code, child in bundle.children.items()
        }
        return BundleSubmission(bundle.id, dup.position, duplicate=True, children=children)
