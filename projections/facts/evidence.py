"""Evidence of the read side: the :class:`Stamp` of one event and the small facts made of stamps.

A stamp says where an event is in the log (position, version), when it was recorded
(server clock), what business time it claims (``occurred_at``, or None), and who did
it. The records below (a pause, an extension, a survey …) each keep the stamps of the
events they come from, so every derived clock or flag can name its evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from casestore.domain.values import local_date
from casestore.plain import to_plain
from casestore.timeutil import from_micros


@dataclass(frozen=True, slots=True)
class Stamp:
    """Evidence of one event: where it is in the log, when, and who."""

    position: int
    version: int
    recorded_at: datetime
    occurred_at: datetime | None = None
    staff: str = ""
    role: str = ""
    window: str = ""
    #: Imported history: the legacy system's own entry time (None: it gave none).
    claimed_recorded_at: datetime | None = None
    imported: bool = False

    @property
    def at(self) -> datetime:
        """Business time: the claimed ``occurred_at`` when given, else ``recorded_at``."""
        return self.occurred_at or self.recorded_at

    @property
    def on(self) -> date:
        """Business date in the bureau's time zone."""
        return local_date(self.at)

    @property
    def backdated_seconds(self) -> float:
        """How long after the claimed time the event was entered (0 when not claimed).

        For imported history "entered" is the legacy system's own entry time, never the
        import's: the import lag is not back-dating (S06). An import that gives no legacy
        entry time claims nothing to compare.
        """
        if self.occurred_at is None:
            return 0.0
        entered = self.claimed_recorded_at if self.imported else self.recorded_at
        if entered is None:
            return 0.0
        return (entered - self.occurred_at).total_seconds()

    def to_list(self) -> list[Any]:
        """Compact JSON form."""
        occurred = self.occurred_at.isoformat() if self.occurred_at else None
        compact = [
            self.position,
            self.version,
            self.recorded_at.isoformat(),
            occurred,
            self.staff,
            self.role,
            self.window,
        ]
        if self.imported:  # only then: live stamps keep their seven-item form
            entered = self.claimed_recorded_at
            compact += [entered.isoformat() if entered else None, True]
        return compact

    @classmethod
    def from_list(cls, raw: list[Any]) -> Stamp:
        """Inverse of :meth:`to_list`."""
        pos, ver, rec, occ, staff, role, window = raw[:7]
        occurred = datetime.fromisoformat(occ) if occ else None
        stamp = cls(pos, ver, datetime.fromisoformat(rec), occurred, staff, role, window)
        if len(raw) > 7:
            entered = datetime.fromisoformat(raw[7]) if raw[7] else None
            stamp = replace(stamp, claimed_recorded_at=entered, imported=bool(raw[8]))
        return stamp


_SET = tuple(Stamp.__dict__[f.name].__set__ for f in fields(Stamp))


def _stamp(
    position: int,
    version: int,
    recorded_at: datetime,
    occurred_at: datetime | None,
    staff: str,
    role: str,
    window: str,
) -> Stamp:
    """``Stamp(position, version, recorded_at, occurred_at, staff, role, window)`` of a
    live (not imported) event, built without the frozen dataclass's ``__init__``."""
    stamp: Stamp = object.__new__(Stamp)
    p, v, r, o, s, ro, w, c, i = _SET
    p(stamp, position)
    v(stamp, version)
    r(stamp, recorded_at)
    o(stamp, occurred_at)
    s(stamp, staff)
    ro(stamp, role)
    w(stamp, window)
    c(stamp, None)
    i(stamp, False)
    return stamp


def stamp_list(stamp: Stamp | None) -> list[Any] | None:
    """:meth:`Stamp.to_list`, or None for no stamp."""
    return stamp.to_list() if stamp else None


def stamp_from(raw: list[Any] | None) -> Stamp | None:
    """Inverse of :func:`stamp_list`."""
    return Stamp.from_list(raw) if raw else None


Getter = Callable[[str], Any]
"""A field of an event as plain JSON (dates and times as ISO text, value objects as dicts)."""


#: The fields of a stored event every stamp reads (is it imported, and when the legacy
#: system entered it), beside who and when: named in every narrow decode of
#: :func:`read_event`.
STAMP_FIELDS = ("import_batch", "claimed_recorded_at")


def read_event(
    event: Any,
    position: int | None = None,
    narrow: Mapping[str, Callable[[bytes], Any]] | None = None,
) -> tuple[str, Stamp, Getter]:
    """(event name, evidence stamp, plain field getter) of a domain event or a runtime
    ``LogEvent`` (which carries ``recorded_at_us``, ``actor()`` and ``plain()``).

    ``narrow``: event name -> a :func:`~casestore.projections.engine.events.narrow_decoder`
    of :data:`STAMP_FIELDS` and the fields the caller's fold reads of that kind; a
    ``LogEvent`` of such a kind is then read from that narrow decode
    (``LogEvent.fields``), and from its whole decode exactly when the narrow one cannot
    say (an upcaster applies, a field is absent, a shape it does not know). The getter
    gives the same values either way (a name the decoder was not given included)."""
    if hasattr(event, "recorded_at_us"):
        # The hot path of every facts projection's rebuild (once per event): positional
        # arguments and the slots set directly (a frozen dataclass's keyword __init__
        # costs about three times as much), the same Stamp as the keyword form.
        decode = None if narrow is None else narrow.get(event.type)
        get: Getter
        if decode is not None and (fields := event.fields(decode)) is not None:
            imported = fields["import_batch"] is not None
            get = fields.__getitem__
        else:
            imported = event.raw.get("import_batch") is not None
            get = event.plain
        # who acted: LogEvent.actor, the one reader of a stored actor (its narrow decode,
        # its fallbacks for old or incomplete shapes, cached on the event)
        actor = event.actor()
        occurred = event.occurred_at_us
        stamp = _stamp(
            event.position if position is None else position,
            int(event.version),
            from_micros(event.recorded_at_us),
            None if occurred is None else from_micros(occurred),
            actor["staff_id"],
            actor["role"],
            actor["window"],
        )
        if imported:
            entered = get("claimed_recorded_at")
            stamp = replace(
                stamp,
                claimed_recorded_at=datetime.fromisoformat(entered) if entered else None,
                imported=True,
            )
        return str(event.type), stamp, get
    who = getattr(event, "actor", None)
    stamp = Stamp(
        position=int(position if position is not None else 0),
        version=int(event.originator_version),
        recorded_at=event.timestamp,
        occurred_at=getattr(event, "occurred_at", None),
        staff=getattr(who, "staff_id", ""),
        role=getattr(who, "role", ""),
        window=getattr(who, "window", ""),
        claimed_recorded_at=getattr(event, "claimed_recorded_at", None),
        imported=getattr(event, "import_batch", None) is not None,
    )
    return type(event).__name__, stamp, lambda name: to_plain(getattr(event, name, None))


@dataclass(frozen=True, slots=True)
class Pause:
    """An Art. 45 suspension (特别程序): kind, start, and resumption when there is one."""

    kind: str
    start: Stamp
    end: Stamp | None = None
    notified_at: datetime | None = None
    """When the Art. 45 written notice was given (None: not recorded)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """An extension (延长审批) as recorded, valid or not."""

    stamp: Stamp
    days: int


@dataclass(frozen=True, slots=True)
class SurveyPlan:
    """A scheduled site survey and its time limit (working days)."""

    stamp: Stamp
    days: int


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    """A joint survey conclusion with its participants as (name, party, staff id)."""

    stamp: Stamp
    conclusion: str
    participants: tuple[tuple[str, str, str], ...]

    @property
    def staff_count(self) -> int:
        """Distinct staff members present."""
        return len({staff for _, _, staff in self.participants if staff})

    @property
    def parties(self) -> frozenset[str]:
        """Parties represented."""
        return frozenset(party for _, party, _ in self.participants)


@dataclass(frozen=True, slots=True)
class Claim:
    """An event entered with a claimed business time (``occurred_at``)."""

    name: str
    stamp: Stamp


@dataclass(frozen=True, slots=True)
class Inversion:
    """An event claiming an earlier time than an event before it in the case (S07)."""

    name: str
    stamp: Stamp
    previous_name: str
    previous: Stamp


@dataclass(frozen=True, slots=True)
class Correction:
    """A 更正 of an earlier event (which itself never changes)."""

    stamp: Stamp
    corrects_version: int
    field: str
