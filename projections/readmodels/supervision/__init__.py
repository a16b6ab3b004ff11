"""``supervision``: the projection and view (:mod:`.projection`), rules S01–S15 (:mod:`.rules`)."""

from .projection import PROJECTION, SupervisionView

__all__ = ["PROJECTION", "SupervisionView"]
