"""``supervision``: the projection and view (:mod:`.projection`), rules S01–S18 (:mod:`.rules`;
S16 is reserved for enquiries)."""

from .projection import PROJECTION, SupervisionView

__all__ = ["PROJECTION", "SupervisionView"]
