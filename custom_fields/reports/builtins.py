"""The reports every company has: definitions in the same JSON as a company's own reports
(so the pages, charts, dashboards and exports built on definitions take them as they are), made
for the company's current stage table, plus one dedicated query for payments.

- ``sales_funnel`` (销售漏斗): opportunities by stage in the picklist's order, count and amount;
  lost-kind stages left out.
- ``sales_ranking`` (业绩排行): won opportunities' amount per owner, highest first.
- ``new_customers`` (新增客户): customers created per owner per day, week or month
  (``granularity``), over the last 30 days, 12 weeks or 12 months.
- ``activities_by_salesperson`` (跟进统计): completed activities per owner × type.
- ``pipeline_forecast`` (销售预测): open opportunities by expected close month: count, amount
  and weighted amount (amount × the opportunity's probability ÷ 100).
- ``receivables`` (回款统计): per contract owner, the amount, received, outstanding and overdue
  amounts and the overdue rate of signed, active and expired contracts, per currency. Payments
  are CRM tables, not records, so this one runs ``saas.crm.contracts``' receivables query (the
  same rule as the contract page), scoped by the contract's owner like the receivables list.

Amounts are per currency, as in every report. Which stages are won, lost or open comes from the
company's stage table (``saas.crm.pipeline``) when the definition is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, tuple_

from custom_fields.reports import engine
from custom_fields.reports import spec as specs
from custom_fields.reports.engine import GroupRow, Result
from saas.errors import ValidationFailed
from saas.extensions import db
from tenants.context import current_tenant_id
from tenants.models import Membership, Tenant

NEW_CUSTOMER_WINDOWS = {"day": 30, "week": 84, "month": 365}


def _stage_codes(kind: str) -> list[str]:
    from saas.crm import pipeline

    return [s.code for s in pipeline.stages() if s.kind == kind]


def sales_funnel() -> dict[str, Any]:
    lost = _stage_codes("lost")
    body: dict[str, Any] = {
        "object": "opportunity",
        "type": "summary",
        "groups": [{"field": "stage"}],
        "aggregates": [
            {"fn": "count", "percent_of_total": True},
            {"fn": "sum", "field": "amount"},
        ],
        "chart": {"type": "funnel", "aggregate": "count"},
    }
    if lost:
        body["filter"] = {"field": "stage", "op": "not_in", "value": lost}
    return body


def sales_ranking() -> dict[str, Any]:
    won = _stage_codes("won") or ["won"]
    return {
        "object": "opportunity",
        "type": "summary",
        "filter": {"field": "stage", "op": "in", "value": won},
        "groups": [{"field": "owner_id", "sort": "sum_amount", "dir": "desc"}],
        "aggregates": [
            {"fn": "sum", "field": "amount", "percent_of_total": True},
            {"fn": "count"},
        ],
        "chart": {"type": "bar", "aggregate": "sum_amount"},
    }


def new_customers(granularity: str = "month") -> dict[str, Any]:
    if granularity not in NEW_CUSTOMER_WINDOWS:
        raise ValidationFailed(
            {"granularity": [_("Choose one of: %(choices)s.", choices="day, week, month")]}
        )
    return {
        "object": "account",
        "type": "summary",
        "filter": {
            "field": "created_at",
            "op": "last_n_days",
            "value": NEW_CUSTOMER_WINDOWS[granularity],
        },
        "groups": [
            {"field": "owner_id", "sort": "count", "dir": "desc"},
            {"field": "created_at", "granularity": granularity},
        ],
        "aggregates": [{"fn": "count"}],
        "chart": {"type": "stacked_bar", "aggregate": "count"},
    }


def activities_by_salesperson() -> dict[str, Any]:
    return {
        "object": "activity",
        "type": "matrix",
        "filter": {"field": "status", "op": "eq", "value": "done"},
        "groups": [{"field": "owner_id", "sort": "count", "dir": "desc"}],
        "column_groups": [{"field": "type"}],
        "aggregates": [{"fn": "count"}],
        "chart": {"type": "stacked_bar", "aggregate": "count"},
    }


def pipeline_forecast() -> dict[str, Any]:
    closed = _stage_codes("won") + _stage_codes("lost")
    body: dict[str, Any] = {
        "object": "opportunity",
        "type": "summary",
        "groups": [{"field": "expected_close", "granularity": "month"}],
        "aggregates": [
            {"fn": "count"},
            {"fn": "sum", "field": "amount"},
            {"fn": "weighted_sum", "field": "amount", "weight": "probability", "key": "weighted"},
        ],
        "chart": {"type": "line", "aggregate": "weighted"},
    }
    if closed:
        body["filter"] = {"field": "stage", "op": "not_in", "value": closed}
    return body


@dataclass(frozen=True)
class Builtin:
    """A report every company has: its title and either a definition or its own query."""

    key: str
    title: Any
    definition: Callable[..., dict[str, Any]] | None = None
    run: Callable[..., Result] | None = None


def run_receivables(
    actor: Membership,
    *,
    timezone: str | None = None,
    locale: str | None = None,
    today: dt.date | None = None,
) -> Result:
    """Amount, received, outstanding, overdue and overdue rate per contract owner, per
    currency; one statement (``GROUPING SETS`` over the receivables query)."""
    from saas.crm import contracts
    from tenants import permissions

    permissions.require(actor, "contract", "view")
    tenant = db.session.get(Tenant, current_tenant_id())
    timezone = timezone or engine.default_timezone(actor)
    locale = engine._locale(locale)
    today = today or contracts.tenant_today()
    rows = contracts._receivable_rows(actor, today, None)
    money = ("amount", "received", "outstanding", "overdue", "due_to_date")
    stmt = select(
        rows.c.owner_id,
        rows.c.currency,
        func.grouping(rows.c.owner_id, rows.c.currency).label("_g"),
        func.count().label("_n"),
        *(func.sum(rows.c[name]).label(name) for name in money),
    ).group_by(
        func.grouping_sets(
            tuple_(rows.c.owner_id, rows.c.currency),
            tuple_(rows.c.owner_id),
            tuple_(rows.c.currency),
            tuple_(),
        )
    )
    counts: dict[Any, int] = {}
    amounts: dict[Any, dict[str, dict[str, Decimal]]] = {}
    for row in db.session.execute(stmt):
        owner_absent, currency_absent = bool(row._g & 2), bool(row._g & 1)
        owner = "__total__" if owner_absent else row.owner_id
        if currency_absent:
            counts[owner] = row._n
            continue
        figures = amounts.setdefault(owner, {name: {} for name in (*money, "overdue_rate")})
        for name in money:
            value = row._mapping[name]
            if value is not None:
                figures[name][row.currency] = contracts.money.round_money(value, row.currency)
        rate = contracts.rate_percent(row.overdue or Decimal(0), row.due_to_date or Decimal(0))
        figures["overdue_rate"][row.currency] = rate

    statuses = list(contracts.RECEIVABLE)
    base = [
        {"field": "status", "op": "in", "value": statuses},
        {"field": "amount", "op": "is_not_empty"},
    ]

    def values(owner: Any) -> dict[str, Any]:
        found = amounts.get(owner) or {name: {} for name in (*money, "overdue_rate")}
        return {"count": counts.get(owner, 0), **found}

    owners = [o for o in counts if o != "__total__"]
    ids = {o for o in owners if o is not None}
    names: dict[int, str] = {}
    if ids:
        from saas.accounts.models import User

        found = db.session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
        names = {r.id: r.name or r.email for r in found}
    with force_locale(locale):
        empty, total_label = _("(empty)"), _("Total")
    groups = []
    for owner in owners:
        condition = (
            {"field": "owner_id", "op": "is_empty"}
            if owner is None
            else {"field": "owner_id", "op": "eq", "value": owner}
        )
        groups.append(
            GroupRow(
                level=1,
                key=owner,
                label=empty if owner is None else names.get(owner) or f"#{owner}",
                count=counts[owner],
                values=values(owner),
                drill={"and": [*base, condition]},
            )
        )
    company = tenant.currency
    groups.sort(
        key=lambda g: (
            g.key is None,
            -(g.values["outstanding"].get(company) or Decimal(0)),
            g.label.casefold(),
        )
    )
    keys = ("count", *money, "overdue_rate")
    with force_locale(locale):
        titles = {
            "count": _("Contracts"),
            "amount": _("Contract amount"),
            "received": _("Received"),
            "outstanding": _("Outstanding"),
            "overdue": _("Overdue"),
            "due_to_date": _("Due to date"),
            "overdue_rate": _("Overdue rate (%)"),
        }
        owner_label = _("Owner")
    definition = specs.ReportSpec(
        object="contract",
        type="summary",
        filter={"and": base},
        groups=(specs.Grouping("owner_id"),),
        aggregates=(specs.Aggregate("count", key="count"),),
        chart=specs.Chart("bar", None),
    )
    return Result(
        spec=definition,
        timezone=timezone,
        locale=locale,
        currency=company,
        groups=[{"field": "owner_id", "label": owner_label, "kind": "user", "granularity": None}],
        column_groups=[],
        aggregates=[
            {
                "key": key,
                "fn": "count" if key == "count" else "sum",
                "field": None if key == "count" else key,
                "weight": None,
                "label": titles[key],
                "currency": key != "count",
                "percent_of_total": False,
            }
            for key in keys
        ],
        total=GroupRow(
            level=0,
            key=None,
            label=total_label,
            count=counts.get("__total__", 0),
            values=values("__total__"),
            drill={"and": base},
        ),
        rows=groups,
    )


BUILTINS: dict[str, Builtin] = {
    b.key: b
    for b in (
        Builtin("sales_funnel", _l("Sales funnel"), definition=sales_funnel),
        Builtin("sales_ranking", _l("Sales ranking"), definition=sales_ranking),
        Builtin("new_customers", _l("New customers"), definition=new_customers),
        Builtin(
            "activities_by_salesperson",
            _l("Activities per salesperson"),
            definition=activities_by_salesperson,
        ),
        Builtin("pipeline_forecast", _l("Pipeline forecast"), definition=pipeline_forecast),
        Builtin("receivables", _l("Received and outstanding payments"), run=run_receivables),
    )
}


def definition(key: str, **options: Any) -> dict[str, Any] | None:
    """The JSON definition of a built-in report (``None`` for one with its own query)."""
    builtin = BUILTINS.get(key)
    if builtin is None:
        raise ValidationFailed({"report": [_("There is no built-in report “%(key)s”.", key=key)]})
    if builtin.definition is None:
        return None
    return builtin.definition(**options)


def run(key: str, actor: Membership, *, options: Mapping[str, Any] | None = None, **kw: Any):
    """Run a built-in report for ``actor`` (``kw``: timezone, locale, timeout_ms)."""
    builtin = BUILTINS.get(key)
    if builtin is None:
        raise ValidationFailed({"report": [_("There is no built-in report “%(key)s”.", key=key)]})
    if builtin.run is not None:
        return builtin.run(actor, **{k: v for k, v in kw.items() if k in ("timezone", "locale")})
    return engine.run(builtin.definition(**dict(options or {})), actor, **kw)
