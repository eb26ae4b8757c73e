"""The dashboard's one write: reset the collected performance statistics, with an audit row."""

from __future__ import annotations

from blueprints.core import cache_stats, replicas
from blueprints.core.audit import record_audit
from blueprints.core.monitoring.report import reset_store
from blueprints.core.operations import unit_of_work
from models import User


def reset_statistics(actor: User) -> bool:
    """Audit, then clear request/query statistics and the cache counters; False if Redis was unreachable."""
    with unit_of_work() as session:
        record_audit(session, actor.id, "performance_stats", "DELETE", None,
                     {"action": "reset performance statistics"})
    cleared = reset_store()
    cache_stats.reset_stats()
    replicas.reset_reads()
    return cleared
