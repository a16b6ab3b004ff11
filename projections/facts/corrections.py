"""Bitemporal corrections (issue 15): a ``Corrected`` event amends one named fact of a case.

One copy of the rule, used by every rendering of a case that shows a correctable fact: the
API's case page (``api/views.py``) and the printed notices (``projections/reports/notices.py``).
It reads only the events it is given, so a rendering as of before a correction (fewer
events) shows what was known then, and one after it the corrected value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from casestore.plain import to_plain


def corrections(events: Sequence[Any]) -> list[dict[str, Any]]:
    """Every ``Corrected`` event among ``events``: which fact, from what to what, who and why.

    ``link`` reads the case's events up to the correction (it is the last of them).
    """
    return [
        {
            "fact": e.fact,
            "value": e.correct_value,
            "was": e.wrong_value,
            "corrects_version": e.corrects_version,
            "version": e.originator_version,
            "by": to_plain(e.actor),
            "reason": e.reason,
            "recorded_at": e.timestamp.isoformat(),
            "link": f"/cases/{e.originator_id}/events?version={e.originator_version}",
        }
        for e in events
        if type(e).__name__ == "Corrected"
    ]


def apply_corrections(view: dict[str, Any], events: Sequence[Any]) -> dict[str, Any]:
    """The view with each corrected fact at its corrected value (bitemporal: only the
    corrections among ``events``, so a view as of before a correction shows the old value).

    A fact is a dotted path into the view (``applicant.phone``, ``materials``); each one
    corrected is marked in ``corrected`` with the correction and its link. A fact the view
    does not show is still listed there (``shown: false``): nothing is silently dropped.
    """
    marked: dict[str, Any] = {}
    for fix in corrections(events):
        *parents, leaf = fix["fact"].split(".")
        node: Any = view
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        shown = isinstance(node, dict) and leaf in node and leaf != "corrected"
        if shown and isinstance(node[leaf], list):
            items = [v for v in node[leaf] if v != fix["was"]]
            node[leaf] = [*items, fix["value"]] if fix["value"] else items
        elif shown:
            node[leaf] = fix["value"]
        marked[fix["fact"]] = {**fix, "shown": shown}
    view["corrected"] = marked
    return view
