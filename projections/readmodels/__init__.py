"""Read models: one module or small package each, registered in :mod:`..runtime.registry`.

Each defines ``PROJECTION`` (a :class:`~casestore.projections.engine.base.Projection`) and
a view class for queries. ``hallboard`` is the exception: the hall board's open cases,
folded in memory by the API process (clocks read on today, closed cases dropped), not
stored and not registered.
"""
