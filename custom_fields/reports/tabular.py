"""Tabular reports: the records a filter selects, a page at a time in the list views' order and
with their keyset cursor, showing any field, one hop through a lookup included; the aggregates
as a grand total over every record the filter selects (not only the page)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from custom_fields.query import engine as query
from custom_fields.query.engine import QuerySpec, Resolved
from custom_fields.reports import engine as reports
from custom_fields.reports.engine import GroupRow, Plan, Result
from tenants.models import Tenant


def _text(
    resolved: Resolved, value: Any, currency: str | None, names: dict, locale: str, timezone: str
) -> str:
    if value is None:
        return ""
    kind = resolved.kind
    spec = resolved.spec
    if kind == "choice":
        choice = spec.choice(value) if spec is not None else None
        return choice.label(locale) if choice is not None else str(value)
    if kind == "choices":
        separator = "、" if locale.startswith("zh") else ", "
        parts = []
        for code in value or []:
            choice = spec.choice(code) if spec is not None else None
            parts.append(choice.label(locale) if choice is not None else str(code))
        return separator.join(parts)
    if kind == "tags":
        return ", ".join(value)
    if kind == "boolean":
        with force_locale(locale):
            return _("Yes") if value else _("No")
    if kind in ("user", "reference"):
        return names.get(value) or f"#{value}"
    if kind == "datetime" and isinstance(value, dt.datetime):
        return format_datetime(value, format="medium", tzinfo=ZoneInfo(timezone), locale=locale)
    if kind == "date" and isinstance(value, dt.date):
        return format_date(value, format="medium", locale=locale)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        if currency:
            return format_currency(value, currency, locale=locale)
        return format_decimal(value, locale=locale, decimal_quantization=False)
    return str(value)


def run(plan: Plan, session: Session, tenant: Tenant, locale: str, cursor: str | None) -> Result:
    spec = plan.spec
    page = query.run_query(
        plan.schema,
        plan.actor,
        QuerySpec(
            filter=plan.tree,
            sort=query.parse_sort(spec.sort),
            limit=spec.limit,
            cursor=cursor,
            count=False,
        ),
        timezone=plan.timezone,
    )
    ids = [r.id for r in page.rows]
    values: dict[int, Any] = {}
    model = plan.resolver.entity
    currencies: dict[int, str] = {}
    columns = [c.expr.label(f"v{i}") for i, c in enumerate(plan.shown)]
    for i, resolved in enumerate(plan.shown):
        if reports._is_currency(resolved) and "." not in resolved.key:
            currencies[i] = resolved.key
            columns.append(model.data[(resolved.key, "currency")].astext.label(f"c{i}"))
    if ids:
        stmt, _resolver = query.base_query(
            plan.schema, plan.actor, QuerySpec(ids=ids), plan.timezone, resolver=plan.resolver
        )
        for row in reports._execute(session, stmt.with_only_columns(model.id, *columns)):
            values[row.id] = row
    names: list[dict[Any, str]] = []
    for i, resolved in enumerate(plan.shown):
        found = {values[r][i + 1] for r in values if values[r][i + 1] is not None}
        if resolved.kind == "user":
            names.append(reports._names_of_users(session, found))
        elif resolved.kind == "reference":
            target = resolved.spec.options.get("target") if resolved.spec is not None else None
            names.append(reports.names_of_records(plan, session, target, found))
        else:
            names.append({})
    records = []
    for record in page.rows:
        row = values.get(record.id)
        if row is None:
            continue
        cells: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for i, resolved in enumerate(plan.shown):
            value = row._mapping[f"v{i}"]
            code = row._mapping[f"c{i}"] if i in currencies else None
            cells[resolved.key] = (
                {"amount": reports._plain(value), "currency": code}
                if code is not None and value is not None
                else reports._plain(value)
            )
            labels[resolved.key] = _text(resolved, value, code, names[i], locale, plan.timezone)
        records.append({"id": record.id, "values": cells, "labels": labels})
    figures = reports._figures(plan, session, tenant.currency)
    whole = figures.get(((), ()))
    total_values = whole.values if whole is not None else reports._empty_values(plan)
    with force_locale(locale):
        total_label = _("Total")
    total = GroupRow(
        level=0,
        key=None,
        label=total_label,
        count=whole.count if whole is not None else 0,
        values=total_values,
        drill=reports.drill_filter(plan.tree, []),
    )
    return Result(
        spec=spec,
        timezone=plan.timezone,
        locale=locale,
        currency=tenant.currency,
        groups=[
            {
                "field": c.key,
                "label": reports.field_label(plan, c.key, locale),
                "kind": c.kind,
            }
            for c in plan.shown
        ],
        column_groups=[],
        aggregates=[reports._measure_json(plan, m, locale) for m in plan.measures],
        total=total,
        records=records,
        next_cursor=page.next_cursor,
    )
