"""A date's and a date-time's SQL: IMMUTABLE (indexable), and equal to the casts they replace.

Field values live in JSONB as text. ``CAST(data->>'k' AS DATE)`` and ``AS TIMESTAMPTZ`` read
them, but PostgreSQL calls those casts STABLE (they depend on ``DateStyle``/``TimeZone``) and
refuses them in an index, so the types build the value from its digits instead. These tests
check that for every value the types store (Hypothesis over the whole range they accept, given
as Python values and as the strings people send, with fractions of seconds and any offset or
zone), the new expression gives exactly the cast's value, under many session settings.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Date, DateTime, cast, column, table
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url

from custom_fields import types
from custom_fields.types.base import Context, FieldSpec, FieldValueError

KEY = "k"
RECORDS = table("records", column("data", JSONB))
SQL_TYPES = {"date": Date(), "datetime": DateTime(timezone=True)}
STORED = {
    "date": re.compile(r"\d{4}-\d\d-\d\d"),
    "datetime": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"),
}
#: Zones with odd offsets (-03:30, +05:45, +14, -11), summer time (also a 30-minute one) and
#: POSIX forms, whose sign is the other way round.
TIMEZONES = (
    "UTC",
    "Asia/Shanghai",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/London",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "EST5EDT",
    "<+0330>-03:30",
    "-12",
)
DATESTYLES = (
    "ISO, MDY",
    "ISO, DMY",
    "ISO, YMD",
    "SQL, MDY",
    "SQL, DMY",
    "Postgres, MDY",
    "Postgres, DMY",
    "German, DMY",
)
EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _spec(type_name: str) -> FieldSpec:
    return FieldSpec(key=KEY, type=type_name, label_en="Value", label_zh="值")


def _sql(expr: Any) -> str:
    """As ``custom_fields.indexing`` compiles an index expression."""
    return str(
        expr.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True})
    )


def _new(type_name: str) -> Any:
    return types.get(type_name).sql(RECORDS.c.data, KEY, _spec(type_name))


def _old(type_name: str) -> Any:
    """The expression the types had: a cast from text."""
    return cast(RECORDS.c.data[KEY].astext, SQL_TYPES[type_name])


@pytest.fixture(scope="module")
def conn(settings) -> Iterator[psycopg.Connection]:
    url = make_url(settings.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        yield conn


def _in_database(
    conn: psycopg.Connection, type_name: str, stored: list[str | None], timezone: str, style: str
) -> list[tuple[Any, ...]]:
    """Per stored value (``None``: the key is absent; a JSON null is tested on its own): the
    new and the old expression as text, whether they are the same value, and the new one as a
    number that depends on no setting (days or seconds since 1970)."""
    conn.execute(
        "SELECT set_config('TimeZone', %s, false), set_config('DateStyle', %s, false)",
        (timezone, style),
    )
    new, old = _sql(_new(type_name)), _sql(_old(type_name))
    number = (
        f"({new}) - DATE '1970-01-01'"
        if type_name == "date"
        else f"CAST(extract(epoch FROM {new}) AS NUMERIC)"
    )
    return conn.execute(
        f"""
        SELECT records.v, ({new})::text, ({old})::text, ({new}) IS NOT DISTINCT FROM ({old}),
               {number}, pg_typeof({new})::text
        FROM (
            SELECT v, n, CASE WHEN v IS NULL THEN '{{}}'::jsonb
                              ELSE jsonb_build_object('{KEY}', v) END AS data
            FROM unnest(%s::text[]) WITH ORDINALITY AS u (v, n)
        ) AS records
        ORDER BY records.n
        """,
        (stored,),
    ).fetchall()


def _check(conn, type_name: str, stored: list[str | None], timezone: str, style: str) -> None:
    field_type = types.get(type_name)
    rows = _in_database(conn, type_name, stored, timezone, style)
    assert [row[0] for row in rows] == stored
    for value, new, old, same, number, sql_type in rows:
        assert same and new == old, (value, new, old, timezone, style)
        if value is None:
            assert new is None and number is None
            continue
        assert sql_type == {"date": "date", "datetime": "timestamp with time zone"}[type_name]
        python = field_type.from_storage(value)
        if type_name == "date":
            assert number == (python - EPOCH_DATE).days, (value, number)
        else:
            assert number == (python - EPOCH) // dt.timedelta(seconds=1), (value, number)


# ---- what the types store --------------------------------------------------------------------

CTX_ZONES = st.sampled_from(["Asia/Shanghai", "UTC", "America/St_Johns", "Pacific/Kiritimati"])
#: Fixed offsets to the minute, as people type them (+05:30, -03:30, +14:00, ...).
OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


def _stored(type_name: str, raw: Any, zone: str) -> str | None:
    """What the type writes for ``raw`` sent by a user in ``zone``, checked for its one form:
    the expressions read the digits at fixed positions."""
    field_type = types.get(type_name)
    try:
        value = field_type.clean(raw, _spec(type_name), Context(timezone=zone))
    except FieldValueError:
        assume(False)  # outside the type's range (a date-time beyond the years 2 to 9998 in UTC)
    stored = field_type.to_storage(value)
    assert STORED[type_name].fullmatch(stored), stored
    return stored


dates = st.dates()  # 0001-01-01 to 9999-12-31, all a date field accepts
date_inputs = st.one_of(dates, dates.map(dt.date.isoformat))
#: The years 2 to 9998 in UTC are a date-time field's range: a day's margin for any offset.
moments = st.datetimes(
    min_value=dt.datetime(2, 1, 2),
    max_value=dt.datetime(9998, 12, 30, 23, 59, 59, 999_999),
    timezones=st.one_of(st.none(), OFFSETS, st.timezones()),  # none: the user's zone
)
moment_inputs = st.one_of(
    moments,
    moments.map(dt.datetime.isoformat),  # with microseconds when there are some
    moments.map(lambda m: m.isoformat(timespec="milliseconds")),
    moments.map(lambda m: m.isoformat(timespec="minutes")),
    moments.filter(lambda m: m.utcoffset() == dt.timedelta(0)).map(
        lambda m: m.replace(tzinfo=None).isoformat() + "Z"
    ),
)

SETTINGS = hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    raws=st.lists(date_inputs, min_size=1, max_size=25),
    timezone=st.sampled_from(TIMEZONES),
    style=st.sampled_from(DATESTYLES),
)
def test_a_dates_sql_is_the_cast(conn, raws, timezone, style):
    stored = [_stored("date", raw, "UTC") for raw in raws]
    _check(conn, "date", [*stored, None], timezone, style)


@SETTINGS
@given(
    raws=st.lists(moment_inputs, min_size=1, max_size=25),
    zone=CTX_ZONES,
    timezone=st.sampled_from(TIMEZONES),
    style=st.sampled_from(DATESTYLES),
)
def test_a_datetimes_sql_is_the_cast(conn, raws, zone, timezone, style):
    stored = [_stored("datetime", raw, zone) for raw in raws]
    _check(conn, "datetime", [*stored, None], timezone, style)


EDGE_DATES = [
    "0001-01-01",
    "0009-09-09",
    "0012-11-10",
    "0099-12-31",
    "0100-02-28",
    "0999-12-31",
    "1582-10-10",  # in the Julian reform gap: PostgreSQL and Python are proleptic Gregorian
    "1900-02-28",
    "1970-01-01",
    "2000-02-29",
    "2024-02-29",
    "2031-01-12",
    "9999-12-31",
]
EDGE_MOMENTS = [
    "0002-01-01T00:00:00Z",
    "0012-11-10T09:08:07Z",
    "0099-12-31T23:59:59Z",
    "1883-11-18T17:00:00Z",  # railway time: zones before have local mean time offsets
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2000-02-29T12:30:45Z",
    "2021-03-28T01:00:00Z",  # summer time starts in London
    "2021-10-31T01:30:00Z",  # ... and ends (the local hour repeats)
    "2038-01-19T03:14:08Z",
    "9998-12-31T23:59:59Z",
]


@pytest.mark.parametrize("style", DATESTYLES)
def test_edge_values_under_every_setting(conn, style):
    for timezone in TIMEZONES:
        _check(conn, "date", [*EDGE_DATES, None], timezone, style)
        _check(conn, "datetime", [*EDGE_MOMENTS, None], timezone, style)
    for value in (*EDGE_DATES, *EDGE_MOMENTS):
        kind = "date" if len(value) == 10 else "datetime"
        assert _stored(kind, types.get(kind).from_storage(value), "UTC") == value


@pytest.mark.parametrize("type_name", ["date", "datetime"])
def test_empty_stays_empty(conn, type_name):
    """An absent key and a JSON null are NULL, as with the cast."""
    new, old = _sql(_new(type_name)), _sql(_old(type_name))
    rows = conn.execute(
        f"SELECT {new}, {old} FROM (VALUES (%s::jsonb), (%s::jsonb)) AS records (data)",
        ("{}", json.dumps({KEY: None})),
    ).fetchall()
    assert rows == [(None, None), (None, None)]


@pytest.mark.parametrize("type_name", ["date", "datetime"])
def test_the_expression_keeps_its_type(type_name):
    """Operators bind filter values with the expression's type; formulas read it too."""
    expr, wanted = _new(type_name), SQL_TYPES[type_name]
    assert type(expr.type) is type(wanted)
    assert getattr(expr.type, "timezone", None) == getattr(wanted, "timezone", None)


#: The functions each expression calls, all IMMUTABLE in the catalogue (``make_timestamptz``
#: is not, with or without its time zone argument, nor are the casts from text).
FUNCTIONS = {
    "date": ["make_date(int, int, int)", "substr(text, int, int)", "int4in(cstring)"],
    "datetime": [
        "make_timestamp(int, int, int, int, int, double precision)",
        "timezone(text, timestamp without time zone)",
        "substr(text, int, int)",
        "int4in(cstring)",
        "float8(int)",  # the seconds, an integer, passed to make_timestamp
    ],
}


@pytest.mark.parametrize("type_name", ["date", "datetime"])
def test_postgresql_indexes_the_expression_and_not_the_cast(conn, type_name):
    for function in FUNCTIONS[type_name]:
        (volatility,) = conn.execute(
            "SELECT provolatile FROM pg_proc WHERE oid = %s::regprocedure", (function,)
        ).fetchone()
        assert volatility == "i", function
    for function in ("make_timestamptz(int, int, int, int, int, double precision, text)",):
        assert conn.execute(
            "SELECT provolatile FROM pg_proc WHERE oid = %s::regprocedure", (function,)
        ).fetchone() == ("s",)
    with conn.transaction(force_rollback=True):
        conn.execute("CREATE TEMPORARY TABLE records (data jsonb) ON COMMIT DROP")
        conn.execute(f"CREATE INDEX ON records (({_sql(_new(type_name))}))")
        refused = pytest.raises(psycopg.errors.InvalidObjectDefinition, match="IMMUTABLE")
        with refused, conn.transaction():
            conn.execute(f"CREATE INDEX ON records (({_sql(_old(type_name))}))")
