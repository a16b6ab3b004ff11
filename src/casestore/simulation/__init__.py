"""Building blocks of the simulator (``casestore simulate``): people, working time, case plans.

The entry point is :func:`casestore.simulate.run_simulation`; this package holds its
parts: :mod:`.world` (staff roster, applicants, item popularity, office hours on the
official calendar), :mod:`.anomalies` (the seeded share of every supervision rule
S01–S15), :mod:`.plans` (one case's whole life as time-stamped steps) and
:mod:`.seeded` (a :class:`~casestore.service.CaseService` whose ids, case numbers and
query codes come from the seeded random generator, so a seed fixes the whole history).
"""
