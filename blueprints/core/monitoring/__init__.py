"""Monitoring: what the admin sees of the figures core/perf/ records.

report: figures per endpoint over a window, slowest requests, slow statements, N+1 detections;
dbinfo: the connection pool, tables, pg_stat_statements, EXPLAIN, Redis and the health check;
page and svg: the performance page's data and charts; prometheus: the /metrics text;
reset: clearing the statistics (audited).

May import: core/perf/ (its store, buffer, histogram and SQL normaliser), core's shared modules
(cache, database, errors, audit, operations' unit of work) and models. Never a blueprint view module.
"""
