"""The read side (读模型): projections of the event log, their runtime and their queries.

- :mod:`.base` the shape every projection shares (tables, events, apply functions);
- :mod:`.registry` the one list of projections;
- :mod:`.worker` exactly-once batches, blue/green rebuilds, time travel (``rebuild_as_of``);
- :mod:`.runtime` live workers (wake-ups, election, :class:`~.runtime.EmbeddedWorkers`);
- :mod:`.commands` ``casestore project run|rebuild|status``;
- :mod:`.case_status`, :mod:`.audit`, :mod:`.ledger` and the other projection modules,
  each with its view class for queries (``CaseStatusView(ViewDB(url)).get(case_id)``).
"""
