"""Run a report definition for a member: figures per group, subtotals, grand total, shares of
the total, matrix cells, and for every group the list filter that selects exactly its records.

Everything rests on :func:`custom_fields.query.engine.base_query`, so a report sees the records
a list with the same filter shows (data scope, field access, recycle bin, the tenant's own
rows). A summary or matrix is one SQL statement: the records with their group keys as a derived
table, grouped by ``GROUPING SETS`` (every prefix of the row groups, times every prefix of the
column groups of a matrix), so subtotals and the grand total come from the same scan. A top N
adds a CTE ranking the first level; amounts of several currencies in one group take one more
statement (never added across currencies). Decisions are in docs/reports.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_request_context
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import (
    Date,
    DateTime,
    Numeric,
    String,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    literal_column,
    not_,
    select,
    tuple_,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.query import engine as query
from custom_fields.query import reader
from custom_fields.query.engine import QuerySpec, Resolved, Resolver
from custom_fields.query.filters import Condition, Group, parse_tree
from custom_fields.reports import spec as specs
from custom_fields.reports.spec import Aggregate, Grouping, ReportSpec
from saas.accounts.models import User
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from tenants.context import current_tenant_id
from tenants.models import Membership, Tenant

#: Rows a grouped statement may answer (groups, subtotals and cells together).
MAX_ROWS = 10_000
#: Kinds of value a report groups by (multi-picklists, tags and ids are not groupable).
GROUPABLE = frozenset(
    {"choice", "text", "number", "boolean", "date", "datetime", "reference", "user"}
)
#: Field types refused as groups whatever their kind: amounts of mixed currencies, long texts.
UNGROUPABLE_TYPES = frozenset({"currency", "long_text"})
NUMERIC_FUNCTIONS = frozenset({"sum", "avg", "weighted_sum"})
ORDERED_KINDS = frozenset({"number", "date", "datetime"})


class _Others:
    """The key of the group collecting what is not in a top N."""

    def __repr__(self) -> str:
        return "OTHERS"


OTHERS: Any = _Others()


# ---- the compiled report -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """A grouping level resolved for the member: where it was written, the field and its kind."""

    where: str
    grouping: Grouping
    resolved: Resolved
    granularity: str | None
    #: The object a lookup points to (labels are the linked records' names).
    target: str | None

    @property
    def path(self) -> str:
        return self.grouping.field

    @property
    def kind(self) -> str:
        return self.resolved.kind


@dataclass(frozen=True)
class Measure:
    """An aggregate resolved for the member."""

    aggregate: Aggregate
    resolved: Resolved | None
    weight: Resolved | None
    currency: bool

    @property
    def key(self) -> str:
        return self.aggregate.key

    @property
    def fn(self) -> str:
        return self.aggregate.fn


@dataclass
class Plan:
    """What :func:`compile_spec` makes of a definition: the parsed filter, the grouping levels
    (``rows``, and ``columns`` of a matrix), the aggregates, and a tabular report's fields."""

    spec: ReportSpec
    schema: ObjectSchema
    actor: Membership
    timezone: str
    tree: Any
    resolver: Resolver
    rows: list[Dimension]
    columns: list[Dimension]
    measures: list[Measure]
    shown: list[Resolved] = field(default_factory=list)

    @property
    def dimensions(self) -> list[Dimension]:
        return [*self.rows, *self.columns]


def _field_error(exc: DomainError) -> str:
    messages = getattr(exc, "errors", None)
    if messages:
        return next(iter(messages.values()))[0]
    return exc.message


def compile_spec(spec: ReportSpec, actor: Membership, timezone: str) -> Plan:
    """Check a definition against the object's fields as ``actor`` sees them; every problem
    comes back at once, keyed like the definition (``groups[1].field``)."""
    schema = schemas(current_tenant_id()).get(spec.object)
    if schema is None:
        raise ValidationFailed({"object": [_("There is no object “%(key)s”.", key=spec.object)]})
    model = query.model_for(schema)
    resolver = Resolver(schema, actor, model)
    errors: dict[str, list[str]] = {}
    tree = parse_tree(spec.filter)

    def resolve(path: str, where: str) -> Resolved | None:
        try:
            return resolver.resolve(path)
        except DomainError as exc:
            errors.setdefault(where, []).append(_field_error(exc))
            return None

    def dimension(grouping: Grouping, where: str) -> Dimension | None:
        resolved = resolve(grouping.field, f"{where}.field")
        if resolved is None:
            return None
        type_name = resolved.spec.type if resolved.spec is not None else None
        if resolved.kind not in GROUPABLE or type_name in UNGROUPABLE_TYPES:
            errors.setdefault(f"{where}.field", []).append(
                _("Records cannot be grouped by “%(key)s”.", key=grouping.field)
            )
            return None
        granularity = grouping.granularity
        if resolved.kind in ("date", "datetime"):
            granularity = granularity or "day"
            if grouping.top is not None:
                errors.setdefault(f"{where}.top", []).append(
                    _("A top N is for groups of values, not of periods.")
                )
        elif granularity is not None:
            errors.setdefault(f"{where}.granularity", []).append(
                _("Only dates and times are grouped by period.")
            )
        target = None
        if resolved.kind == "reference" and resolved.spec is not None:
            target = resolved.spec.options.get("target")
        return Dimension(where, grouping, resolved, granularity, target)

    rows = [dimension(g, f"groups[{i}]") for i, g in enumerate(spec.groups)]
    columns = [dimension(g, f"column_groups[{i}]") for i, g in enumerate(spec.column_groups)]
    measures: list[Measure] = []
    for i, aggregate in enumerate(spec.aggregates):
        where = f"aggregates[{i}]"
        resolved = weight = None
        if aggregate.field:
            resolved = resolve(aggregate.field, f"{where}.field")
            if resolved is None:
                continue
            if not _aggregable(aggregate.fn, resolved):
                errors.setdefault(f"{where}.field", []).append(
                    _(
                        "“%(fn)s” does not apply to “%(key)s”.",
                        fn=aggregate.fn,
                        key=aggregate.field,
                    )
                )
                continue
        if aggregate.weight:
            weight = resolve(aggregate.weight, f"{where}.weight")
            if weight is None:
                continue
            if weight.kind != "number" or _is_currency(weight):
                errors.setdefault(f"{where}.weight", []).append(
                    _("Weigh by a number or a percent.")
                )
                continue
        currency = resolved is not None and _is_currency(resolved) and aggregate.fn != "count"
        if aggregate.fn == "count_distinct":
            currency = False
        if currency and "." in (aggregate.field or ""):
            errors.setdefault(f"{where}.field", []).append(
                _("Amounts are added up on the object's own currency fields, not through a lookup.")
            )
            continue
        measures.append(Measure(aggregate, resolved, weight, currency))
    shown: list[Resolved] = []
    for i, path in enumerate(spec.columns):
        resolved = resolve(path, f"columns[{i}]")
        if resolved is not None:
            shown.append(resolved)
    # The filter's own errors name the condition, as in the list views.
    try:
        query.build_filter(tree, resolver, query.make_env(actor, timezone))
    except DomainError as exc:
        for key, messages in getattr(exc, "errors", {"filter": [exc.message]}).items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationFailed(errors)
    return Plan(
        spec,
        schema,
        actor,
        timezone,
        tree,
        resolver,
        [d for d in rows if d is not None],
        [d for d in columns if d is not None],
        measures,
        shown,
    )


def _is_currency(resolved: Resolved) -> bool:
    return resolved.spec is not None and resolved.spec.type == "currency"


def _aggregable(fn: str, resolved: Resolved) -> bool:
    if resolved.kind in ("tags", "choices"):
        return False
    if fn in ("count", "count_distinct"):
        return True
    if fn in NUMERIC_FUNCTIONS:
        return resolved.kind == "number"
    return resolved.kind in ORDERED_KINDS  # min, max


# ---- SQL ---------------------------------------------------------------------------------------


def _unit(granularity: str) -> Any:
    # A constant from a fixed list: the same SQL text in every statement.
    assert granularity in specs.GRANULARITIES
    return literal_column(f"'{granularity}'", String)


def key_sql(dimension: Dimension, timezone: str) -> Any:
    """The group key of a record: text compared without case (as the list's "equals"), a date
    truncated to its period, a moment's day in the report's time zone."""
    expr = dimension.resolved.expr
    kind = dimension.kind
    if kind == "text":
        return func.lower(expr)
    if kind == "date":
        if dimension.granularity == "day":
            return expr
        truncated = func.date_trunc(_unit(dimension.granularity), cast(expr, DateTime()))
        return cast(truncated, Date)
    if kind == "datetime":
        local = func.timezone(literal(timezone, String), expr, type_=DateTime())
        return cast(func.date_trunc(_unit(dimension.granularity), local), Date)
    return expr


def _value_sql(measure: Measure) -> Any:
    assert measure.resolved is not None
    expr = measure.resolved.expr
    if measure.fn == "weighted_sum":
        assert measure.weight is not None
        product = cast(expr, Numeric) * cast(measure.weight.expr, Numeric)
        if measure.weight.spec is not None and measure.weight.spec.type == "percent":
            product = product / literal_column("100", Numeric)
        return product
    if measure.fn == "count_distinct" and measure.resolved.kind == "text":
        return func.lower(expr)
    return expr


def _currency_sql(plan: Plan, measure: Measure) -> Any:
    """The currency of an amount (stored together: one is there exactly when the other is)."""
    data = plan.resolver.entity.data
    assert measure.resolved is not None and measure.resolved.spec is not None
    return data[(measure.resolved.spec.key, "currency")].astext


def _aggregate_sql(measure: Measure, value: Any) -> Any:
    fn = measure.fn
    if fn == "count":
        return func.count() if value is None else func.count(value)
    if fn == "count_distinct":
        return func.count(distinct(value))
    if fn in ("sum", "weighted_sum"):
        return func.sum(value)
    if fn == "avg":
        return func.avg(value)
    return func.min(value) if fn == "min" else func.max(value)


@dataclass
class _Statement:
    """The grouped statement and how to read its rows."""

    sql: Any
    #: Whether the first key may be "Others" (column ``o``).
    top: bool


def _records(plan: Plan, *, extra: Iterable[Any] = ()) -> Any:
    """The records of the report (filter, scope, field access) with their keys and values."""
    stmt, _resolver = query.base_query(
        plan.schema,
        plan.actor,
        QuerySpec(filter=plan.tree),
        plan.timezone,
        resolver=plan.resolver,
    )
    columns = []
    for i, dimension in enumerate(plan.dimensions):
        columns.append(key_sql(dimension, plan.timezone).label(f"k{i}"))
        if dimension.kind == "text":
            columns.append(dimension.resolved.expr.label(f"t{i}"))
    for j, measure in enumerate(plan.measures):
        if measure.resolved is not None:
            columns.append(_value_sql(measure).label(f"v{j}"))
        if measure.currency:
            columns.append(_currency_sql(plan, measure).label(f"c{j}"))
    columns.extend(extra)
    if not columns:
        columns.append(literal_column("1").label("one"))
    return stmt.with_only_columns(*columns).cte("r")


def _sets(plan: Plan, keys: list[Any], other: Any | None) -> list[Any]:
    """Every prefix of the row keys (times every prefix of the column keys of a matrix)."""
    rows, columns = keys[: len(plan.rows)], keys[len(plan.rows) :]
    sets = []
    for i in range(len(rows), -1, -1):
        for j in range(len(columns), -1, -1):
            chosen = [*rows[:i], *columns[:j]]
            if other is not None and i > 0:
                chosen.insert(1, other)
            sets.append(tuple_(*chosen))
    return sets


def _ranking(plan: Plan, r: Any, company_currency: str) -> Any:
    """The first level's top N as a CTE: ranked by the chosen aggregate (amounts in the
    company's currency), ties broken by the key; empty values rank like any other group."""
    first = plan.rows[0]
    grouping = first.grouping
    index = next(j for j, m in enumerate(plan.measures) if m.key == grouping.sort)
    measure = plan.measures[index]
    value = r.c[f"v{index}"] if measure.resolved is not None else None
    ranked = _aggregate_sql(measure, value)
    if measure.currency:
        ranked = ranked.filter(r.c[f"c{index}"] == company_currency)
    order = ranked.desc() if grouping.desc else ranked.asc()
    return (
        select(r.c.k0)
        .group_by(r.c.k0)
        .order_by(order.nulls_last(), r.c.k0.asc().nulls_last())
        .limit(grouping.top)
        .cte("top")
    )


def _grouped(plan: Plan, company_currency: str, *, by_currency: int | None = None) -> _Statement:
    """The grouped statement; with ``by_currency`` only that measure, per currency."""
    r = _records(plan)
    dims = plan.dimensions
    source = r
    top = bool(plan.rows) and plan.rows[0].grouping.top is not None
    other = None
    if top:
        ranking = _ranking(plan, r, company_currency)
        null_ranked = exists(
            select(literal_column("1")).select_from(ranking).where(ranking.c.k0.is_(None))
        )
        listed = r.c.k0.in_(select(ranking.c.k0).where(ranking.c.k0.is_not(None)))
        in_top = case((r.c.k0.is_(None), null_ranked), else_=listed)
        passed = [c for c in r.c if c.name != "k0"]
        source = select(
            case((in_top, r.c.k0)).label("k0"), not_(in_top).label("o"), *passed
        ).subquery("b")
        other = source.c.o
    keys = [source.c[f"k{i}"] for i in range(len(dims))]
    columns: list[Any] = list(keys)
    if other is not None:
        columns.append(other)
    group_keys = list(keys)
    if by_currency is not None:
        currency = source.c[f"c{by_currency}"]
        columns.append(currency.label("cur"))
    if keys:
        columns.append(func.grouping(*keys).label("_g"))
    columns.append(func.count().label("_n"))
    for i, dimension in enumerate(dims):
        if dimension.kind == "text":
            columns.append(func.min(source.c[f"t{i}"]).label(f"rep{i}"))
    for j, measure in enumerate(plan.measures):
        if by_currency is not None and j != by_currency:
            continue
        value = source.c[f"v{j}"] if measure.resolved is not None else None
        columns.append(_aggregate_sql(measure, value).label(f"m{j}"))
        if measure.currency and by_currency is None:
            columns.append(func.min(source.c[f"c{j}"]).label(f"cmin{j}"))
            columns.append(func.max(source.c[f"c{j}"]).label(f"cmax{j}"))
    stmt = select(*columns).select_from(source)
    if by_currency is not None:
        stmt = stmt.where(source.c[f"c{by_currency}"].is_not(None))
    if group_keys:
        sets = _sets(plan, group_keys, other)
        if by_currency is not None:
            currency = source.c[f"c{by_currency}"]
            sets = [tuple_(*s.clauses, currency) for s in sets]
        stmt = stmt.group_by(func.grouping_sets(*sets))
    elif by_currency is not None:
        stmt = stmt.group_by(source.c[f"c{by_currency}"])
    return _Statement(stmt.limit(MAX_ROWS + 1), top)


# ---- running -----------------------------------------------------------------------------------


def _limit(session: Session, timeout_ms: int, zone: str) -> None:
    """The statement timeout of list reads (or the caller's, for a job)."""
    if reader.is_reader(session):
        reader.settle(session, timeout_ms, zone)
        return
    session.execute(
        select(
            func.set_config("statement_timeout", str(timeout_ms), True),
            func.set_config("TimeZone", zone, True),
        )
    )


class ReportTooSlow(DomainError):
    """The report ran out of time: a narrower filter (or, later, a background run) helps."""

    status = 422


def _execute(session: Session, stmt: Any) -> list[Any]:
    try:
        return list(session.execute(stmt).all())
    except OperationalError as exc:
        text = str(exc.orig)
        if "statement timeout" in text or "canceling statement" in text:
            session.rollback()
            raise ReportTooSlow(
                _(
                    "This report took too long to compute. Narrow the filter, group by a "
                    "coarser period or choose fewer groups."
                )
            ) from exc
        raise


def _too_many() -> DomainError:
    return DomainError(
        _(
            "This report has more than %(n)d groups. Narrow the filter, group by a coarser "
            "period or show a top N.",
            n=MAX_ROWS,
        ),
        status=422,
    )


def default_timezone(actor: Membership) -> str:
    """The member's own time zone, else the company's (as the list views use)."""
    user_zone = getattr(actor.user, "timezone", None) if actor.user is not None else None
    if user_zone:
        return user_zone
    return db.session.get(Tenant, current_tenant_id()).timezone


def _locale(locale: str | None) -> str:
    if locale is None and has_request_context():
        locale = str(get_locale() or "en")
    return "zh_CN" if (locale or "en").startswith("zh") else "en"


def run(
    raw: ReportSpec | Mapping[str, Any],
    actor: Membership,
    *,
    timezone: str | None = None,
    locale: str | None = None,
    timeout_ms: int | None = None,
    cursor: str | None = None,
) -> Result:
    """Run a definition as ``actor``: the object's view permission, data scope and field
    access apply. Plain arguments only, so a background job can call it as a request does
    (``timeout_ms`` then gives the job's own limit)."""
    from tenants import permissions

    spec = specs.load(raw)
    permissions.require(actor, spec.object, "view")
    tenant = db.session.get(Tenant, current_tenant_id())
    timezone = timezone or default_timezone(actor)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed({"timezone": [_("Not a known time zone.")]}) from None
    locale = _locale(locale)
    plan = compile_spec(spec, actor, timezone)
    ms = int(timeout_ms or current_app.config.get("QUERY_TIMEOUT_MS", 10_000))
    with reader.reading() as session:
        _limit(session, ms, tenant.timezone)
        if spec.type == "tabular":
            from custom_fields.reports import tabular

            return tabular.run(plan, session, tenant, locale, cursor)
        figures = _figures(plan, session, tenant.currency)
        return _build(plan, session, figures, tenant.currency, locale)


# ---- reading the rows --------------------------------------------------------------------------


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


_ABSENT: Any = _Absent()
#: (row keys, column keys) of a group, a subtotal, a cell or the grand total (``((), ())``).
Key = tuple[tuple[Any, ...], tuple[Any, ...]]


@dataclass
class Figures:
    """One row of the grouped statement: its record count, aggregates and, for text keys, the
    text shown (the key is the lower-cased text)."""

    count: int
    values: dict[str, Any]
    reps: dict[int, str]


def _key(row: Any, plan: Plan, top: bool) -> Key:
    """Which group a row of the grouped statement is: the keys of the levels it is grouped by
    (``GROUPING()`` tells an absent level from an empty value)."""
    width = len(plan.dimensions)
    mask = row._mapping["_g"] if width else 0
    tokens: list[Any] = []
    for i in range(width):
        if (mask >> (width - 1 - i)) & 1:
            tokens.append(_ABSENT)
            continue
        value = row._mapping[f"k{i}"]
        if i == 0 and top and row._mapping["o"]:
            value = OTHERS
        tokens.append(value)
    split = len(plan.rows)
    return (
        tuple(t for t in tokens[:split] if t is not _ABSENT),
        tuple(t for t in tokens[split:] if t is not _ABSENT),
    )


def _figures(plan: Plan, session: Session, company_currency: str) -> dict[Key, Figures]:
    statement = _grouped(plan, company_currency)
    rows = _execute(session, statement.sql)
    if len(rows) > MAX_ROWS:
        raise _too_many()
    figures: dict[Key, Figures] = {}
    mixed: set[int] = set()
    for row in rows:
        values: dict[str, Any] = {}
        for j, measure in enumerate(plan.measures):
            value = row._mapping[f"m{j}"]
            if measure.currency:
                low, high = row._mapping[f"cmin{j}"], row._mapping[f"cmax{j}"]
                if low != high:  # several currencies: summed apart below
                    mixed.add(j)
                    value = {}
                else:
                    value = {} if low is None or value is None else {low: value}
            values[measure.key] = value
        reps = {
            i: row._mapping[f"rep{i}"] for i, d in enumerate(plan.dimensions) if d.kind == "text"
        }
        figures[_key(row, plan, statement.top)] = Figures(row._mapping["_n"], values, reps)
    for j in sorted(mixed):
        _per_currency(plan, session, company_currency, j, figures)
    return figures


def _per_currency(
    plan: Plan, session: Session, company_currency: str, index: int, figures: dict[Key, Figures]
) -> None:
    """Fill one currency measure per currency, for every group (one more statement)."""
    statement = _grouped(plan, company_currency, by_currency=index)
    rows = _execute(session, statement.sql)
    if len(rows) > MAX_ROWS:
        raise _too_many()
    key = plan.measures[index].key
    for row in rows:
        found = figures.get(_key(row, plan, statement.top))
        value = row._mapping[f"m{index}"]
        if found is not None and value is not None:
            found.values[key][row._mapping["cur"]] = value


# ---- labels ------------------------------------------------------------------------------------


def next_period(start: dt.date, granularity: str) -> dt.date:
    """The first day after the period that starts on ``start``."""
    if granularity == "day":
        return start + dt.timedelta(days=1)
    if granularity == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[granularity]
    month = start.month - 1 + months
    return dt.date(start.year + month // 12, month % 12 + 1, 1)


def period_label(start: dt.date, granularity: str, locale: str) -> str:
    """``2026-11-23`` / ``2026-W48`` / ``2026-11`` / ``2026 Q4`` / ``2026``, or in Chinese
    ``2026年11月23日`` / ``2026年第48周`` / ``2026年11月`` / ``2026年第4季度`` / ``2026年``.
    A week is the ISO week (Monday to Sunday) and carries its ISO year."""
    zh = locale.startswith("zh")
    year, month = start.year, start.month
    if granularity == "day":
        return f"{year}年{month}月{start.day}日" if zh else start.isoformat()
    if granularity == "week":
        iso_year, week, _day = start.isocalendar()
        return f"{iso_year}年第{week}周" if zh else f"{iso_year}-W{week:02d}"
    if granularity == "month":
        return f"{year}年{month}月" if zh else f"{year}-{month:02d}"
    if granularity == "quarter":
        quarter = (month - 1) // 3 + 1
        return f"{year}年第{quarter}季度" if zh else f"{year} Q{quarter}"
    return f"{year}年" if zh else str(year)


def _names_of_users(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {row.id: row.name or row.email for row in rows}


def names_of_records(plan: Plan, session: Session, target: str | None, ids: set[int]) -> dict:
    """Names of linked records the member may see (a record outside their data scope, or in
    the recycle bin, keeps only its id)."""
    schema = schemas(current_tenant_id()).get(target or "")
    if schema is None or not ids:
        return {}
    stmt, resolver = query.base_query(schema, plan.actor, QuerySpec(ids=sorted(ids)), plan.timezone)
    model = resolver.entity
    return dict(session.execute(stmt.with_only_columns(model.id, model.name)).all())


class Labeller:
    """Text of group keys in the report's language."""

    def __init__(self, plan: Plan, session: Session, locale: str):
        self.plan = plan
        self.session = session
        self.locale = locale
        self.users: dict[int, str] = {}
        self.records: dict[str | None, dict[int, str]] = {}
        with force_locale(locale):  # once: switching the locale reloads the catalogue
            self.others, self.empty = _("Others"), _("(empty)")
            self.yes, self.no = _("Yes"), _("No")

    def prepare(self, dimension: Dimension, tokens: Iterable[Any]) -> None:
        """Read the names a dimension's keys need, once for all of them."""
        ids = {t for t in tokens if isinstance(t, int) and not isinstance(t, bool)}
        if dimension.kind == "user":
            self.users.update(_names_of_users(self.session, ids - set(self.users)))
        elif dimension.kind == "reference":
            known = self.records.setdefault(dimension.target, {})
            known.update(
                names_of_records(self.plan, self.session, dimension.target, ids - set(known))
            )

    def label(self, dimension: Dimension, token: Any, rep: str | None = None) -> str:
        if token is OTHERS:
            return self.others
        if token is None:
            return self.empty
        kind = dimension.kind
        if kind == "boolean":
            return self.yes if token else self.no
        if kind == "choice":
            spec = dimension.resolved.spec
            choice = spec.choice(token) if spec is not None else None
            return choice.label(self.locale) if choice is not None else str(token)
        if kind == "text":
            return rep if rep is not None else str(token)
        if kind in ("date", "datetime"):
            return period_label(token, dimension.granularity or "day", self.locale)
        if kind == "number":
            from babel.numbers import format_decimal

            return format_decimal(token, locale=self.locale, decimal_quantization=False)
        if kind == "user":
            return self.users.get(token) or f"#{token}"
        if kind == "reference":
            return self.records.get(dimension.target, {}).get(token) or f"#{token}"
        return str(token)


def field_label(plan: Plan, path: str, locale: str) -> str:
    """A field path as people read it: ``Customer › Industry`` through a lookup."""
    schema = plan.schema
    parts = path.split(".")
    labels = []
    for part in parts:
        if schema is None:
            labels.append(part)
            continue
        if part in query.SYSTEM_FIELDS:
            _kind, _column, en, zh = query.SYSTEM_FIELDS[part]
            labels.append(zh if locale.startswith("zh") else en)
            schema = None
            continue
        info = schema.field(part)
        labels.append(info.spec.label(locale) if info is not None else part)
        target = info.spec.options.get("target") if info is not None else None
        schema = schemas(current_tenant_id()).get(target) if target else None
    return " › ".join(labels)


def measure_label(plan: Plan, measure: Measure, locale: str) -> str:
    aggregate = measure.aggregate
    with force_locale(locale):
        if aggregate.fn == "count" and not aggregate.field:
            return _("Record count")
        name = field_label(plan, aggregate.field or "", locale)
        if aggregate.fn == "count":
            return _("Count of %(field)s", field=name)
        if aggregate.fn == "count_distinct":
            return _("Distinct %(field)s", field=name)
        if aggregate.fn == "sum":
            return _("Sum of %(field)s", field=name)
        if aggregate.fn == "avg":
            return _("Average %(field)s", field=name)
        if aggregate.fn == "min":
            return _("Smallest %(field)s", field=name)
        if aggregate.fn == "max":
            return _("Largest %(field)s", field=name)
        weight = field_label(plan, aggregate.weight or "", locale)
        return _("Sum of %(field)s × %(weight)s", field=name, weight=weight)


# ---- the result --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A figure or key as JSON: exact decimals as strings, dates as ISO text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    return value


@dataclass
class GroupRow:
    """A group (or the grand total, ``level`` 0): its key and label, record count, aggregates,
    shares of the grand total, the list filter selecting its records, and its sub-groups."""

    level: int
    key: Any
    label: str
    count: int
    values: dict[str, Any]
    percents: dict[str, Any] = field(default_factory=dict)
    drill: Any = None
    others: bool = False
    children: list[GroupRow] = field(default_factory=list)

    def child(self, key: Any) -> GroupRow | None:
        return next((c for c in self.children if c.key == key and not c.others), None)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": None if self.others else _plain(self.key),
            "label": self.label,
            "count": self.count,
            "values": {k: _plain(v) for k, v in self.values.items()},
            "drill": self.drill,
        }
        if self.others:
            body["others"] = True
        if self.percents:
            body["percents"] = {k: _plain(v) for k, v in self.percents.items()}
        if self.children:
            body["children"] = [c.to_json() for c in self.children]
        return body


@dataclass
class Cell:
    """A matrix cell: row keys × column keys (either may be a subtotal's shorter path)."""

    row: tuple[Any, ...]
    column: tuple[Any, ...]
    count: int
    values: dict[str, Any]
    percents: dict[str, Any]
    drill: Any

    def to_json(self) -> dict[str, Any]:
        def keys(path: tuple[Any, ...]) -> list[Any]:
            return [{"others": True} if k is OTHERS else _plain(k) for k in path]

        body = {
            "row": keys(self.row),
            "column": keys(self.column),
            "count": self.count,
            "values": {k: _plain(v) for k, v in self.values.items()},
            "drill": self.drill,
        }
        if self.percents:
            body["percents"] = {k: _plain(v) for k, v in self.percents.items()}
        return body


@dataclass
class Result:
    """What a report run answers; :meth:`to_json` is the API's form."""

    spec: ReportSpec
    timezone: str
    locale: str
    currency: str
    groups: list[dict[str, Any]]
    column_groups: list[dict[str, Any]]
    aggregates: list[dict[str, Any]]
    total: GroupRow
    rows: list[GroupRow] = field(default_factory=list)
    columns: list[GroupRow] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    #: Tabular reports: the page of records and its cursor.
    records: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None

    def find(self, *path: Any) -> GroupRow | None:
        """The row group at ``path`` (keys from the first level down); ``OTHERS`` for others."""
        nodes, found = self.rows, None
        for key in path:
            found = next(
                (
                    n
                    for n in nodes
                    if (n.others if key is OTHERS else n.key == key and not n.others)
                ),
                None,
            )
            if found is None:
                return None
            nodes = found.children
        return found

    def column(self, *path: Any) -> GroupRow | None:
        nodes, found = self.columns, None
        for key in path:
            found = next((n for n in nodes if n.key == key and not n.others), None)
            if found is None:
                return None
            nodes = found.children
        return found

    def cell(self, row: tuple[Any, ...], column: tuple[Any, ...]) -> Cell | None:
        return next((c for c in self.cells if c.row == row and c.column == column), None)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.spec.type,
            "object": self.spec.object,
            "timezone": self.timezone,
            "locale": self.locale,
            "currency": self.currency,
            "aggregates": self.aggregates,
            "total": self.total.to_json(),
        }
        if self.spec.type == "tabular":
            body["columns"] = self.groups
            body["records"] = self.records
            body["next_cursor"] = self.next_cursor
            return body
        body["groups"] = self.groups
        body["rows"] = [r.to_json() for r in self.rows]
        if self.spec.type == "matrix":
            body["column_groups"] = self.column_groups
            body["columns"] = [c.to_json() for c in self.columns]
            body["cells"] = [c.to_json() for c in self.cells]
        if self.spec.chart is not None:
            body["chart"] = self.spec.chart.to_json()
        return body


# ---- drill-down --------------------------------------------------------------------------------


def tree_json(node: Any) -> Any:
    """A parsed filter as the JSON tree form (numbered conditions and URL filters included)."""
    if node is None:
        return None
    if isinstance(node, Group):
        if node.op == "not":
            return {"not": tree_json(node.children[0])}
        return {node.op: [tree_json(c) for c in node.children]}
    assert isinstance(node, Condition)
    body: dict[str, Any] = {"field": node.field, "op": node.op}
    if node.value is not None:
        body["value"] = node.value
    return body


def _moment(day: dt.date, timezone: str) -> str:
    """Local midnight of ``day`` as ISO 8601 with its offset (a day's start, DST included)."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone)).isoformat()


def _key_value(dimension: Dimension, token: Any, rep: str | None) -> Any:
    if dimension.kind == "text":
        return rep if rep is not None else token
    if isinstance(token, Decimal):
        return format(token, "f")
    return token


def conditions(dimension: Dimension, token: Any, rep: str | None, timezone: str) -> list[Any]:
    """The list-filter conditions selecting the records of one group key."""
    path = dimension.path
    if token is None:
        return [{"field": path, "op": "is_empty"}]
    if dimension.kind in ("date", "datetime"):
        end = next_period(token, dimension.granularity or "day")
        if dimension.kind == "date":
            start_value, end_value = token.isoformat(), end.isoformat()
        else:
            start_value, end_value = _moment(token, timezone), _moment(end, timezone)
        return [
            {"field": path, "op": "gte", "value": start_value},
            {"field": path, "op": "lt", "value": end_value},
        ]
    return [{"field": path, "op": "eq", "value": _key_value(dimension, token, rep)}]


def others_conditions(
    dimension: Dimension, tops: list[tuple[Any, str | None]], timezone: str
) -> list[Any]:
    """Records of none of the top groups: NOT (key in the top keys OR the key is empty when
    the empty group is among them). NOT also keeps empty values when they are not."""
    path = dimension.path
    values = [_key_value(dimension, t, rep) for t, rep in tops if t is not None]
    parts: list[Any] = []
    if values:
        if "in" in dimension.resolved.operators:
            parts.append({"field": path, "op": "in", "value": values})
        else:
            parts.extend({"field": path, "op": "eq", "value": v} for v in values)
    if any(t is None for t, _rep in tops):
        parts.append({"field": path, "op": "is_empty"})
    return [{"not": parts[0] if len(parts) == 1 else {"or": parts}}]


def drill_filter(source: Any, extra: list[Any]) -> Any:
    """The report's filter AND ``extra``: one flat AND where the filter is one already."""
    if isinstance(source, Group) and source.op == "and":
        parts = [tree_json(c) for c in source.children]
    elif source is None:
        parts = []
    else:
        parts = [tree_json(source)]
    parts += extra
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"and": parts}


# ---- building ----------------------------------------------------------------------------------


def _percent(value: Any, total: Any) -> Decimal | None:
    if value is None or total in (None, 0):
        return None
    return (Decimal(value) * 100 / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _percents(plan: Plan, values: dict[str, Any], total: dict[str, Any]) -> dict[str, Any]:
    shares: dict[str, Any] = {}
    for measure in plan.measures:
        if not measure.aggregate.percent_of_total:
            continue
        value, whole = values.get(measure.key), total.get(measure.key)
        if measure.currency:
            shares[measure.key] = {
                code: _percent(amount, (whole or {}).get(code))
                for code, amount in (value or {}).items()
            }
        else:
            shares[measure.key] = _percent(value, whole)
    return shares


def _empty_values(plan: Plan) -> dict[str, Any]:
    return {
        m.key: ({} if m.currency else 0 if m.fn in ("count", "count_distinct") else None)
        for m in plan.measures
    }


def sort_value(measure: Measure, value: Any, company_currency: str) -> Any:
    """What groups are ranked by: an amount in the company's currency for currency figures."""
    if measure.currency:
        return (value or {}).get(company_currency)
    return value


def _key_order(dimension: Dimension, node: GroupRow) -> tuple[Any, ...]:
    kind = dimension.kind
    if kind == "choice":
        spec = dimension.resolved.spec
        codes = [c.code for c in spec.choices] if spec is not None else []
        index = codes.index(node.key) if node.key in codes else len(codes)
        return (index, str(node.key))
    if kind in ("text", "user", "reference"):
        return (node.label.casefold(), node.label, str(node.key))
    return (node.key,)


def _ordered(
    dimension: Dimension, nodes: list[GroupRow], measures: dict[str, Measure], currency: str
) -> list[GroupRow]:
    """Siblings in the level's order. By key: the field's order (picklist order, dates, names),
    the empty group after the others. By an aggregate: its value, groups without one last,
    ties in key order. "Others" comes last either way."""
    grouping = dimension.grouping
    others = [n for n in nodes if n.others]
    rest = [n for n in nodes if not n.others]
    keyed = sorted((n for n in rest if n.key is not None), key=lambda n: _key_order(dimension, n))
    empty = [n for n in rest if n.key is None]
    if grouping.sort == "key":
        if grouping.desc:
            keyed.reverse()
        return keyed + empty + others
    measure = measures[grouping.sort]
    candidates = keyed + empty

    def value(node: GroupRow) -> Any:
        return sort_value(measure, node.values.get(measure.key), currency)

    valued = [n for n in candidates if value(n) is not None]
    valued.sort(key=value, reverse=grouping.desc)  # stable: ties stay in key order
    return valued + [n for n in candidates if value(n) is None] + others


def _build(
    plan: Plan, session: Session, figures: dict[Key, Figures], currency: str, locale: str
) -> Result:
    labeller = Labeller(plan, session, locale)
    dims = plan.dimensions
    split = len(plan.rows)
    tokens: list[set[Any]] = [set() for _ in dims]
    reps: list[dict[Any, str]] = [{} for _ in dims]
    for (row_path, column_path), found in figures.items():
        for part, offset in ((row_path, 0), (column_path, split)):
            for i, token in enumerate(part):
                tokens[offset + i].add(token)
                if dims[offset + i].kind == "text" and found.reps.get(offset + i) is not None:
                    reps[offset + i].setdefault(token, found.reps[offset + i])
    for dimension, found_tokens in zip(dims, tokens, strict=True):
        labeller.prepare(dimension, found_tokens)
    whole = figures.get(((), ()))
    total_values = whole.values if whole is not None else _empty_values(plan)
    measures = {m.key: m for m in plan.measures}
    tops: list[tuple[Any, str | None]] = [
        (path[0], reps[0].get(path[0]))
        for path, column_path in figures
        if len(path) == 1 and not column_path and path[0] is not OTHERS
    ]

    def level_conditions(offset: int, path: tuple[Any, ...]) -> list[Any]:
        out: list[Any] = []
        for i, token in enumerate(path):
            dimension = dims[offset + i]
            if token is OTHERS:
                out += others_conditions(dimension, tops, plan.timezone)
            else:
                rep = reps[offset + i].get(token)
                out += conditions(dimension, token, rep, plan.timezone)
        return out

    def node(offset: int, path: tuple[Any, ...], found: Figures) -> GroupRow:
        dimension = dims[offset + len(path) - 1]
        token = path[-1]
        extra = level_conditions(0, path) if offset == 0 else level_conditions(split, path)
        return GroupRow(
            level=len(path),
            key=None if token is OTHERS else token,
            label=labeller.label(dimension, token, reps[offset + len(path) - 1].get(token)),
            count=found.count,
            values=found.values,
            percents=_percents(plan, found.values, total_values),
            drill=drill_filter(plan.tree, extra),
            others=token is OTHERS,
        )

    def tree(offset: int, levels: int, pick) -> list[GroupRow]:
        by_path: dict[tuple[Any, ...], GroupRow] = {}
        roots: list[GroupRow] = []
        for length in range(1, levels + 1):
            for path, found in pick(length):
                made = node(offset, path, found)
                by_path[path] = made
                parent = by_path.get(path[:-1]) if length > 1 else None
                (parent.children if parent is not None else roots).append(made)
        return _sort_tree(roots, dims[offset : offset + levels], measures, currency)

    rows = tree(
        0,
        len(plan.rows),
        lambda n: [(r, f) for (r, c), f in figures.items() if len(r) == n and not c],
    )
    columns = tree(
        split,
        len(plan.columns),
        lambda n: [(c, f) for (r, c), f in figures.items() if len(c) == n and not r],
    )
    cells = [
        Cell(
            r,
            c,
            f.count,
            f.values,
            _percents(plan, f.values, total_values),
            drill_filter(plan.tree, level_conditions(0, r) + level_conditions(split, c)),
        )
        for (r, c), f in figures.items()
        if r and c
    ]
    first = plan.rows[0].grouping if plan.rows else None
    if first is not None and first.top is not None and not first.others:
        rows = [r for r in rows if not r.others]
        cells = [c for c in cells if c.row[0] is not OTHERS]
    # Cells in the order of their row, then of their column.
    row_order = {path: i for i, path in enumerate(_paths(rows))}
    column_order = {path: i for i, path in enumerate(_paths(columns))}
    cells.sort(key=lambda c: (row_order.get(c.row, 0), column_order.get(c.column, 0)))
    with force_locale(locale):
        total_label = _("Total")
    total = GroupRow(
        level=0,
        key=None,
        label=total_label,
        count=whole.count if whole is not None else 0,
        values=total_values,
        percents=_percents(plan, total_values, total_values),
        drill=drill_filter(plan.tree, []),
    )
    return Result(
        spec=plan.spec,
        timezone=plan.timezone,
        locale=locale,
        currency=currency,
        groups=[_dimension_json(plan, d, locale) for d in plan.rows],
        column_groups=[_dimension_json(plan, d, locale) for d in plan.columns],
        aggregates=[_measure_json(plan, m, locale) for m in plan.measures],
        total=total,
        rows=rows,
        columns=columns,
        cells=cells,
    )


def _paths(nodes: list[GroupRow], path: tuple[Any, ...] = ()) -> Iterable[tuple[Any, ...]]:
    for item in nodes:
        here = (*path, OTHERS if item.others else item.key)
        yield here
        yield from _paths(item.children, here)


def _sort_tree(
    nodes: list[GroupRow], dims: list[Dimension], measures: dict[str, Measure], currency: str
) -> list[GroupRow]:
    if not dims:
        return nodes
    ordered = _ordered(dims[0], nodes, measures, currency)
    for item in ordered:
        item.children = _sort_tree(item.children, dims[1:], measures, currency)
    return ordered


def _dimension_json(plan: Plan, dimension: Dimension, locale: str) -> dict[str, Any]:
    return {
        "field": dimension.path,
        "label": field_label(plan, dimension.path, locale),
        "kind": dimension.kind,
        "granularity": dimension.granularity,
    }


def _measure_json(plan: Plan, measure: Measure, locale: str) -> dict[str, Any]:
    aggregate = measure.aggregate
    return {
        "key": measure.key,
        "fn": aggregate.fn,
        "field": aggregate.field,
        "weight": aggregate.weight,
        "label": measure_label(plan, measure, locale),
        "currency": measure.currency,
        "percent_of_total": aggregate.percent_of_total,
    }
