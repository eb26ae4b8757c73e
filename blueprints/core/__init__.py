"""The shared non-view layers of the app. Not a blueprint: it has no routes and registers none.

It is named core, and sits under blueprints/, because the design card fixes that layout; read it as
"what every blueprint stands on". It holds:
- reads/ and operations/: the read and the write of each domain, file for file (cadets, grades, ...);
- liststate (one list-state object per table request), cache (plain data by domain, named clearers;
  cache_entry and cache_store: its plain-JSON entries and the two Flask-Caching backends it runs on;
  cache_stats: its hit counts; cache_maintenance: its once-a-second thread; outbox: its durable clears;
  outbox_watch: when the outbox needs polling, told by PostgreSQL's LISTEN/NOTIFY),
  fastpath (what the API's and the pages' WSGI fast paths share),
  audit (audit rows), validation, errors, clock, database, extensions, routing (the id converter);
- auth, lockout, security, idempotency, checkin_codes: who is asking and what they may do;
- perf/ (recording request and query timings, a side-car) and monitoring/ (what the dashboard and the
  monitoring endpoints read back from it);
- roster, roster_files, roster_import, seed, cli, assets: roster sheets and their file formats (and the
  .xlsx export), the import, demo data, commands, static fingerprints.

May import: models, grading, and other core modules (reads may not import operations; perf
may not import monitoring). Never a blueprint view module (blueprints.<area>, blueprints.api,
blueprints.pages): the views call core, never the other way.
"""
