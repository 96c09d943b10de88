"""Reports: progress above one learner, read with SQL from the projections
(``docs/reports.md``). Every report is scoped (:mod:`server.reports.scope`)."""
