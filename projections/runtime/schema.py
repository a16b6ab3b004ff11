"""The read side's part of ``casestore db migrate`` and ``casestore db grant``.

``migrate_views`` (run as the owner) builds each registered projection's live view from
the log when it is missing or its projection's version moved (blue/green, beside the old
one), with the tracking and parking tables (schema version 2: with the tracking table's
``tree_size``/``tree_root``, filled in for every target whose position the stored tree
has reached), so that workers running as the application role (which may not create
tables) find everything in place. ``stale_views`` names the
views a process would have to rebuild on start: a process refuses to start while there
are any (the rebuild is the upgrade's job). ``view_tables`` lists the tables the
application role maintains.
"""

from __future__ import annotations

from ..engine.db import TRACKING, ViewDB, bind_tree_root
from ..engine.parking import PARKED
from .logsource import LogSource
from .port import EventLog
from .registry import all_projections
from .treebind import frontier_levels, frontier_root
from .worker import rebuild_into


def migrate_views(app: EventLog) -> list[str]:
    """Bring every live view to its code's version; the names of those created or rebuilt."""
    db = ViewDB(app.db_url)
    try:
        before = {row.key: row.version for row in db.all_tracking()}
        source = LogSource(app)
        changed = []
        for projection in all_projections():
            if before.get(projection.name) != projection.version:
                # Built from the whole log beside any old view and swapped in (blue/green),
                # so the workers that start next find it current.
                rebuild_into(source, db, projection)
                changed.append(projection.name)
        bind_roots(app, db)
        return changed
    finally:
        db.close()


def bind_roots(app: EventLog, db: ViewDB) -> int:
    """Record the tree root of every target that has none yet (rows from before schema
    version 2, or ahead of the tree) where the stored tree has reached its position."""
    bound = 0
    for row in db.all_tracking():
        if row.tree_root is not None and row.tree_size == row.position:
            continue
        hashes = app.tree_frontier(row.position)
        levels = frontier_levels(row.position)
        if hashes is None or len(hashes) != len(levels):
            continue
        root = frontier_root(list(zip(levels, hashes, strict=True)))
        bound += bind_tree_root(db, row.key, row.position, root)
    return bound


def stale_views(db_url: str) -> list[str]:
    """Live views whose stored version is not their code's (``name vN, code vM``)."""
    db = ViewDB(db_url)
    try:
        stored = {row.key: row.version for row in db.all_tracking()}
    finally:
        db.close()
    return [
        f"{p.name} v{stored[p.name]}, code v{p.version}"
        for p in all_projections()
        if p.name in stored and stored[p.name] != p.version
    ]


def view_tables(db_url: str) -> list[str]:
    """Every table of the read side in the database: tracking, parking, each target's."""
    db = ViewDB(db_url)
    try:
        rows = db.all_tracking()
    finally:
        db.close()
    names = [TRACKING, PARKED]
    by_name = {p.name: p for p in all_projections()}
    for row in rows:
        projection = by_name.get(row.projection)
        if projection is not None:
            names += list(projection.table_names(row.target).values())
    return sorted(set(names))
