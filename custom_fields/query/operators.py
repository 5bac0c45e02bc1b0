"""The filter operators: one registry, each operator knowing its value shape and its SQL.

Which operators a field offers comes from its type (``FieldType.operators``) plus the system
fields' kinds below. Values are cleaned here per kind into Python values and always bound as
parameters; text matching is case-insensitive with ``%``, ``_`` and ``\\`` escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ARRAY, ColumnElement, Integer, String, and_, false, literal, not_, or_
from sqlalchemy.dialects.postgresql import JSONB, array

from custom_fields.query.dates import MAX_DAYS, RELATIVE, WITH_DAYS, day_range
from custom_fields.types import FieldSpec

MAX_LIST = 500
MAX_TEXT = 500
MAX_DECIMALS = 30
#: The range of a PostgreSQL bigint (integer fields, ids).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class ValueError_(ValueError):
    """A filter value that does not fit; ``message`` is shown to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Env:
    """What operators need beyond the value: the user's day and zone, and the user's teams."""

    today: dt.date
    timezone: str
    user_id: int
    #: Member user ids of the user's team, and of it and the teams below (SQL or lists).
    team_members: Callable[[], Sequence[int]]
    team_and_below_members: Callable[[], Sequence[int]]


@dataclass(frozen=True)
class Operator:
    """``arity``: none, one, two (between), list (in, includes) or days (last N days)."""

    name: str
    label: Any
    arity: str
    build: Callable[..., ColumnElement[bool]]


OPERATORS: dict[str, Operator] = {}


def operator(name: str, label: Any, arity: str):
    def wrap(fn: Callable[..., ColumnElement[bool]]) -> Callable[..., ColumnElement[bool]]:
        OPERATORS[name] = Operator(name, label, arity, fn)
        return fn

    return wrap


def _is_null(expr: ColumnElement[Any], kind: str) -> ColumnElement[bool]:
    if kind == "choices":
        return or_(expr.is_(None), expr == literal([], JSONB))
    if kind == "tags":
        return expr == literal([], ARRAY(String))
    return expr.is_(None)


def _or_null(clause: ColumnElement[bool], expr: ColumnElement[Any], kind: str):
    """Negative operators keep empty values: "not A" lists the records without a value too."""
    return or_(clause, _is_null(expr, kind))


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ilike(expr: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    return expr.ilike(pattern, escape="\\")


# ---- values per kind -------------------------------------------------------------------------


def _number(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        raise ValueError_(_("Enter a number."))
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise ValueError_(_("Enter a number.")) from exc
    # Beyond 30 digits either side of the point no stored value differs (and PostgreSQL's
    # numeric would refuse an exponent such as 1e-99999).
    if not value.is_finite() or abs(value) >= Decimal("1e30"):
        raise ValueError_(_("Enter a number."))
    if value and value.normalize().as_tuple().exponent < -MAX_DECIMALS:
        raise ValueError_(_("Enter a number with at most %(n)d decimals.", n=MAX_DECIMALS))
    return value


def _date(raw: Any) -> dt.date:
    if isinstance(raw, str) and len(raw.strip()) == 10:
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise ValueError_(_("Enter a date as YYYY-MM-DD."))


def _days(raw: Any) -> int:
    try:
        days = int(str(raw).strip()) if not isinstance(raw, bool) else 0
    except ValueError:
        days = 0
    if not 0 < days <= MAX_DAYS:
        raise ValueError_(_("Enter a number of days from 1 to %(n)d.", n=MAX_DAYS))
    return days


def _datetime(raw: Any, env: Env) -> dt.datetime | dt.date:
    """A moment, or a whole day (a date) in the user's zone."""
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) == 10:
            return _date(text)
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is not None:
            if value.tzinfo is None:
                value = value.replace(tzinfo=ZoneInfo(env.timezone))
            return value
    raise ValueError_(_("Enter a date (YYYY-MM-DD) or a date and time (ISO 8601)."))


def storable(text: str) -> bool:
    """Whether PostgreSQL can take ``text`` as a parameter: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise ValueError_(_("Enter some text."))
    text = str(raw).strip()
    if not text or not storable(text):
        raise ValueError_(_("Enter some text."))
    if len(text) > MAX_TEXT:
        raise ValueError_(_("Enter at most %(n)d characters.", n=MAX_TEXT))
    return text


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0"):
        return raw.strip().lower() in ("true", "1")
    raise ValueError_(_("Enter true or false."))


def _id(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError_(_("Enter a record id."))
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError) as exc:
        raise ValueError_(_("Enter a record id.")) from exc
    if not 0 < value < 2**63:
        raise ValueError_(_("Enter a record id."))
    return value


def _code(raw: Any, spec: FieldSpec | None) -> str:
    if not isinstance(raw, str) or spec is None or spec.choice(raw.strip()) is None:
        raise ValueError_(_("“%(value)s” is not one of the listed values.", value=str(raw)[:50]))
    return raw.strip()


def clean_value(kind: str, raw: Any, spec: FieldSpec | None, env: Env) -> Any:
    """One filter value as the kind's Python value; raises :class:`ValueError_`."""
    if kind == "number":
        return _number(raw)
    if kind == "date":
        return _date(raw)
    if kind == "datetime":
        return _datetime(raw, env)
    if kind == "boolean":
        return _boolean(raw)
    if kind in ("reference", "user", "id"):
        return _id(raw)
    if kind in ("choice", "choices"):
        return _code(raw, spec)
    return _text(raw)


def clean_values(kind: str, arity: str, raw: Any, spec: FieldSpec | None, env: Env) -> Any:
    """The value(s) an operator of ``arity`` takes."""
    if arity == "none":
        if raw not in (None, "", [], True):
            raise ValueError_(_("This operator takes no value."))
        return None
    if arity == "days":
        return _days(raw)
    # A text is one value even with commas in it: the URL form splits its lists itself.
    if arity == "two":
        if not isinstance(raw, (list, tuple)) or len(raw) != 2:
            raise ValueError_(_("Enter two values: from and to."))
        return tuple(clean_value(kind, item, spec, env) for item in raw)
    if arity == "list":
        if not isinstance(raw, (list, tuple)):
            raw = [raw]
        if not raw:
            raise ValueError_(_("Enter at least one value."))
        if len(raw) > MAX_LIST:
            raise ValueError_(_("Enter at most %(n)d values.", n=MAX_LIST))
        return [clean_value(kind, item, spec, env) for item in raw]
    if isinstance(raw, (list, dict)):
        raise ValueError_(_("Enter a single value."))
    return clean_value(kind, raw, spec, env)


# ---- moments: a date given for a date-and-time field means that whole day --------------------


def _local_midnight(day: dt.date, env: Env) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), ZoneInfo(env.timezone))


def _is_day(value: Any, kind: str) -> bool:
    return kind == "datetime" and isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _day(value: dt.date, env: Env) -> tuple[dt.datetime, dt.datetime | None]:
    """``[start, end)`` of a local day; no end after the last day Python knows (9999-12-31),
    which no stored moment reaches."""
    end = _local_midnight(value + dt.timedelta(days=1), env) if value < dt.date.max else None
    return _local_midnight(value, env), end


def _bind(expr: ColumnElement[Any], value: Any) -> ColumnElement[Any]:
    return literal(value, expr.type)


def _is_integer(expr: ColumnElement[Any], kind: str) -> bool:
    return kind == "number" and isinstance(expr.type, Integer)


def _whole(value: Decimal, rounding: str) -> int:
    return int(value.to_integral_value(rounding=rounding))


def _integer_compare(expr: ColumnElement[Any], op: str, value: Decimal) -> ColumnElement[bool]:
    """``expr op value`` for a whole-number column and any number: a fraction is moved to the
    whole number that gives the same answer (``n > 1.5`` is ``n > 1``, ``n >= 1.5`` is
    ``n >= 2``) and a bound beyond 64 bits answers without reaching PostgreSQL's bigint."""
    bound = _whole(value, ROUND_CEILING if op in ("lt", "gte") else ROUND_FLOOR)
    if bound > INT_MAX:
        return expr.is_not(None) if op in ("lt", "lte") else false()
    if bound < INT_MIN:
        return false() if op in ("lt", "lte") else expr.is_not(None)
    literal_bound = literal(bound, expr.type)
    return {
        "lt": lambda: expr < literal_bound,
        "lte": lambda: expr <= literal_bound,
        "gt": lambda: expr > literal_bound,
        "gte": lambda: expr >= literal_bound,
    }[op]()


def _integers(values: Sequence[Decimal]) -> list[int]:
    """The values a whole-number column can equal (fractions and huge numbers never)."""
    return [int(v) for v in values if v == v.to_integral_value() and INT_MIN <= int(v) <= INT_MAX]


# ---- the operators ---------------------------------------------------------------------------


@operator("eq", _l("equals"), "one")
def _eq(expr, kind, value, env):
    if kind == "text":
        return _ilike(expr, escape_like(value))
    if _is_day(value, kind):
        start, end = _day(value, env)
        after = expr >= _bind(expr, start)
        return after if end is None else and_(after, expr < _bind(expr, end))
    if _is_integer(expr, kind):
        whole = _integers([value])
        return expr == literal(whole[0], expr.type) if whole else false()
    return expr == _bind(expr, value)


@operator("ne", _l("does not equal"), "one")
def _ne(expr, kind, value, env):
    return _or_null(not_(_eq(expr, kind, value, env)), expr, kind)


def _compare(op: str):
    def build(expr, kind, value, env):
        if _is_day(value, kind):
            # A day: before it, up to its end, after its end, from its start.
            start, end = _day(value, env)
            if op == "lt":
                return expr < _bind(expr, start)
            if op == "gte":
                return expr >= _bind(expr, start)
            if end is None:
                return expr.is_not(None) if op == "lte" else false()
            return expr < _bind(expr, end) if op == "lte" else expr >= _bind(expr, end)
        if _is_integer(expr, kind):
            return _integer_compare(expr, op, value)
        bound = _bind(expr, value)
        return {
            "lt": lambda: expr < bound,
            "lte": lambda: expr <= bound,
            "gt": lambda: expr > bound,
            "gte": lambda: expr >= bound,
        }[op]()

    return build


for _name, _label in (
    ("lt", _l("is less than")),
    ("lte", _l("is at most")),
    ("gt", _l("is greater than")),
    ("gte", _l("is at least")),
):
    operator(_name, _label, "one")(_compare(_name))


@operator("between", _l("is between"), "two")
def _between(expr, kind, value, env):
    low, high = value
    return and_(_compare("gte")(expr, kind, low, env), _compare("lte")(expr, kind, high, env))


@operator("in", _l("is any of"), "list")
def _in(expr, kind, value, env):
    if kind == "text":
        return or_(*(_ilike(expr, escape_like(v)) for v in value))
    if kind == "datetime":
        return or_(*(_eq(expr, kind, v, env) for v in value))
    if _is_integer(expr, kind):
        value = _integers(value)
        if not value:
            return false()
    return expr.in_([_bind(expr, v) for v in value])


@operator("not_in", _l("is none of"), "list")
def _not_in(expr, kind, value, env):
    return _or_null(not_(_in(expr, kind, value, env)), expr, kind)


@operator("contains", _l("contains"), "one")
def _contains(expr, kind, value, env):
    return _ilike(expr, f"%{escape_like(value)}%")


@operator("not_contains", _l("does not contain"), "one")
def _not_contains(expr, kind, value, env):
    return _or_null(not_(_contains(expr, kind, value, env)), expr, kind)


@operator("starts_with", _l("starts with"), "one")
def _starts_with(expr, kind, value, env):
    return _ilike(expr, f"{escape_like(value)}%")


@operator("ends_with", _l("ends with"), "one")
def _ends_with(expr, kind, value, env):
    return _ilike(expr, f"%{escape_like(value)}")


@operator("is_empty", _l("is empty"), "none")
def _is_empty(expr, kind, value, env):
    return _is_null(expr, kind)


@operator("is_not_empty", _l("is not empty"), "none")
def _is_not_empty(expr, kind, value, env):
    return not_(_is_null(expr, kind))


def _array(values: list[str]) -> ColumnElement[Any]:
    return array([literal(v, String) for v in values], type_=String)


@operator("includes_any", _l("includes any of"), "list")
def _includes_any(expr, kind, value, env):
    if kind == "tags":
        return expr.overlap(_array(value))
    return expr.has_any(_array(value))


@operator("includes_all", _l("includes all of"), "list")
def _includes_all(expr, kind, value, env):
    if kind == "tags":
        return expr.contains(_array(value))
    return expr.has_all(_array(value))


@operator("excludes", _l("includes none of"), "list")
def _excludes(expr, kind, value, env):
    return _or_null(not_(_includes_any(expr, kind, value, env)), expr, kind)


# ---- relative dates --------------------------------------------------------------------------

RELATIVE_LABELS = {
    "today": _l("today"),
    "yesterday": _l("yesterday"),
    "tomorrow": _l("tomorrow"),
    "this_week": _l("this week"),
    "last_week": _l("last week"),
    "next_week": _l("next week"),
    "this_month": _l("this month"),
    "last_month": _l("last month"),
    "next_month": _l("next month"),
    "this_quarter": _l("this quarter"),
    "last_quarter": _l("last quarter"),
    "next_quarter": _l("next quarter"),
    "this_year": _l("this year"),
    "last_year": _l("last year"),
    "next_year": _l("next year"),
    "last_n_days": _l("in the last N days"),
    "next_n_days": _l("in the next N days"),
}


def _relative(name: str):
    def build(expr, kind, value, env):
        start, end = day_range(name, env.today, value)
        if kind == "datetime":
            start, end = _local_midnight(start, env), _local_midnight(end, env)
        return and_(expr >= _bind(expr, start), expr < _bind(expr, end))

    return build


for _name in RELATIVE + WITH_DAYS:
    operator(_name, RELATIVE_LABELS[_name], "days" if _name in WITH_DAYS else "none")(
        _relative(_name)
    )


# ---- users -----------------------------------------------------------------------------------


@operator("is_me", _l("is me"), "none")
def _is_me(expr, kind, value, env):
    return expr == literal(env.user_id, expr.type)


@operator("is_not_me", _l("is not me"), "none")
def _is_not_me(expr, kind, value, env):
    return or_(expr != literal(env.user_id, expr.type), expr.is_(None))


@operator("in_my_team", _l("is in my team"), "none")
def _in_my_team(expr, kind, value, env):
    members = list(env.team_members())
    return expr.in_(members) if members else false()


@operator("in_my_team_and_below", _l("is in my team or a team below it"), "none")
def _in_my_team_and_below(expr, kind, value, env):
    members = list(env.team_and_below_members())
    return expr.in_(members) if members else false()


#: Operators of the kinds of system fields (custom fields take theirs from their type).
USER_OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "is_empty",
    "is_not_empty",
    "is_me",
    "is_not_me",
    "in_my_team",
    "in_my_team_and_below",
)
ID_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in")
TAG_OPERATORS = ("includes_any", "includes_all", "excludes", "is_empty", "is_not_empty")
