"""Clock thresholds as configuration (JSON file and/or environment), never hard-coded."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

CONFIG_ENV = "CASESTORE_CLOCK_CONFIG"
"""Environment variable naming a JSON file of clock settings."""

ENV_PREFIX = "CASESTORE_CLOCK_"
"""Each field can also be set as ``CASESTORE_CLOCK_<FIELD>``, e.g. ``..._YELLOW_THRESHOLD=2``."""


class ClockConfigError(ValueError):
    """A clock setting is unknown or not a non-negative integer."""


@dataclass(frozen=True)
class ClockConfig:
    """Configurable clock settings (SPEC §4). Legal limits fixed by statute live in rules.py.

    - ``yellow_threshold``: a clock is ``yellow`` when its remaining promised working days
      are at or below this (default 1), ``red`` when overdue.
    - ``acceptance_days``: Art. 32 window to accept / reject / issue a 补正 notice (5).
    - ``delivery_days``: Art. 44 window from an approving decision to delivery (10).
    - ``bad_review_days``: working days to verify and rectify a 差评 (5).
    - ``default_statutory_days`` / ``joint_statutory_days``: Art. 42 defaults (20 / 45)
      used when an item does not state its own statutory limit.
    """

    yellow_threshold: int = 1
    acceptance_days: int = 5
    delivery_days: int = 10
    bad_review_days: int = 5
    default_statutory_days: int = 20
    joint_statutory_days: int = 45

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ClockConfigError(f"clock setting {f.name} must be an integer >= 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ClockConfig:
        """Build from a mapping of field names; unknown names are refused."""
        return cls().with_values(data)

    def with_values(self, data: Mapping[str, Any]) -> ClockConfig:
        """A copy with some settings replaced; unknown names are refused."""
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ClockConfigError(
                f"unknown clock settings {sorted(unknown)}; known: {sorted(known)}"
            )
        return replace(self, **dict(data))

    @classmethod
    def from_json(cls, path: str | Path) -> ClockConfig:
        """Read settings from a JSON object file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ClockConfigError(f"cannot read clock config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ClockConfigError(f"clock config {path} must be a JSON object")
        return cls.from_mapping(data)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> ClockConfig:
        """Defaults, then the JSON file named by ``CASESTORE_CLOCK_CONFIG``, then
        ``CASESTORE_CLOCK_<FIELD>`` variables (environment wins)."""
        env = os.environ if environ is None else environ
        config = cls.from_json(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else cls()
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            try:
                values[f.name] = int(raw)
            except ValueError as exc:
                raise ClockConfigError(
                    f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not an integer"
                ) from exc
        return config.with_values(values)

    def to_dict(self) -> dict[str, int]:
        """The settings as a plain dict (for /health or audit output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
