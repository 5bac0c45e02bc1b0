"""Tables of stored reports, dashboards, their delivery schedules and the deliveries made."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from saas.extensions import db
from saas.records.visibility import VISIBILITIES as VISIBILITIES
from tenants.context import TenantScoped

_VISIBILITY = "visibility IN ('private', 'roles', 'teams', 'tenant')"


def _user_column(nullable: bool = True, ondelete: str = "SET NULL") -> Any:
    return mapped_column(BigInteger, ForeignKey("users.id", ondelete=ondelete), nullable=nullable)


class _Stamped:
    created_by: Mapped[int | None] = _user_column()
    updated_by: Mapped[int | None] = _user_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}


class ReportDefinition(_Stamped, TenantScoped, db.Model):
    """A saved report: the engine's definition (``spec``, its JSON form) on ``object_key``, a
    name, an optional folder, and who sees it (``visibility`` ``private`` / ``roles`` /
    ``teams`` / ``tenant`` with ``shared_with``, as saved views). A built-in report has a
    ``builtin_key`` (one per company) and no owner. ``version`` guards concurrent changes.

    Whoever runs a report sees the figures of their own data scope and field access, never the
    author's."""

    __tablename__ = "report_definitions"
    __table_args__ = (
        CheckConstraint(_VISIBILITY, name="visibility"),
        Index(
            "uq_report_definitions_builtin",
            "tenant_id",
            "builtin_key",
            unique=True,
            postgresql_where=text("builtin_key IS NOT NULL"),
        ),
        Index("ix_report_definitions_owner", "tenant_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    folder: Mapped[str | None] = mapped_column(String(100))
    object_key: Mapped[str] = mapped_column(String(60))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    visibility: Mapped[str] = mapped_column(String(20), default="private")
    shared_with: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    owner_id: Mapped[int | None] = _user_column()
    builtin_key: Mapped[str | None] = mapped_column(String(60))


class Dashboard(_Stamped, TenantScoped, db.Model):
    """A grid of widgets: each a report's chart and table or a KPI tile (one figure of a
    report's grand total), placed at ``x``, ``y`` with a width and height in grid cells
    (``layout``). ``filters`` holds the dashboard-wide filters (a date range on a date field
    per object, an owner, a team) that are ANDed into every widget's report."""

    __tablename__ = "dashboards"
    __table_args__ = (
        CheckConstraint(_VISIBILITY, name="visibility"),
        Index("ix_dashboards_owner", "tenant_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(20), default="private")
    shared_with: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    owner_id: Mapped[int | None] = _user_column()
    layout: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ReportSchedule(_Stamped, TenantScoped, db.Model):
    """Delivery of a report or a dashboard by email: daily, weekly (on ``weekday``, 0 =
    Monday) or monthly (on ``day``; the month's last day when it is shorter), at ``at_time``
    in the company's time zone, to member ``recipients`` (user ids), as a workbook or a PDF. The
    report runs as ``owner_id`` (their data scope). ``next_run_at`` is the next due moment."""

    __tablename__ = "report_schedules"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "report_id"],
            ["report_definitions.tenant_id", "report_definitions.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "dashboard_id"],
            ["dashboards.tenant_id", "dashboards.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("(report_id IS NULL) <> (dashboard_id IS NULL)", name="one_target"),
        CheckConstraint("frequency IN ('daily', 'weekly', 'monthly')", name="frequency"),
        CheckConstraint("weekday IS NULL OR weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("day IS NULL OR day BETWEEN 1 AND 31", name="day"),
        CheckConstraint("format IN ('xlsx', 'pdf')", name="format"),
        Index(
            "ix_report_schedules_due", "tenant_id", "next_run_at", postgresql_where=text("active")
        ),
        Index("ix_report_schedules_report", "tenant_id", "report_id"),
        Index("ix_report_schedules_dashboard", "tenant_id", "dashboard_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    report_id: Mapped[int | None] = mapped_column(BigInteger)
    dashboard_id: Mapped[int | None] = mapped_column(BigInteger)
    owner_id: Mapped[int] = _user_column(nullable=False, ondelete="CASCADE")
    frequency: Mapped[str] = mapped_column(String(10))
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    day: Mapped[int | None] = mapped_column(SmallInteger)
    at_time: Mapped[dt.time] = mapped_column(Time)
    recipients: Mapped[list[int]] = mapped_column(JSONB, default=list)
    format: Mapped[str] = mapped_column(String(10), default="xlsx")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)


class ReportDelivery(TenantScoped, db.Model):
    """One delivery of a schedule for one period (its due moment in UTC, ISO text): the primary
    key makes a period go out once however many workers try."""

    __tablename__ = "report_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "schedule_id"],
            ["report_schedules.tenant_id", "report_schedules.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("status IN ('sent', 'failed')", name="status"),
    )

    schedule_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    recipients: Mapped[list[int]] = mapped_column(JSONB, default=list)
    filename: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
