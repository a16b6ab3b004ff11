"""One reading of the ``CI`` flag for every tier: under CI a missing piece (PostgreSQL,
Chromium) is a failure, never a silent skip.

``CI=1``, ``CI=true``, ``CI=True``, ``CI=yes`` and ``CI=on`` all mean CI; unset, empty,
``0``, ``false``, ``no`` and ``off`` do not. Any other value counts as CI too: a flag
someone set on purpose should not quietly skip a tier.
"""

from __future__ import annotations

import os

_OFF = {"", "0", "false", "no", "off"}


def under_ci(environ: dict[str, str] | None = None) -> bool:
    """Whether the ``CI`` variable says this is a CI run."""
    value = (environ if environ is not None else os.environ).get("CI", "")
    return value.strip().lower() not in _OFF
