"""The read side (读模型): projections of the event log, their runtime and their queries.

- :mod:`.engine` the shape every projection shares (:mod:`.engine.base`), tables and
  their DDL (:mod:`.engine.schema`), portable SQL and batch row folds (:mod:`.engine.sql`),
  log events as projections see them (:mod:`.engine.events`) and view storage
  (:mod:`.engine.db`);
- :mod:`.runtime` running projections: exactly-once batches, blue/green rebuilds and time
  travel (:mod:`.runtime.worker`), the ordered log scan (:mod:`.runtime.logsource`), the one
  list of projections (:mod:`.runtime.registry`), live workers with wake-ups and election
  (:mod:`.runtime.live`), positions and lag (:mod:`.runtime.status`) and
  ``casestore project run|rebuild|status`` (:mod:`.runtime.commands`);
- :mod:`.facts` pure folds shared by read models: per-case and per-item facts, evidence
  stamps, every clock of a case and how facts are kept in a projection's table;
- :mod:`.readmodels` one module (or small package) per read model, each with its view class
  for queries (``CaseStatusView(ViewDB(url)).get(case_id)``).

Imports point one way: readmodels -> facts -> engine, runtime -> engine.
"""
