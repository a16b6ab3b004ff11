"""Memoised clock arithmetic: :mod:`.rules`' answers, each computed once per calendar.

Every case's clocks are recomputed whenever a projection writes its row, and most of
them ask the same questions: the deadline N working days after one of a few hundred
start days, the working days between two dates. :func:`memoised` wraps a rule so it
answers each question once per :class:`WorkingCalendar` (the memo lives on the calendar,
beside its per-day answers, so it goes when the calendar goes) and reuses the immutable
answer; the wrapper keeps the rule's own signature (``ParamSpec``), so :mod:`.rules` is
the one place it is written and stays the source of truth. The memo is bounded: past
``LIMIT`` entries it is emptied and starts again. Used by the read side's clock facts
(``projections/facts``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from casestore.timelimits import rules
from casestore.timelimits.calendar import WorkingCalendar

LIMIT = 200_000

P = ParamSpec("P")
R = TypeVar("R")


def _cache(cal: WorkingCalendar) -> dict[Any, Any]:
    cache = cal.memo
    if len(cache) > LIMIT:
        cache.clear()
    return cache


def memoised(
    fn: Callable[P, R],
    *,
    calendar: str = "cal",
    freeze: tuple[str, ...] = (),
    ignore: Callable[[Mapping[str, Any]], Collection[str]] | None = None,
) -> Callable[P, R]:
    """``fn``, answered once per distinct question on the calendar its parameter
    ``calendar`` names (``functools.cache``-style, with ``fn``'s signature).

    The question is every other argument, defaults filled in. ``freeze`` names iterable
    parameters turned into tuples before the call (so a list or a generator is hashable
    and consumed once); ``ignore(arguments)`` names parameters that cannot change the
    answer for these arguments, left out of the question. An argument that cannot be
    hashed is answered without the memo. A ``None`` answer is never kept."""
    params = inspect.signature(fn).parameters
    named = {inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY}
    names = tuple(params)
    if any(p.kind not in named for p in params.values()) or not {calendar, *freeze} <= {*names}:
        raise TypeError(f"cannot memoise {fn.__qualname__}: named parameters only, one {calendar}")
    size = len(names)
    defaults = {n: p.default for n, p in params.items() if p.default is not p.empty}
    asked = tuple(n for n in names if n != calendar)
    tag = f"{fn.__module__}.{fn.__qualname__}"
    call = cast(Callable[..., R], fn)

    @functools.wraps(fn)
    def answer(*args: P.args, **kwargs: P.kwargs) -> R:
        given = defaults.copy()
        given.update(zip(names, args, strict=False))
        given.update(kwargs)
        if len(given) != size:
            return fn(*args, **kwargs)  # a wrong call (mypy refuses it): let ``fn`` say so
        for name in freeze:
            if type(given[name]) is not tuple:
                given[name] = tuple(given[name])
        if ignore is None:
            key = (tag, *map(given.__getitem__, asked))
        else:
            left_out = ignore(given)
            key = (tag, *[None if n in left_out else given[n] for n in asked])
        cache = _cache(given[calendar])
        try:
            result: R | None = cache.get(key)
        except TypeError:  # an unhashable argument: compute without the memo
            return call(**given)
        if result is None:
            result = cache[key] = call(**given)
        return result

    return answer


def _as_of_without_suspensions(given: Mapping[str, Any]) -> Collection[str]:
    # Without suspensions ``as_of`` changes nothing (it only bounds open suspensions).
    return () if given["suspensions"] else ("as_of",)


compute_clock = memoised(
    rules.compute_clock, freeze=("suspensions", "notes"), ignore=_as_of_without_suspensions
)
""":func:`.rules.compute_clock`, answered once per distinct question."""

remaining_working_days = memoised(rules.remaining_working_days)
""":func:`.rules.remaining_working_days`, answered once per distinct question."""

working_days_used = memoised(rules.working_days_used, freeze=("suspensions",))
""":func:`.rules.working_days_used`, answered once per distinct question."""
