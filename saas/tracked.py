"""Long work whose state matters: a row per job in Postgres (status, progress, result), the work
itself on RQ. Starting the same job id twice while it runs returns the running one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from saas.errors import DomainError
from saas.extensions import db
from saas.jobs import enqueue_after_commit
from tenants.context import TenantScoped, current_tenant_id

ACTIVE = ("queued", "running")
_log = logging.getLogger("kehu.jobs")


class TrackedJob(TenantScoped, db.Model):
    """A background job someone waits for: what it is, how far it got, what came of it."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, round(100 * self.done / self.total))


def get_job(job_id: str) -> TrackedJob | None:
    return db.session.execute(
        select(TrackedJob).where(TrackedJob.id == job_id)
    ).scalar_one_or_none()


def start(
    job_id: str,
    kind: str,
    func: Callable[..., Any],
    *,
    params: dict[str, Any],
    created_by: int | None,
    total: int | None = None,
    timeout: int = 3600,
) -> TrackedJob:
    """Record the job and queue ``func(job_id, **params)`` after the caller commits.

    A job with the same id that is still queued or running is returned as it is.
    """
    existing = get_job(job_id)
    if existing is not None and existing.status in ACTIVE and _still_on_queue(job_id):
        return existing
    if existing is None:
        existing = TrackedJob(id=job_id, kind=kind)
        db.session.add(existing)
    existing.status, existing.done, existing.total = "queued", 0, total
    existing.params, existing.result, existing.error = params, None, None
    existing.created_by, existing.started_at, existing.finished_at = created_by, None, None
    enqueue_after_commit(
        func,
        job_id,
        queue_name="default",
        job_id=_rq_id(job_id),
        timeout=timeout,
        **params,
    )
    return existing


def _rq_id(job_id: str) -> str:
    """The RQ job id: the tenant is part of it, and RQ allows only letters, digits, _ and -."""
    return f"t{current_tenant_id()}-{job_id.replace(':', '-')}"


def _still_on_queue(job_id: str) -> bool:
    """Whether RQ still has work for this job; a row left queued or running by a lost enqueue or
    a worker that died past its retries must not block a new start."""
    from redis import RedisError
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from saas.jobs import redis_connection

    try:
        status = Job.fetch(_rq_id(job_id), connection=redis_connection()).get_status()
    except NoSuchJobError:
        return False
    except RedisError:
        return True  # cannot tell: do not risk running the same work twice
    return status in ("queued", "started", "deferred", "scheduled")


def begin(job_id: str) -> TrackedJob:
    """Worker side: mark running (one more attempt) and commit so waiting people see it."""
    row = get_job(job_id)
    if row is None:
        raise LookupError(f"no tracked job {job_id}")
    row.status, row.attempts, row.started_at = "running", row.attempts + 1, func.now()
    db.session.commit()
    return row


def progress(job_id: str, done: int, total: int | None = None) -> None:
    """Record progress on a connection of its own, so it shows while the job's own transaction
    (which commits only when all its work is done) is still open."""
    values: dict[str, Any] = {"done": done}
    if total is not None:
        values["total"] = total
    tenant_id = current_tenant_id()
    table = TrackedJob.__table__
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),)
        )
        connection.execute(
            update(table)
            .where(table.c.tenant_id == tenant_id, table.c.id == job_id)
            .values(**values)
        )


def is_active(job_id: str) -> bool:
    row = get_job(job_id)
    return row is not None and row.status in ACTIVE and _still_on_queue(job_id)


def finish(job_id: str, result: dict[str, Any]) -> None:
    db.session.execute(
        update(TrackedJob)
        .where(TrackedJob.id == job_id)
        .values(status="succeeded", result=result, error=None, finished_at=func.now())
    )
    db.session.commit()


def fail(job_id: str, message: str) -> None:
    """The job ended without doing its work; ``message`` is shown to people as it is."""
    db.session.rollback()
    db.session.execute(
        update(TrackedJob)
        .where(TrackedJob.id == job_id)
        .values(status="failed", error=message[:2000], finished_at=func.now())
    )
    db.session.commit()


def crashed(job_id: str, exc: BaseException) -> None:
    """An unexpected error: people see a plain message (details go to the log); the row says
    ``queued`` again when RQ will retry, ``failed`` when it will not."""
    from rq import get_current_job

    _log.exception("tracked job %s failed", job_id)
    if isinstance(exc, DomainError):
        message = exc.message
    else:
        message = _(
            "The job stopped because of an unexpected error. It is logged; try again "
            "later or contact support."
        )
    rq_job = get_current_job()
    retrying = rq_job is not None and (rq_job.retries_left or 0) > 0
    db.session.rollback()
    db.session.execute(
        update(TrackedJob)
        .where(TrackedJob.id == job_id)
        .values(
            status="queued" if retrying else "failed",
            error=message[:2000],
            finished_at=None if retrying else func.now(),
        )
    )
    db.session.commit()
