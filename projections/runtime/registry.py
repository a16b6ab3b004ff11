"""The one list of projections: adding one is a new module plus its name here.

Each listed module defines ``PROJECTION``, an instance of
:class:`casestore.projections.engine.base.Projection`. Modules still being written by
another engineer may be absent from a checkout; such a name is skipped (only when
the module itself is missing: an import error inside an existing module is raised).
"""

from __future__ import annotations

import importlib
from typing import Any

from casestore.domain.errors import NotFound

from ..engine.base import Projection

#: Registration order is also the order workers start and ``status`` lists them.
PROJECTION_MODULES: tuple[str, ...] = (
    "case_status",
    "audit",
    "ledger",
    "compliance",
    "supervision",
    "evaluation",
    "bundles",
    "enquiries",
    "windows",
    "awards",
    "access",
)


def _load(module: str) -> Projection[Any] | None:
    qualified = f"casestore.projections.readmodels.{module}"
    try:
        mod = importlib.import_module(qualified)
    except ModuleNotFoundError as e:
        if e.name == qualified:
            return None
        raise
    projection = getattr(mod, "PROJECTION", None)
    if not isinstance(projection, Projection):
        raise TypeError(f"{qualified} defines no PROJECTION (a Projection instance)")
    return projection


def all_projections() -> list[Projection[Any]]:
    """Every registered projection that is present, in registration order."""
    found = [_load(m) for m in PROJECTION_MODULES]
    return [p for p in found if p is not None]


def get_projection(name: str) -> Projection[Any]:
    """A registered projection by name, or :class:`NotFound` naming the known ones."""
    projections = all_projections()
    for projection in projections:
        if projection.name == name:
            return projection
    known = ", ".join(p.name for p in projections)
    raise NotFound(f"no projection {name!r} (known: {known})")


def select(names: list[str] | None) -> list[Projection[Any]]:
    """The named projections (all when ``names`` is empty), refusing unknown names."""
    if not names:
        return all_projections()
    return [get_projection(n) for n in dict.fromkeys(names)]
