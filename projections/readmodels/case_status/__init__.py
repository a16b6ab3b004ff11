"""``case_status``: the projection and view (:mod:`.projection`), its pure fold (:mod:`.fold`)."""

from .projection import PROJECTION, CaseStatusView

__all__ = ["PROJECTION", "CaseStatusView"]
