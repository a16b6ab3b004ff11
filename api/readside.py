"""The API's window on the read side (``casestore.projections``): positions, views, clocks.

Routes never touch projection tables: they call this module, which opens one
:class:`ViewDB` per process and hands out the projections' own query helpers. A view
whose projection has not been built yet answers 503 (``unavailable``) naming the
command that builds it, never 500. ``target`` selects a named copy built beside the
live view (``casestore project rebuild NAME --until TIME --target T``): the same
query, as the view stood then. With ``replica`` the views are read from a read-only
copy of the database (a PostgreSQL hot standby fed by streaming replication from the
primary, where the workers write them); the log itself is still read on the primary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from casestore.projections.engine.base import check_target, physical
from casestore.projections.engine.db import ViewDB
from casestore.projections.engine.parking import parked_events
from casestore.projections.facts.casefacts import CaseFacts
from casestore.projections.readmodels.access import AccessView
from casestore.projections.readmodels.audit import AuditView
from casestore.projections.readmodels.awards import AwardView
from casestore.projections.readmodels.bundles import BundleView
from casestore.projections.readmodels.case_status.projection import CaseStatusView
from casestore.projections.readmodels.compliance.projection import (
    ComplianceView,
    case_clocks,
    valid_pauses,
)
from casestore.projections.readmodels.enquiries import EnquiryView
from casestore.projections.readmodels.evaluation import EvaluationView
from casestore.projections.readmodels.supervision.projection import SupervisionView
from casestore.projections.readmodels.windows import WindowView

from casestore.domain import Case
from casestore.domain.errors import InvalidCommand, NotFound
from casestore.service import CaseService
from casestore.timelimits import ClockConfig, ClockError, WorkingCalendar, compute_clock

from .problems import ApiProblem

V = TypeVar("V")
_DECISION_KINDS = ("promised", "statutory", "decision.promised", "decision.statutory")


class ReplicaViewDB(ViewDB):
    """Views on a read-only copy (a hot standby): nothing is created, only read."""

    def ensure_tracking(self) -> None:
        """The workers created the tracking table on the primary; the standby has it."""


class ReadSide:
    """Projection positions and queries for one database."""

    def __init__(
        self,
        db_url: str,
        service: CaseService,
        calendar: WorkingCalendar,
        config: ClockConfig,
        *,
        replica: bool = False,
    ) -> None:
        self.db_url = db_url
        self.replica = replica
        self.service = service
        self.calendar = calendar
        self.config = config
        self._db: ViewDB | None = None
        self._lock = threading.Lock()
        self._built: set[str] = set()

    @property
    def db(self) -> ViewDB:
        """The views' database (opened on first use)."""
        with self._lock:
            if self._db is None:
                self._db = (ReplicaViewDB if self.replica else ViewDB)(self.db_url)
            return self._db

    def close(self) -> None:
        """Release connections."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- positions ----------------------------------------------------------------------

    def positions(self) -> tuple[int, Mapping[str, int]]:
        """(log head, {projection: applied position of its live view})."""
        head, _ = self.service.head()
        rows = self.db.all_tracking()
        return head, {r.projection: r.position for r in rows if r.kind == "live"}

    def replica_status(self, head: int | None) -> dict[str, Any] | None:
        """When views are read from a copy (``CASESTORE_READ_DB``): how far behind the
        primary it is, in log positions (exact) and in seconds since it replayed its last
        transaction (grows while the primary is idle too); None otherwise."""
        if not self.replica or self.db.backend != "postgres":
            return None
        row = self.db.rows(
            "SELECT pg_is_in_recovery() AS standby, "
            "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age, "
            "(SELECT max(notification_id) FROM casestore_events) AS position"
        )[0]
        position = int(row["position"] or 0)
        age = row["replay_age"]
        return {
            "standby": bool(row["standby"]),
            "position": position,
            "lag": max((head or position) - position, 0),
            "seconds_since_replay": None if age is None else round(float(age), 3),
        }

    def parked(self) -> dict[str, list[int]]:
        """{projection: positions of events its live view parked} (degraded views only)."""
        out: dict[str, list[int]] = {}
        for p in parked_events(self.db):
            if p.key == p.projection:  # the live view (named targets have name__target)
                out.setdefault(p.projection, []).append(p.position)
        return out

    def _require(self, projection: str, target: str) -> None:
        """503 unless the projection's (live or named) view exists."""
        try:
            check_target(target)
        except InvalidCommand as e:
            raise ApiProblem("validation-error", e.message) from None
        key = physical(projection, target)
        if key in self._built:
            return
        if self.db.tracking(key) is None:
            if target:
                raise NotFound(f"no view {projection} target {target!r} has been built")
            raise ApiProblem(
                "unavailable",
                f"the {projection} view has not been built yet; run `casestore project run` "
                "(or `casestore serve` with embedded workers)",
                projection=projection,
            )
        self._built.add(key)

    def _view(self, projection: str, target: str, make: Callable[[ViewDB, str], V]) -> V:
        self._require(projection, target)
        return make(self.db, target)

    # -- views --------------------------------------------------------------------------

    def case_status(self, target: str = "") -> CaseStatusView:
        return self._view("case_status", target, CaseStatusView)

    def audit(self, target: str = "") -> AuditView:
        return self._view("audit", target, AuditView)

    def access(self, target: str = "") -> AccessView:
        return self._view("access", target, AccessView)

    def compliance(self, target: str = "") -> ComplianceView:
        return self._view(
            "compliance",
            target,
            lambda db, t: ComplianceView(db, t, calendar=self.calendar, config=self.config),
        )

    def supervision(self, target: str = "") -> SupervisionView:
        return self._view("supervision", target, SupervisionView)

    def evaluation(self, target: str = "") -> EvaluationView:
        return self._view("evaluation", target, EvaluationView)

    def enquiries(self, target: str = "") -> EnquiryView:
        return self._view("enquiries", target, EnquiryView)

    def awards(self, target: str = "") -> AwardView:
        self._require("evaluation", target)  # candidates read the evaluation view beside it
        return self._view("awards", target, AwardView)

    def windows(self, target: str = "") -> WindowView:
        return self._view("windows", target, WindowView)

    def bundles(self, target: str = "") -> BundleView:
        return self._view(
            "bundles",
            target,
            lambda db, t: BundleView(db, t, calendar=self.calendar, config=self.config),
        )

    # -- one case's clocks, exact at any moment ------------------------------------------

    def event_positions(self, case_id: UUID, upto_version: int) -> list[int]:
        """The log position of each of a case's events 1..upto_version.

        From the audit timeline where it has them; a version it has not applied yet
        (lag, or no projection) is found by bisecting the log on ``version_at_position``.
        """
        known: dict[int, int] = {}
        try:
            timeline = self.audit().timeline(str(case_id), limit=upto_version)
            known = {int(r["version"]): int(r["position"]) for r in timeline}
        except (ApiProblem, NotFound):
            pass
        head, _ = self.service.head()
        out: list[int] = []
        low = 0
        for version in range(1, upto_version + 1):
            position = known.get(version)
            if position is None:
                position = self._bisect(case_id, version, low, head)
            out.append(position)
            low = position
        return out

    def _bisect(self, case_id: UUID, version: int, low: int, high: int) -> int:
        """The smallest position in (low, high] at which the case reached ``version``."""
        while high - low > 1:
            mid = (low + high) // 2
            if self.service.version_at_position(case_id, mid) >= version:
                high = mid
            else:
                low = mid
        return high

    def clocks(self, case: Case, events: Sequence[Any], today: date) -> dict[str, Any]:
        """Every clock of a case after ``events`` on ``today``, the compliance rules applied
        (only valid pauses and extensions move deadlines), each due date explained."""
        positions = self.event_positions(case.id, len(events))
        facts = CaseFacts.fold(str(case.id), list(zip(events, positions, strict=True)))
        fallback = None
        if facts.limits is None:
            try:
                fallback = self.service.item(case.item_code).limits()
            except NotFound:
                fallback = None
        clocks = case_clocks(facts, self.calendar, today, self.config, fallback)
        view: dict[str, Any] = clocks.to_dict()
        limits = facts.limits or fallback
        pauses = valid_pauses(facts, limits) if limits else []
        for name in ("acceptance", "promised", "statutory", "delivery", "bad_review", "follow_up"):
            clock = getattr(clocks, name)
            if clock is not None and view.get(name):
                view[name]["explanation"] = self._explain(clock, pauses, today)
        for n, clock in enumerate(clocks.surveys):
            view["surveys"][n]["explanation"] = self._explain(clock, [], today)
        view.update(case_id=str(case.id), case_no=case.case_no, version=case.version)
        return view

    def _explain(self, clock: Any, pauses: Sequence[Any], today: date) -> dict[str, Any] | None:
        """Start, counted and excluded days (with reasons) and the calendar behind a due date."""
        try:
            result = compute_clock(
                clock.start,
                clock.days,
                self.calendar,
                suspensions=pauses if clock.kind in _DECISION_KINDS else (),
                as_of=clock.done.on if clock.done is not None else today,
                kind=clock.kind,
                extension_days=clock.extension_days,
            )
        except ClockError:
            return None
        if result.due != clock.due:  # never show an explanation of a different deadline
            return None
        explained: dict[str, Any] = result.to_dict()
        # The clock's own article and rules (joint Art. 42 ¶2, office hours, Art. 203 …).
        explained.update(article=clock.article or result.article, notes=list(clock.notes))
        return explained
