"""Masking of personal data by role for every view the API renders.

The classification of fields and the role matrix live in the domain
(:mod:`casestore.domain.personal`), declared once beside the event classes; this module
is the API's name for them.
"""

from __future__ import annotations

from typing import Any, Final

from casestore.domain.personal import (
    FULL_VIEW,
    HIDDEN_FIELDS,
    Kind,
    Masking,
    mask_for,
    mask_value,
)

FULL_ID_NUMBER: Final = FULL_VIEW[Kind.ID_NUMBER]
FULL_PHONE: Final = FULL_VIEW[Kind.PHONE]
HIDDEN_KEYS: Final = HIDDEN_FIELDS

__all__ = ["FULL_ID_NUMBER", "FULL_PHONE", "HIDDEN_KEYS", "Masking", "mask_personal", "mask_value"]


def mask_personal(data: Any, role: str) -> Any:
    """A copy of a JSON-plain structure with personal data masked for ``role``."""
    return mask_for(data, role)
