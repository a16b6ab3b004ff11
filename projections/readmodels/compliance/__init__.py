"""``compliance``: the projection and view (:mod:`.projection`) and its rows (:mod:`.rows`)."""

from .projection import PROJECTION, ComplianceView

__all__ = ["PROJECTION", "ComplianceView"]
