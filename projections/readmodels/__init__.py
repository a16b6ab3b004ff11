"""Read models: one module or small package each, registered in :mod:`..runtime.registry`.

Each defines ``PROJECTION`` (a :class:`~casestore.projections.engine.base.Projection`) and
a view class for queries.
"""
