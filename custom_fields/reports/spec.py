"""The report definition: plain dataclasses, loaded from (and dumped to) JSON by a marshmallow
schema whose errors name the place, e.g. ``groups[1].granularity``.

What the schema checks here needs no database: shapes, names of functions and granularities,
limits, and that the parts refer to each other correctly (a sort or a chart names an aggregate
the report has, a top N ranks by an aggregate). Whether a field exists, what type it has and
whether the user may see it is the engine's check
(:func:`custom_fields.reports.engine.compile_spec`), with the same error keys.

The JSON form (``version`` 1)::

    {
      "version": 1,
      "object": "opportunity",
      "type": "summary",                      # tabular | summary | matrix
      "filter": {...},                        # the list views' filter JSON (any of its forms)
      "columns": ["name", "amount"],          # tabular: the fields shown
      "sort": [{"field": "amount", "dir": "desc"}],   # tabular: the list views' sort
      "limit": 200,                           # tabular: rows per page
      "groups": [                             # summary: 1-3 row groups; matrix: 1-2 row groups
        {"field": "stage", "sort": "sum_amount", "dir": "desc", "top": 5, "others": true},
        {"field": "expected_close", "granularity": "month"}
      ],
      "column_groups": [{"field": "owner_id"}],   # matrix: 1-2 column groups
      "aggregates": [
        {"fn": "count"},
        {"fn": "sum", "field": "amount", "percent_of_total": true},
        {"fn": "weighted_sum", "field": "amount", "weight": "probability"}
      ],
      "chart": {"type": "bar", "aggregate": "sum_amount"}
    }

An aggregate's ``key`` (how sorts, charts and results name it) defaults to ``fn`` and the field
path joined by ``_`` (``sum_amount``, ``count``, ``weighted_sum_amount_probability``; a dot of a
lookup path becomes ``__``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from saas.errors import DomainError, ValidationFailed

VERSION = 1
TYPES = ("tabular", "summary", "matrix")
GRANULARITIES = ("day", "week", "month", "quarter", "year")
FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max", "weighted_sum")
#: Aggregates whose share of the grand total means something.
ADDITIVE = frozenset({"count", "count_distinct", "sum", "weighted_sum"})
CHARTS = ("bar", "stacked_bar", "line", "pie", "donut", "funnel")
MAX_SUMMARY_LEVELS = 3
MAX_MATRIX_LEVELS = 2
MAX_AGGREGATES = 20
MAX_COLUMNS = 50
MAX_TOP = 100
MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
_PATH = r"^[a-z][a-z0-9_]{0,59}(\.[a-z][a-z0-9_]{0,59})?$"
_KEY = r"^[a-z][a-z0-9_]{0,119}$"


@dataclass(frozen=True)
class Grouping:
    """One grouping level: a field (``account.industry`` reaches through a lookup), its date
    granularity, how its groups sort (``"key"`` or an aggregate's key), and an optional top N
    (first row level only) whose rest form an "Others" group or are left out."""

    field: str
    granularity: str | None = None
    sort: str = "key"
    desc: bool = False
    top: int | None = None
    others: bool = True

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"field": self.field}
        if self.granularity:
            body["granularity"] = self.granularity
        if self.sort != "key":
            body["sort"] = self.sort
        if self.desc:
            body["dir"] = "desc"
        if self.top is not None:
            body["top"] = self.top
            body["others"] = self.others
        return body


@dataclass(frozen=True)
class Aggregate:
    """A figure per group: ``fn`` over ``field`` (none for a plain count); ``weighted_sum`` is
    the sum of ``field`` × ``weight`` (÷ 100 when the weight is a percent)."""

    fn: str
    field: str | None = None
    weight: str | None = None
    percent_of_total: bool = False
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"fn": self.fn}
        if self.field:
            body["field"] = self.field
        if self.weight:
            body["weight"] = self.weight
        if self.percent_of_total:
            body["percent_of_total"] = True
        if self.key != default_key(self.fn, self.field, self.weight):
            body["key"] = self.key
        return body


@dataclass(frozen=True)
class Chart:
    """How the report is drawn (stored for the pages; the engine ignores it)."""

    type: str
    aggregate: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type}
        if self.aggregate:
            body["aggregate"] = self.aggregate
        return body


@dataclass(frozen=True)
class ReportSpec:
    """A report definition. ``filter`` is kept as written (the list views' JSON) so that a
    stored definition reads back the way its author wrote it."""

    object: str
    type: str
    filter: Any = None
    columns: tuple[str, ...] = ()
    sort: Any = None
    limit: int = DEFAULT_LIMIT
    groups: tuple[Grouping, ...] = ()
    column_groups: tuple[Grouping, ...] = ()
    aggregates: tuple[Aggregate, ...] = field(default_factory=tuple)
    chart: Chart | None = None
    version: int = VERSION

    def aggregate(self, key: str) -> Aggregate | None:
        return next((a for a in self.aggregates if a.key == key), None)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"version": self.version, "object": self.object, "type": self.type}
        if self.filter is not None:
            body["filter"] = self.filter
        if self.type == "tabular":
            body["columns"] = list(self.columns)
            if self.sort:
                body["sort"] = self.sort
            body["limit"] = self.limit
        else:
            body["groups"] = [g.to_json() for g in self.groups]
        if self.type == "matrix":
            body["column_groups"] = [g.to_json() for g in self.column_groups]
        body["aggregates"] = [a.to_json() for a in self.aggregates]
        if self.chart is not None:
            body["chart"] = self.chart.to_json()
        return body


def default_key(fn: str, field_path: str | None, weight: str | None = None) -> str:
    parts = [fn, *(p for p in (field_path, weight) if p)]
    return "_".join(parts).replace(".", "__")


# ---- the schema ------------------------------------------------------------------------------

_MESSAGES = {
    "required": _l("Required."),
    "null": _l("Required."),
}


def _string(**kw: Any) -> fields.String:
    return fields.String(error_messages={**_MESSAGES, "invalid": _l("Enter text.")}, **kw)


def _integer(**kw: Any) -> fields.Integer:
    return fields.Integer(
        strict=True, error_messages={**_MESSAGES, "invalid": _l("Enter a whole number.")}, **kw
    )


def _boolean(**kw: Any) -> fields.Boolean:
    return fields.Boolean(
        truthy={True},
        falsy={False},
        error_messages={**_MESSAGES, "invalid": _l("Enter true or false.")},
        **kw,
    )


def _one_of(choices: tuple[str, ...]) -> validate.OneOf:
    return validate.OneOf(choices, error=_l("Choose one of: {choices}."))


def _path(**kw: Any) -> fields.String:
    return _string(
        validate=validate.Regexp(_PATH, error=_l("Name a field, or a lookup and its field.")), **kw
    )


class _Strict(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": _l("Unknown key."), "type": _l("Expected an object.")}


class GroupingSchema(_Strict):
    field = _path(required=True)
    granularity = _string(validate=_one_of(GRANULARITIES), allow_none=True, load_default=None)
    sort = _string(
        load_default="key",
        validate=validate.Regexp(_KEY, error=_l("“key” or the key of an aggregate.")),
    )
    dir = _string(load_default="asc", validate=_one_of(("asc", "desc")))
    top = _integer(
        allow_none=True,
        load_default=None,
        validate=validate.Range(1, MAX_TOP, error=_l("From {min} to {max}.")),
    )
    others = _boolean(load_default=True)

    @post_load
    def _make(self, data: dict[str, Any], **_kw: Any) -> Grouping:
        return Grouping(
            field=data["field"],
            granularity=data["granularity"],
            sort=data["sort"],
            desc=data["dir"] == "desc",
            top=data["top"],
            others=data["others"],
        )


class AggregateSchema(_Strict):
    fn = _string(required=True, validate=_one_of(FUNCTIONS))
    field = _path(allow_none=True, load_default=None)
    weight = _path(allow_none=True, load_default=None)
    percent_of_total = _boolean(load_default=False)
    key = _string(
        allow_none=True,
        load_default=None,
        validate=validate.Regexp(_KEY, error=_l("Lower-case letters, digits and “_”.")),
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kw: Any) -> None:
        fn = data.get("fn")
        if fn in ("sum", "avg", "min", "max", "count_distinct", "weighted_sum") and not data.get(
            "field"
        ):
            raise ValidationError(_l("Name the field to aggregate."), "field")
        if fn == "weighted_sum" and not data.get("weight"):
            raise ValidationError(_l("Name the field that weighs the values."), "weight")
        if fn != "weighted_sum" and data.get("weight"):
            raise ValidationError(_l("Only a weighted sum has a weight."), "weight")
        if data.get("percent_of_total") and fn not in ADDITIVE:
            raise ValidationError(
                _l("A share of the total is offered for counts and sums."), "percent_of_total"
            )

    @post_load
    def _make(self, data: dict[str, Any], **_kw: Any) -> Aggregate:
        return Aggregate(
            fn=data["fn"],
            field=data["field"],
            weight=data["weight"],
            percent_of_total=data["percent_of_total"],
            key=data["key"] or default_key(data["fn"], data["field"], data["weight"]),
        )


class ChartSchema(_Strict):
    type = _string(required=True, validate=_one_of(CHARTS))
    aggregate = _string(allow_none=True, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_kw: Any) -> Chart:
        return Chart(data["type"], data["aggregate"])


class ReportSchema(_Strict):
    """Loads a report definition from JSON into a :class:`ReportSpec`."""

    version = _integer(load_default=VERSION, validate=validate.Equal(VERSION, error=_l("Use 1.")))
    object = _string(
        required=True,
        validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,59}$", error=_l("Name an object.")),
    )
    type = _string(required=True, validate=_one_of(TYPES))
    filter = fields.Raw(allow_none=True, load_default=None)
    columns = fields.List(
        _path(),
        load_default=list,
        validate=validate.Length(max=MAX_COLUMNS, error=_l("At most {max}.")),
    )
    sort = fields.Raw(allow_none=True, load_default=None)
    limit = _integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(1, MAX_LIMIT, error=_l("From {min} to {max}.")),
    )
    groups = fields.List(fields.Nested(GroupingSchema), load_default=list)
    column_groups = fields.List(fields.Nested(GroupingSchema), load_default=list)
    aggregates = fields.List(
        fields.Nested(AggregateSchema),
        load_default=list,
        validate=validate.Length(max=MAX_AGGREGATES, error=_l("At most {max}.")),
    )
    chart = fields.Nested(ChartSchema, allow_none=True, load_default=None)

    @validates_schema(skip_on_field_errors=True)
    def _consistent(self, data: dict[str, Any], **_kw: Any) -> None:
        errors: dict[str, Any] = {}
        kind = data["type"]
        groups, columns = data["groups"], data["column_groups"]
        if kind == "tabular":
            if not data["columns"]:
                errors["columns"] = [_l("A tabular report shows at least one column.")]
            if groups or columns:
                errors["groups"] = [_l("A tabular report has no groups.")]
        else:
            if data["columns"]:
                errors["columns"] = [_l("Only a tabular report lists columns.")]
            if data["sort"] is not None:
                errors["sort"] = [_l("Groups sort by their own “sort”.")]
            most = MAX_SUMMARY_LEVELS if kind == "summary" else MAX_MATRIX_LEVELS
            if not 1 <= len(groups) <= most:
                errors["groups"] = [_l("From 1 to %(n)d groups.", n=most)]
            if kind == "matrix" and not 1 <= len(columns) <= MAX_MATRIX_LEVELS:
                errors["column_groups"] = [_l("From 1 to %(n)d groups.", n=MAX_MATRIX_LEVELS)]
            if kind == "summary" and columns:
                errors["column_groups"] = [_l("Only a matrix has column groups.")]
        aggregates = data["aggregates"] or [Aggregate("count", key="count")]
        keys: set[str] = set()
        for i, aggregate in enumerate(aggregates):
            if aggregate.key in keys:
                errors.setdefault("aggregates", {})[i] = {
                    "key": [_l("Another aggregate has this key; give one a “key”.")]
                }
            keys.add(aggregate.key)
        for name, levels in (("groups", groups), ("column_groups", columns)):
            level_errors: dict[int, Any] = {}
            for i, grouping in enumerate(levels):
                if grouping.sort != "key" and grouping.sort not in keys:
                    level_errors[i] = {"sort": [_l("“key” or the key of an aggregate.")]}
                elif grouping.top is not None and (name != "groups" or i != 0):
                    level_errors[i] = {"top": [_l("Only the first row group takes a top N.")]}
                elif grouping.top is not None and grouping.sort == "key":
                    level_errors[i] = {
                        "top": [_l("A top N ranks groups by an aggregate: sort by one.")]
                    }
            if level_errors and name not in errors:
                errors[name] = level_errors
        chart = data["chart"]
        if chart is not None and chart.aggregate is not None and chart.aggregate not in keys:
            errors["chart"] = {"aggregate": [_l("The key of one of the report's aggregates.")]}
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **_kw: Any) -> ReportSpec:
        return ReportSpec(
            version=data["version"],
            object=data["object"],
            type=data["type"],
            filter=data["filter"],
            columns=tuple(data["columns"]),
            sort=data["sort"],
            limit=data["limit"],
            groups=tuple(data["groups"]),
            column_groups=tuple(data["column_groups"]),
            aggregates=tuple(data["aggregates"] or [Aggregate("count", key="count")]),
            chart=data["chart"],
        )


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested errors as ``{"groups[1].field": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                where = prefix or "spec"
            elif isinstance(key, int):
                where = f"{prefix}[{key}]"
            else:
                where = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten(value, where).items():
                out.setdefault(k, []).extend(v)
        return out
    if isinstance(messages, (list, tuple)):
        texts: list[str] = []
        for item in messages:
            if isinstance(item, (Mapping, list, tuple)):
                for k, v in flatten(item, prefix).items():
                    out.setdefault(k, []).extend(v)
            else:
                texts.append(str(item))
        if texts:
            out.setdefault(prefix or "spec", []).extend(texts)
        return out
    out.setdefault(prefix or "spec", []).append(str(messages))
    return out


def load(raw: Any) -> ReportSpec:
    """A :class:`ReportSpec` from its JSON; :class:`ValidationFailed` names every problem."""
    from custom_fields.query.engine import parse_sort
    from custom_fields.query.filters import parse_tree

    if isinstance(raw, ReportSpec):
        return raw
    if not isinstance(raw, Mapping):
        raise ValidationFailed({"spec": [str(_l("Expected an object."))]})
    try:
        spec = ReportSchema().load(dict(raw))
    except ValidationError as exc:
        raise ValidationFailed(flatten(exc.messages)) from None
    errors: dict[str, list[str]] = {}
    try:
        parse_tree(spec.filter)
    except DomainError as exc:
        for key, messages in getattr(exc, "errors", {exc.field or "filter": [exc.message]}).items():
            where = "filter" if key == "filter" else f"filter.{key}"
            errors.setdefault(where, []).extend(messages)
    if spec.type == "tabular":
        try:
            parse_sort(spec.sort)
        except DomainError as exc:
            errors.setdefault("sort", []).append(exc.message)
    if errors:
        raise ValidationFailed(errors)
    return spec


def dump(spec: ReportSpec) -> dict[str, Any]:
    """The JSON form of a definition (what :func:`load` reads back to an equal spec)."""
    return spec.to_json()
