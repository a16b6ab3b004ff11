"""Supervision thresholds (SPEC §5 flags S06, S15, ...) as configuration, never hard-coded.

Read from ``CASESTORE_SUPERVISION_CONFIG`` and ``CASESTORE_SUPERVISION_<FIELD>`` by
:class:`casestore.settings.Settings` (``settings.supervision()``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


class SupervisionConfigError(ValueError):
    """A supervision setting is unknown or not a non-negative integer."""


@dataclass(frozen=True)
class SupervisionConfig:
    """Thresholds of the supervision rules (the clock limits themselves are in ClockConfig).

    - ``backdate_seconds``: S06 is raised when an event's ``recorded_at`` is more than this
      many seconds after the ``occurred_at`` it claims (default one day).
    - ``completion_gap_seconds``: S15 is raised when a non-instant case is decided less than
      this many seconds after its acceptance (default 60 s: 受理即办结, 体外循环).
    - ``supplement_notices_allowed``: S04 is raised beyond this many 补正 notices (default 1,
      一次性告知).
    - ``suspension_notice_days``: S17 is raised when an Art. 45 suspension has no written
      notice to the applicant (所需时间书面告知申请人) within this many working days of
      the suspension (default 3; the law sets no number: a local choice, bounded 0..366).

    - ``seal_engraving_price_fen``, ``mailing_price_fen``, ``copying_price_fen``: the
      most the bureau declared it charges an applicant per unit (seal, parcel, page) of
      each 惠民服务, in fen; 0 declares the service free. Defaults: 免费刻章 0, 免费邮寄 0,
      限价复印 50 (0.50 元 a page: a local choice, each bureau sets its own). S19 is raised
      when a recorded charge exceeds units × price.
    """

    backdate_seconds: int = 86_400
    completion_gap_seconds: int = 60
    supplement_notices_allowed: int = 1
    suspension_notice_days: int = 3
    seal_engraving_price_fen: int = 0
    mailing_price_fen: int = 0
    copying_price_fen: int = 50

    def service_price_fen(self, service: str) -> int:
        """The declared price per unit of a 惠民服务 (0: free)."""
        value: int = getattr(self, f"{service}_price_fen")
        return value

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SupervisionConfigError(
                    f"supervision setting {f.name} must be an integer >= 0"
                )

    def with_values(self, data: Mapping[str, Any]) -> SupervisionConfig:
        """A copy with some settings replaced; unknown names are refused."""
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise SupervisionConfigError(
                f"unknown supervision settings {sorted(unknown)}; known: {sorted(known)}"
            )
        return replace(self, **dict(data))

    @classmethod
    def from_json(cls, path: str | Path) -> SupervisionConfig:
        """Read settings from a JSON object file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SupervisionConfigError(f"cannot read supervision config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise SupervisionConfigError(f"supervision config {path} must be a JSON object")
        return cls().with_values(data)

    def to_dict(self) -> dict[str, int]:
        """The settings as a plain dict (recorded with a view so a reader knows its basis)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
