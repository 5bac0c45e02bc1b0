"""Background jobs on RQ: enqueued only after the transaction commits, always carrying the tenant.

A job function is called as ``func(*args, **kwargs)`` inside an app context with the tenant of
the enqueueing request set, so tenant scoping and row-level security apply in workers as well.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from redis import Redis, RedisError
from rq import Queue, Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

from saas.extensions import db
from tenants.context import clear, peek_tenant_id, tenant_context

if TYPE_CHECKING:
    from rq.cron import CronScheduler

_PENDING_KEY = "kehu_pending_jobs"

#: Functions a worker may run, by dotted name. Only what is registered with :func:`job` runs.
_REGISTRY: dict[str, Callable[..., Any]] = {}
_log = logging.getLogger("kehu.jobs")


def job(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``func`` as a background job (a worker refuses anything else)."""
    _REGISTRY[_dotted(func)] = func
    return func


def redis_connection() -> Redis:
    app = current_app._get_current_object()
    conn = app.extensions.get("kehu_redis")
    if conn is None:
        conn = Redis.from_url(app.config["KEHU_SETTINGS"].redis_url)
        app.extensions["kehu_redis"] = conn
    return conn


def queue(name: str = "default") -> Queue:
    prefix = current_app.config["KEHU_SETTINGS"].queue_prefix
    return Queue(f"{prefix}-{name}", connection=redis_connection())


def _dotted(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def enqueue_after_commit(
    func: Callable[..., Any],
    *args: Any,
    queue_name: str = "default",
    job_id: str | None = None,
    retries: int = 3,
    timeout: int = 300,
    **kwargs: Any,
) -> None:
    """Queue ``func`` for a worker once the current transaction commits; dropped on rollback."""
    if _dotted(func) not in _REGISTRY:
        raise ValueError(f"{_dotted(func)} is not registered with @job")
    db.session.connection()  # tie the job to a real transaction, begun now if need be
    pending = db.session.info.setdefault(_PENDING_KEY, [])
    pending.append(
        dict(
            queue_name=queue_name,
            payload=(peek_tenant_id(), _dotted(func), args, kwargs),
            job_id=job_id,
            retries=retries,
            timeout=timeout,
        )
    )


@event.listens_for(Session, "after_commit")
def _flush_pending(session: Session) -> None:
    for item in session.info.pop(_PENDING_KEY, []):
        try:
            queue(item["queue_name"]).enqueue(
                run_tenant_job,
                *item["payload"],
                job_id=item["job_id"],
                job_timeout=item["timeout"],
                retry=Retry(max=item["retries"], interval=[5, 30, 120])
                if item["retries"]
                else None,
            )
        except RedisError:
            # The user's change is committed; failing the request now would only hide that.
            _log.exception(
                "could not queue job",
                extra={"job": item["payload"][1], "job_tenant_id": item["payload"][0]},
            )


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    if previous_transaction.nested:
        return  # a savepoint rolled back: the outer transaction's jobs still stand
    session.info.pop(_PENDING_KEY, None)


def _resolve(dotted: str) -> Callable[..., Any]:
    module_name, _, _attr = dotted.rpartition(".")
    if module_name.startswith(("saas.", "tenants.", "custom_fields.", "print_templates.")):
        importlib.import_module(module_name)  # registers its jobs
    func = _REGISTRY.get(dotted)
    if func is None:
        raise ValueError(f"refusing to run {dotted!r}: not a Kehu job")
    return func


def run_tenant_job(tenant_id: int | None, dotted: str, args: tuple, kwargs: dict) -> Any:
    """Entry point executed by the RQ worker: app context, tenant context, one transaction."""
    from saas.app import worker_app

    # `kehu worker` (and the test suite's in-process worker) already hold an app context.
    app = current_app._get_current_object() if has_app_context() else worker_app()
    func = _resolve(dotted)
    with app.app_context():
        try:
            with tenant_context(tenant_id):
                result = func(*args, **kwargs)
                db.session.commit()
                return result
        except Exception:
            db.session.rollback()
            raise
        finally:
            clear()
            db.session.remove()


#: Jobs queued on a clock by the worker's scheduler (``kehu worker``): dotted name and interval
#: in seconds. They run without a tenant and must be safe to run more often than asked (the
#: pool's ``schedule_sweeps`` queues each company's sweep once a day, whatever the schedulers).
PERIODIC: tuple[tuple[str, int], ...] = (
    ("saas.crm.pool.schedule_sweeps", 3600),
    ("saas.crm.contracts.schedule_daily", 3600),
    ("saas.crm.quotes.schedule_expiry", 3600),
    ("saas.records.retention.schedule_bin_purges", 3600),
    ("saas.reports.schedules.schedule_deliveries", 3600),
)


def queue_daily_per_tenant(
    kind: str, func: Callable[..., Any], day: str, *, batch: int = 1000, timeout: int = 3600
) -> int:
    """Queue ``func`` once today for every company not queued yet today (``kind`` names the
    work). Entries of :data:`PERIODIC` call this hourly: a Redis key per kind, company and day
    makes it once a day however many workers run the schedule, and an hour late at most after a
    restart. Returns how many jobs it queued."""
    from sqlalchemy import select

    from tenants.models import Tenant

    prefix = current_app.config["KEHU_SETTINGS"].queue_prefix
    redis = redis_connection()
    queued, last_id = 0, 0
    while True:
        ids = list(
            db.session.execute(
                select(Tenant.id).where(Tenant.id > last_id).order_by(Tenant.id).limit(batch)
            ).scalars()
        )
        if not ids:
            return queued
        last_id = ids[-1]
        with redis.pipeline(transaction=False) as pipe:
            for tenant_id in ids:
                pipe.set(f"{prefix}:{kind}:{day}:{tenant_id}", 1, nx=True, ex=3 * 86400)
            fresh = pipe.execute()
        for tenant_id, first in zip(ids, fresh, strict=True):
            if first:
                with tenant_context(tenant_id):
                    enqueue_after_commit(func, job_id=f"{kind}-t{tenant_id}-{day}", timeout=timeout)
                queued += 1
        db.session.commit()  # queues this batch's jobs


def cron_scheduler(name: str = "") -> CronScheduler:
    """An RQ ``CronScheduler`` queueing :data:`PERIODIC` on the default queue (each at once
    when it starts, then at its interval); ``start()`` runs it until SIGTERM."""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis_connection(), name=name)
    prefix = current_app.config["KEHU_SETTINGS"].queue_prefix
    for dotted, interval in PERIODIC:
        scheduler.register(
            run_tenant_job,
            queue_name=f"{prefix}-default",
            args=(None, dotted, (), {}),
            interval=interval,
            job_timeout=3600,
            name=f"{prefix}:{dotted}",
        )
    return scheduler
