"""Formula fields: parser, types, Python evaluation, and Python == PostgreSQL for every formula."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from custom_fields.formula import FormulaError, parse

TODAY = date(2025, 3, 14)
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

# The fields of the property test, with their formula types and SQL types.
FIELDS = {
    "n1": "number",
    "n2": "number",
    "t1": "text",
    "t2": "text",
    "d1": "date",
    "d2": "date",
    "b1": "boolean",
}
SQL_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "number": sa.Numeric,
    "text": sa.Text,
    "date": sa.Date,
    "datetime": lambda: sa.DateTime(timezone=True),
    "boolean": sa.Boolean,
}


def evaluate(expression: str, field_types: dict[str, str] | None = None, **values: Any) -> Any:
    return parse(expression).evaluate(values, today=TODAY, now=NOW, field_types=field_types)


def error_of(call: Callable[[], Any]) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        call()
    return caught.value


def same(python: Any, database: Any) -> bool:
    """Equal values of the same type; numbers also with the same scale (2.50 is not 2.5)."""
    if isinstance(python, Decimal) and isinstance(database, Decimal):
        return python == database and python.as_tuple().exponent == database.as_tuple().exponent
    return type(python) is type(database) and python == database


# --- Parser -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", Decimal(7)),
        ("(1 + 2) * 3", Decimal(9)),
        ("-2 * 3", Decimal(-6)),
        ("-2 + 3", Decimal(1)),
        ("2 * -3", Decimal(-6)),
        ("- -2", Decimal(2)),
        ("2 - 3 - 4", Decimal(-5)),  # left-associative
        ("2 / 4 / 2", Decimal("0.25000000000000000000")),  # (2 / 4) / 2, not 2 / (4 / 2)
        ("1 + 2 & 3", "33"),  # & binds looser than +
        ("'a' & 1 + 1", "a2"),
        ("1 + 1 = 2", True),
        ("'a' & 'b' = 'ab'", True),  # = binds looser than &
        ("NOT 1 = 2", True),  # NOT (1 = 2)
        ("NOT TRUE AND FALSE", False),  # (NOT TRUE) AND FALSE
        ("TRUE OR TRUE AND FALSE", True),  # TRUE OR (TRUE AND FALSE)
        ("FALSE AND NOT FALSE", False),
        ("NOT NOT TRUE", True),
        ("(1 = 1) = (NOT FALSE)", True),
        ("(TRUE OR TRUE) AND FALSE", False),
        ("not false and true or false", True),  # keywords in any case
        ("if(1 < 2, 'yes', 'no')", "yes"),  # function names in any case
        ("Round(2.345, 2)", Decimal("2.35")),
        ("1 <> 2", True),
        ("1 != 1", False),
        (".5 + 1.", Decimal("1.5")),
        ("007", Decimal(7)),
    ],
)
def test_precedence_and_associativity(expression, expected):
    assert same(evaluate(expression), expected)


def test_not_applies_to_a_whole_comparison_of_fields():
    formula = parse("NOT a = b")
    assert formula.references == {"a", "b"}
    assert formula.evaluate({"a": 1, "b": 2}, today=TODAY, now=NOW) is True
    assert formula.evaluate({"a": 1, "b": None}, today=TODAY, now=NOW) is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r"'back\\slash'", "back\\slash"),
        (r"'tab\there'", "tab\there"),
        (r"'two\nlines\r'", "two\nlines\r"),
        ("'say \"hi\"'", 'say "hi"'),
        ('"it\'s"', "it's"),
        ("''", ""),
        ("'中文 é ß'", "中文 é ß"),
    ],
)
def test_strings_and_escapes(expression, expected):
    assert evaluate(expression) == expected


def test_references_are_the_field_keys_used():
    formula = parse("IF(grade = 'A', amount * 2, amount) & first_name & TODAY()")
    assert formula.references == frozenset({"grade", "amount", "first_name"})
    assert formula.expression == "IF(grade = 'A', amount * 2, amount) & first_name & TODAY()"


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("", "The formula is empty", 0),
        ("   ", "The formula is empty", 0),
        ("FOO(1)", "Unknown function FOO", 0),
        ("1 + foo(2)", "Unknown function FOO", 4),
        ("(1 + 2", "Expected ')'", 6),
        ("amount * (1 - discount / 100", "Expected ')'", 28),
        ("ROUND(1, 2", "Expected ',' or ')'", 10),
        ("ROUND(1 2)", "Expected ',' or ')'", 8),
        ("1 +", "Expected a value", 3),
        ("NOT", "Expected a value", 3),
        ("1 + * 2", "Expected a value, found '*'", 4),
        ("AND", "Expected a value, found 'AND'", 0),
        ("a = NOT b", "Expected a value, found 'NOT'", 4),
        ("1 + NOT b", "Expected a value, found 'NOT'", 4),
        ("1 2", "Unexpected '2'", 2),
        ("(1))", "Unexpected ')'", 3),
        ("1 # 2", "Unexpected character '#'", 2),
        ("amount × 2", "Unexpected character '×'", 7),
        ("'abc", "Unterminated text; close it with '", 0),
        ('1 & "abc', 'Unterminated text; close it with "', 4),
        (r"'a\qb'", r"Unknown escape sequence \q", 2),
        ("'a\x00'", r"Unexpected character '\x00'", 2),
        ("1.2.3", "Invalid number", 0),
        ("12abc", "Invalid number", 0),
        ("1e5", "Invalid number", 0),
        ("Amount + 1", "Unknown field 'Amount'", 0),
        ("1 + _x", "Unknown field '_x'", 4),
        ("a < b < c", "Comparisons cannot be chained; combine them with AND", 6),
        ("a = b <> c", "Comparisons cannot be chained; combine them with AND", 6),
        ("IF(TRUE, 1)", "IF takes 3 arguments, not 2", 0),
        ("1 + ABS()", "ABS takes 1 argument, not 0", 4),
        ("MIN()", "MIN takes at least 1 argument", 0),
        ("ROUND(1, 2, 3)", "ROUND takes 1 or 2 arguments, not 3", 0),
        ("TODAY(1)", "TODAY takes 0 arguments, not 1", 0),
        ("DAYS_BETWEEN(d)", "DAYS_BETWEEN takes 2 arguments, not 1", 0),
        (
            "ROUND(1, n)",
            "The digits of ROUND must be a whole number from -1000 to 1000, like ROUND(amount, 2)",
            9,
        ),
        (
            "ROUND(1, 1.5)",
            "The digits of ROUND must be a whole number from -1000 to 1000, like ROUND(amount, 2)",
            9,
        ),
        (
            "ROUND(1, -1001)",
            "The digits of ROUND must be a whole number from -1000 to 1000, like ROUND(amount, 2)",
            9,
        ),
    ],
)
def test_syntax_errors_point_at_their_position(expression, message, position):
    error = error_of(lambda: parse(expression))
    assert (error.message, error.position) == (message, position)
    assert str(error) == f"{message} at {position}"


def test_round_digits_may_be_negative():
    assert same(evaluate("ROUND(1250, -2)"), Decimal(1300))
    assert same(evaluate("ROUND(1234.5, -(2))"), Decimal(1200))


def test_length_limit():
    parse("1" + " " * 1999)
    error = error_of(lambda: parse("1" + " " * 2000))
    assert (error.message, error.position) == ("The formula is longer than 2000 characters", 2000)
    assert error_of(lambda: parse("1 + 1", max_length=4)).position == 4


def test_parentheses_count_as_nesting():
    parse("(" * 4 + "1" + ")" * 4, max_depth=5)
    error = error_of(lambda: parse("(" * 5 + "1" + ")" * 5, max_depth=5))
    assert error.message == "The formula is nested too deeply (more than 5 levels)"
    assert error.position == 5
    # Far beyond the limit the parser stops early instead of overflowing Python's stack.
    assert error_of(lambda: parse("(" * 1900)).message.startswith("The formula is nested")
    assert error_of(lambda: parse("-" * 1900 + "1")).message.startswith("The formula is nested")
    assert error_of(lambda: parse("NOT " * 400 + "x")).message.startswith("The formula is nested")


def test_operator_chains_count_as_nesting():
    parse("1" + " - 1" * 49)  # 50 levels
    error = error_of(lambda: parse("1" + " - 1" * 50))
    assert error.message == "The formula is nested too deeply (more than 50 levels)"
    assert error.position == len("1" + " - 1" * 49) + 1  # the 50th "-"


def test_node_limit():
    parse("MIN(" + ", ".join(["1"] * 499) + ")")  # 500 nodes
    error = error_of(lambda: parse("MIN(" + ", ".join(["1"] * 500) + ")"))
    assert (error.message, error.position) == ("The formula is too long (more than 500 parts)", 0)
    assert error_of(lambda: parse("1 + 1 + 1", max_nodes=4)).position == 6


def test_sql_depth_limit_rejects_formulas_that_would_compile_too_deeply():
    # Eight nested ADD_DAYS are fine, twelve would make SQLAlchemy's compiler recurse too deep.
    parse("ADD_DAYS(" * 8 + "d" + ", 1)" * 8)
    error = error_of(lambda: parse("ADD_DAYS(" * 12 + "d" + ", 1)" * 12))
    assert (error.message, error.position) == (
        "The formula is nested too deeply for the database",
        len("ADD_DAYS(") * 2,  # the innermost call that does not fit
    )
    # Light functions may nest as deep as max_depth allows.
    parse("ABS(" * 49 + "n" + ")" * 49)


# --- Types --------------------------------------------------------------------------------

KEHU_TYPES = {
    "amount": "currency",
    "discount": "percent",
    "quantity": "integer",
    "rate": "decimal",
    "score": "number",  # another formula's result type
    "grade": "picklist",
    "first_name": "text",
    "last_name": "text",
    "notes": "long_text",
    "email": "email",
    "phone": "phone",
    "site": "url",
    "created_date": "date",
    "created_at": "datetime",
    "active": "boolean",
    "tags": "multi_picklist",
    "owner": "lookup",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("amount * (1 - discount / 100)", "number"),
        ("quantity * rate + score", "number"),
        ('IF(grade = "A", "key", "normal")', "text"),
        ('first_name & " " & last_name', "text"),
        ("email & phone & site", "text"),
        ("UPPER(notes)", "text"),
        ("LEN(notes) > 100", "boolean"),
        ("DAYS_BETWEEN(created_date, TODAY())", "number"),
        ("DAYS_BETWEEN(created_at, NOW())", "number"),
        ("YEAR(created_at) + MONTH(created_date)", "number"),
        ("ADD_DAYS(created_date, quantity)", "date"),
        ("ADD_DAYS(created_date, 30) > TODAY()", "boolean"),
        ("created_at < NOW()", "boolean"),
        ("MAX(created_at, NOW())", "datetime"),
        ("IF(active, NULL, amount)", "number"),
        ("IF(NULL, NULL, created_date)", "date"),
        ("COALESCE(NULL, NULL, first_name)", "text"),
        ("MIN(grade, first_name, NULL)", "text"),
        ("active AND NOT active OR NULL", "boolean"),
        ("amount & created_date & active & NULL", "text"),
        ("CONCAT(amount, created_date, active)", "text"),
        ("ISNULL(tags_free_text)", "boolean"),
        ("NULL + 1", "number"),
        ("NULL = NULL", "boolean"),
    ],
)
def test_result_types(expression, expected):
    types = {**KEHU_TYPES, "tags_free_text": "text"}
    assert parse(expression).result_type(types) == expected


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("first_name * 2", "'*' needs number, not text", 0),
        ("2 * notes", "'*' needs number, not text", 4),
        ("-first_name", "'-' needs number, not text", 1),
        ("notes + 1", "'+' needs number, not text", 0),
        ("created_date + 1", "'+' needs number, not date", 0),
        ("amount - active", "'-' needs number, not boolean", 9),
        ("IF(active, 1, 'a')", "The values of IF must have the same type, not number and text", 0),
        (
            "COALESCE(amount, NULL, created_date)",
            "The values of COALESCE must have the same type, not number and date",
            0,
        ),
        (
            "MIN(created_date, created_at)",
            "The values of MIN must have the same type, not date and date and time",
            0,
        ),
        ("first_name = 1", "Cannot compare text with number", 11),
        ("created_date < NOW()", "Cannot compare date with date and time", 13),
        ("amout + 1", "Unknown field 'amout'", 0),
        ("1 + IF(active, amout, 2)", "Unknown field 'amout'", 15),
        ("tags & 'x'", "Field 'tags' (multi_picklist) cannot be used in formulas", 0),
        ("ISNULL(owner)", "Field 'owner' (lookup) cannot be used in formulas", 7),
        ("IF(1, 2, 3)", "IF needs boolean, not number", 3),
        ("NOT amount", "NOT needs boolean, not number", 4),
        ("active AND 'yes'", "AND needs boolean, not text", 11),
        ("ADD_DAYS(NOW(), 1)", "ADD_DAYS needs date, not date and time", 9),
        ("ADD_DAYS(created_date, '1')", "ADD_DAYS needs number, not text", 23),
        ("UPPER(amount)", "UPPER needs text, not number", 6),
        ("LEN(created_date)", "LEN needs text, not date", 4),
        ("YEAR(amount)", "YEAR needs date, date and time, not number", 5),
        ("ROUND(first_name, 2)", "ROUND needs number, not text", 6),
        ("NOW() & 'x'", "'&' needs boolean, date, number, text, not date and time", 0),
        ("CONCAT('at ', NOW())", "CONCAT needs boolean, date, number, text, not date and time", 14),
        ("NULL", "The formula is always empty (NULL)", 0),
        ("IF(active, NULL, NULL)", "The formula is always empty (NULL)", 0),
    ],
)
def test_type_errors(expression, message, position):
    error = error_of(lambda: parse(expression).result_type(KEHU_TYPES))
    assert (error.message, error.position) == (message, position)


def test_type_errors_surface_in_evaluate_and_to_sql_too():
    formula = parse("name * 2")
    with pytest.raises(FormulaError, match="needs number"):
        formula.evaluate({"name": "x"}, today=TODAY, now=NOW)
    with pytest.raises(FormulaError, match="needs number"):
        formula.to_sql(lambda key: sa.literal("x", sa.Text()))


# --- Python evaluation ----------------------------------------------------------------------

# (expression, values, expected). Also run against PostgreSQL below, with the same expectation.
EVALUATION_CASES: list[tuple[str, dict[str, Any], Any]] = [
    # NULL in arithmetic and comparisons
    ("n1 + 1", {"n1": None}, None),
    ("n1 * 0", {"n1": None}, None),
    ("-n1", {"n1": None}, None),
    ("n1 = NULL", {"n1": Decimal(1)}, None),
    ("NULL = NULL", {}, None),
    ("t1 < 'a'", {"t1": None}, None),
    ("d1 > TODAY()", {"d1": None}, None),
    # division by zero
    ("n1 / 0", {"n1": Decimal(5)}, None),
    ("n1 / n2", {"n1": Decimal(5), "n2": Decimal("0.000")}, None),
    ("COALESCE(1 / 0, -1)", {}, Decimal(-1)),
    # exact decimals with PostgreSQL's scales
    ("n1 + 1", {"n1": Decimal("1.50")}, Decimal("2.50")),
    ("n1 * 2", {"n1": Decimal("1.50")}, Decimal("3.00")),
    ("n1 - n1", {"n1": Decimal("1.50")}, Decimal("0.00")),
    ("-n1", {"n1": Decimal("0.00")}, Decimal("0.00")),
    ("1 / 3", {}, Decimal("0.33333333333333333333")),
    ("10 / 4", {}, Decimal("2.5000000000000000")),
    ("1 / 3.000000000000000000000", {}, Decimal("0.333333333333333333333")),
    ("123456789 / 0.001", {}, Decimal("123456789000.00000000")),
    ("-2 / 3", {}, Decimal("-0.66666666666666666667")),
    ("0.1 + 0.2 = 0.3", {}, True),
    ("1.0 = 1.00", {}, True),
    ("99999999999999999999999999999999 + 1", {}, Decimal("100000000000000000000000000000000")),
    ("10000 / 9999", {}, Decimal("1.0001000100010001")),  # 16 significant digits
    ("99999999 / 99999999.9999", {}, Decimal("0.99999999000099999999")),
    ("0.000000000000000000000000000001 / 7", {}, Decimal("1.42857142857142857E-31")),
    ("ROUND(1, 1000) / 3", {}, Decimal("0." + "3" * 1000)),  # scales stop at 1000
    (
        " * ".join(["ROUND(1.5, 1000)"] * 17),  # products are rounded to scale 16383
        {},
        Decimal("985.26125335693359375" + "0" * (16383 - 17)),
    ),
    # & and CONCAT treat NULL as ''
    ("t1 & NULL & 'x'", {"t1": None}, "x"),
    ("t1 & t2", {"t1": None, "t2": None}, ""),
    ("CONCAT(NULL, t1)", {"t1": None}, ""),
    (
        "CONCAT('n=', n1, ' d=', d1, ' b=', b1)",
        {"n1": Decimal("-1.50"), "d1": date(5, 3, 4), "b1": False},
        "n=-1.50 d=0005-03-04 b=false",
    ),
    ("TRUE & 0.000", {}, "true0.000"),
    # IF
    ("IF(NULL, 1, 2)", {}, Decimal(2)),
    ("IF(b1, 'yes', 'no')", {"b1": None}, "no"),
    ("IF(n1 > 0, 'positive', NULL)", {"n1": Decimal(-1)}, None),
    # COALESCE, MIN, MAX
    ("COALESCE(NULL, n1, 3, 4)", {"n1": None}, Decimal(3)),
    ("COALESCE(t1, 'x')", {"t1": ""}, ""),
    ("MIN(NULL, 2, 1.0, 1)", {}, Decimal("1.0")),  # NULLs ignored, the first of equals wins
    ("MAX(n1, n2)", {"n1": None, "n2": None}, None),
    ("MAX('a', 'B', 'é')", {}, "é"),  # code point order
    ("MIN('a', 'B')", {}, "B"),
    # ROUND, ABS
    ("ROUND(2.5)", {}, Decimal(3)),
    ("ROUND(-2.5)", {}, Decimal(-3)),
    ("ROUND(1.005, 2)", {}, Decimal("1.01")),
    ("ROUND(1.5, 3)", {}, Decimal("1.500")),
    ("ROUND(n1, 2)", {"n1": None}, None),
    ("ROUND(-0.4)", {}, Decimal(0)),
    ("ABS(-1.50)", {}, Decimal("1.50")),
    # text functions
    ("LEN(t1)", {"t1": None}, None),
    ("LEN(t1)", {"t1": "中文 ok"}, Decimal(5)),
    ("UPPER(t1)", {"t1": None}, None),
    ("LOWER(t1)", {"t1": None}, None),
    ("UPPER('straße ǆ é ᾳ')", {}, "STRAßE Ǆ É ᾼ"),  # simple case mapping
    ("LOWER('ΟΔΟΣ İ')", {}, "οδοσ i"),  # no final sigma, one character each
    # three-valued logic
    ("NOT b1", {"b1": None}, None),
    ("b1 AND FALSE", {"b1": None}, False),
    ("b1 AND TRUE", {"b1": None}, None),
    ("b1 OR TRUE", {"b1": None}, True),
    ("b1 OR FALSE", {"b1": None}, None),
    ("ISNULL(b1)", {"b1": None}, True),
    ("ISNULL(NOT b1)", {"b1": None}, True),  # not NOT (b1 IS NULL)
    ("(NOT b1) < FALSE", {"b1": True}, False),  # not NOT (b1 < FALSE)
    ("ISNULL(t1)", {"t1": ""}, False),
    # dates
    ("DAYS_BETWEEN(d1, d2)", {"d1": date(2024, 2, 28), "d2": date(2024, 3, 1)}, Decimal(2)),
    ("DAYS_BETWEEN(d2, d1)", {"d1": date(2024, 2, 28), "d2": date(2024, 3, 1)}, Decimal(-2)),
    ("DAYS_BETWEEN(d1, TODAY())", {"d1": None}, None),
    ("ADD_DAYS(d1, 1.9)", {"d1": date(2024, 2, 28)}, date(2024, 2, 29)),
    ("ADD_DAYS(d1, -1.9)", {"d1": date(2024, 3, 1)}, date(2024, 2, 29)),
    ("ADD_DAYS(d1, n1)", {"d1": date(2024, 3, 1), "n1": None}, None),
    ("ADD_DAYS(d1, 1)", {"d1": date(9999, 12, 31)}, None),
    ("ADD_DAYS(d1, -1)", {"d1": date(1, 1, 1)}, None),
    ("ADD_DAYS(d1, 100000000000000000000)", {"d1": date(2024, 1, 1)}, None),
    ("ADD_DAYS(d1, 3652058)", {"d1": date(1, 1, 1)}, date(9999, 12, 31)),
    ("YEAR(d1) * 100 + MONTH(d1)", {"d1": date(2024, 2, 29)}, Decimal(202402)),
    ("MONTH(d1)", {"d1": None}, None),
    ("MIN(d1, d2)", {"d1": date(2024, 1, 2), "d2": None}, date(2024, 1, 2)),
]


@pytest.mark.parametrize(("expression", "values", "expected"), EVALUATION_CASES)
def test_evaluation(expression, values, expected):
    assert same(evaluate(expression, FIELDS, **values), expected)


@pytest.mark.parametrize("a", [True, False, None])
@pytest.mark.parametrize("b", [True, False, None])
def test_and_or_not_are_three_valued_like_sql(engine, a, b):
    def kleene_and(x, y):
        return False if False in (x, y) else (None if None in (x, y) else True)

    def kleene_or(x, y):
        return True if True in (x, y) else (None if None in (x, y) else False)

    def kleene_not(x):
        return None if x is None else not x

    types = {"a": "boolean", "b": "boolean"}
    de_morgan = kleene_not(kleene_and(a, b))
    assert de_morgan is kleene_or(kleene_not(a), kleene_not(b))
    expected = {
        "a AND b": kleene_and(a, b),
        "a OR b": kleene_or(a, b),
        "NOT a": kleene_not(a),
        "NOT (a AND b)": de_morgan,
        "NOT a OR NOT b": de_morgan,
    }
    with engine.connect() as connection:
        for expression, value in expected.items():
            python, database = in_database(connection, expression, {"a": a, "b": b}, types)
            assert python is database is value, expression


def test_input_values_are_converted_by_field_type():
    types = {"amount": "currency", "closed": "date", "at": "datetime", "ok": "boolean"}
    formula = parse("amount * 2 & ' ' & DAYS_BETWEEN(closed, at) & ' ' & ok")
    values = {"amount": "12.50", "closed": "2025-03-01", "at": "2025-03-14T01:00:00", "ok": True}
    assert formula.evaluate(values, today=TODAY, now=NOW, field_types=types) == "25.00 13 true"
    assert same(evaluate("n * 1", {"n": "decimal"}, n=3), Decimal(3))
    assert same(evaluate("n * 1", {"n": "decimal"}, n=0.1), Decimal("0.1"))
    assert same(evaluate("n * 1", {"n": "decimal"}, n=Decimal("1E+2")), Decimal(100))
    assert same(evaluate("n + 1", {"n": "decimal"}), None)  # missing key: NULL


def test_types_come_from_python_values_without_field_types():
    assert evaluate("n * 2", n=Decimal("1.5")) == Decimal("3.0")
    assert evaluate("t & 1", t="x") == "x1"
    assert evaluate("n + 1", n=None) is None
    with pytest.raises(FormulaError, match="needs number, not text"):
        evaluate("n * 2", n="1.5")  # a number as text needs field_types


@pytest.mark.parametrize(
    ("field_type", "value"),
    [
        ("decimal", "abc"),
        ("decimal", True),
        ("decimal", Decimal("NaN")),
        ("text", 5),
        ("date", datetime(2025, 1, 1, tzinfo=UTC)),
        ("date", "2025-13-01"),
        ("boolean", "yes"),
        ("datetime", 5),
    ],
)
def test_invalid_values_are_reported(field_type, value):
    error = error_of(lambda: evaluate("1 + 1 = 2 AND ISNULL(x)", {"x": field_type}, x=value))
    assert (error.message, error.position) == ("Field 'x' has an invalid value", 21)


def test_today_and_now_must_be_exact():
    formula = parse("TODAY()")
    with pytest.raises(TypeError):
        formula.evaluate({}, today=NOW, now=NOW)
    with pytest.raises(TypeError):
        formula.evaluate({}, today=TODAY, now=NOW.replace(tzinfo=None))
    assert formula.evaluate({}, today=TODAY, now=NOW) == TODAY
    assert parse("NOW()").evaluate({}, today=TODAY, now=NOW) == NOW


def test_datetimes_use_the_local_date_of_now():
    shanghai = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    late = datetime(2024, 12, 31, 20, 0, tzinfo=UTC)  # already 2025 in Shanghai
    types = {"at": "datetime"}
    formula = parse("YEAR(at) & '/' & DAYS_BETWEEN(at, NOW())")
    assert formula.evaluate({"at": late}, today=TODAY, now=NOW, field_types=types) == "2024/73"
    assert formula.evaluate({"at": late}, today=TODAY, now=shanghai, field_types=types) == "2025/72"


def test_numbers_beyond_postgresql_are_an_error():
    big = "9" * 1000
    formula = parse(f"n * {big}")
    values = {"n": Decimal("1" + "0" * 130500)}
    with pytest.raises(FormulaError, match="too large"):
        formula.evaluate(values, today=TODAY, now=NOW)


def test_a_formula_can_be_evaluated_many_times():
    formula = parse("IF(n > 0, n * 2, 0)")
    assert [formula.evaluate({"n": n}, today=TODAY, now=NOW) for n in (1, -1, None)] == [
        Decimal(2),
        Decimal(0),
        Decimal(0),
    ]


# --- SQL ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(settings) -> Iterator[sa.Engine]:
    engine = sa.create_engine(settings.runtime_database_url)
    yield engine
    engine.dispose()


def bound(values: dict[str, Any], types: dict[str, str]) -> Callable[[str], Any]:
    """resolve(): each field as a typed bound parameter (or a typed NULL)."""

    def resolve(key: str) -> Any:
        sql_type = SQL_TYPES[types[key]]()
        value = values.get(key)
        return sa.cast(sa.null(), sql_type) if value is None else sa.literal(value, sql_type)

    return resolve


def in_database(
    connection: sa.Connection, expression: str, values: dict[str, Any], types: dict[str, str]
) -> tuple[Any, Any]:
    """(Python's value, PostgreSQL's value), with today and now from the same statement."""
    formula = parse(expression)
    sql = formula.to_sql(bound(values, types))
    today, now, result = connection.execute(
        sa.select(sa.func.current_date(), sa.func.now(), sql.label("v"))
    ).one()
    return formula.evaluate(values, today=today, now=now, field_types=types), result


@pytest.mark.parametrize(("expression", "values", "expected"), EVALUATION_CASES)
def test_postgresql_agrees_on_every_evaluation_case(engine, expression, values, expected):
    with engine.connect() as connection:
        python, database = in_database(connection, expression, values, FIELDS)
    assert same(database, expected), database
    assert same(python, expected)


def test_today_and_now_in_sql(engine):
    with engine.connect() as connection:
        python, database = in_database(
            connection, "DAYS_BETWEEN(TODAY(), ADD_DAYS(TODAY(), 3)) & (NOW() = NOW())", {}, {}
        )
    assert python == database == "3true"


@pytest.mark.parametrize(
    "zone", ["UTC", "Asia/Shanghai", "America/Sao_Paulo", "Pacific/Kiritimati"]
)
def test_datetimes_in_the_session_time_zone(engine, zone):
    moments = [
        datetime(2024, 12, 31, 15, 59, 59, tzinfo=UTC),
        datetime(2024, 12, 31, 16, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 2, 30, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=ZoneInfo("America/Sao_Paulo")),
    ]
    types = {"at": "datetime", "other": "datetime"}
    expressions = [
        "YEAR(at) & '-' & MONTH(at)",
        "DAYS_BETWEEN(at, NOW())",
        "DAYS_BETWEEN(at, TODAY())",
        "at < other",
        "MAX(at, other) = other",
        "COALESCE(at, NOW()) <= NOW()",
    ]
    with engine.connect() as connection:
        # For this transaction only (the connection goes back to the pool).
        connection.execute(sa.select(sa.func.set_config("TimeZone", zone, True)))
        for at in moments:
            for expression in expressions:
                values = {"at": at, "other": moments[1]}
                formula = parse(expression)
                today, now, result = connection.execute(
                    sa.select(
                        sa.func.current_date(),
                        sa.func.now(),
                        formula.to_sql(bound(values, types)).label("v"),
                    )
                ).one()
                local_now = now.astimezone(ZoneInfo(zone))
                python = formula.evaluate(values, today=today, now=local_now, field_types=types)
                assert same(python, result), (zone, at, expression)


def test_resolved_columns_are_cast_to_the_field_type(engine):
    # A JSONB ->> value is text; an integer column must not divide as integers.
    formula = parse("amount / quantity")
    types = {"amount": "currency", "quantity": "integer"}
    columns = {"amount": sa.literal("12.50", sa.Text()), "quantity": sa.literal(4, sa.Integer())}
    with engine.connect() as connection:
        result = connection.execute(
            sa.select(formula.to_sql(columns.__getitem__, field_types=types))
        ).scalar_one()
        inferred = connection.execute(
            sa.select(parse("quantity / 8").to_sql(columns.__getitem__))
        ).scalar_one()
    python = formula.evaluate(
        {"amount": "12.50", "quantity": 4}, today=TODAY, now=NOW, field_types=types
    )
    assert same(result, Decimal("3.1250000000000000")) and same(python, result)
    assert same(inferred, Decimal("0.50000000000000000000"))


def test_filter_and_sort_records_on_a_formula(engine):
    data = [
        ("a", "100.00", "10"),
        ("b", "80", None),
        ("c", None, "5"),
        ("d", "200.50", "75.5"),
        ("e", "60", "0"),
    ]
    records = sa.values(
        sa.column("name", sa.Text()),
        sa.column("amount", sa.Text()),  # as from JSONB ->>
        sa.column("discount", sa.Text()),
        name="records",
    ).data(data)
    types = {"amount": "currency", "discount": "percent"}
    formula = parse("amount * (1 - discount / 100)")
    net = formula.to_sql(lambda key: records.c[key], field_types=types)  # cast from text
    query = sa.select(records.c.name, net).where(net > 55).order_by(net.desc(), records.c.name)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query)]
    expected = []
    for name, amount, discount in data:
        value = formula.evaluate(
            {"amount": amount, "discount": discount}, today=TODAY, now=NOW, field_types=types
        )
        if value is not None and value > 55:
            expected.append((name, value))
    expected.sort(key=lambda row: (-row[1], row[0]))
    assert rows == expected == [("a", Decimal("90.0000000000000000000000")), ("e", Decimal(60))]


def test_to_sql_needs_typed_columns():
    with pytest.raises(TypeError, match="cast it"):
        parse("x + 1").to_sql(lambda key: sa.literal_column("x"))


def test_user_text_is_always_a_bound_parameter():
    hostile = "'); DROP TABLE tenants; --"
    formula = parse(f'"{hostile}" & name')
    compiled = formula.to_sql(lambda key: sa.literal("n", sa.Text())).compile(
        dialect=postgresql.psycopg.dialect()
    )
    assert "DROP" not in str(compiled)
    assert hostile in compiled.params.values()


@pytest.fixture(scope="module")
def case_gap(engine) -> frozenset[str]:
    """Characters whose UPPER or LOWER differ between Python and PostgreSQL, over all of Unicode.

    Python maps by Unicode simple case mapping as pg_c_utf8 does, from its own Unicode tables;
    the only differences allowed are mappings to characters Python's (older) Unicode lacks.
    """
    characters = "".join(
        chr(code)
        for code in range(1, sys.maxunicode + 1)
        if unicodedata.category(chr(code)) not in {"Cs", "Cn", "Co"}
    )
    resolve = bound({"t": characters}, {"t": "text"})
    gap = set()
    with engine.connect() as connection:
        for function in ("UPPER", "LOWER"):
            formula = parse(f"{function}(t)")
            python = formula.evaluate({"t": characters}, today=TODAY, now=NOW)
            database = connection.execute(sa.select(formula.to_sql(resolve))).scalar_one()
            assert len(python) == len(database) == len(characters)
            for char, ours, theirs in zip(characters, python, database, strict=True):
                if ours != theirs:
                    assert ours == char, (function, char)  # Python left it alone
                    assert unicodedata.category(theirs) == "Cn", (function, char, theirs)
                    gap.add(char)
    return frozenset(gap)


def test_upper_and_lower_match_postgresql_for_every_character(case_gap):
    # PostgreSQL 18 (Unicode 16) uppercases ƛ and ɤ to letters Python 3.11 (Unicode 14) lacks.
    assert len(case_gap) < 20, sorted(case_gap)


# Formulas nested as deep as parse() allows, for every kind of node (X is the inner formula).
DEEP_TEMPLATES = {
    "number": [
        "X + 1",
        "1 - X",
        "X * 2",
        "X / 2",
        "2 / X",
        "-X",
        "ROUND(X, 2)",
        "ABS(X)",
        "MIN(X, 1)",
        "COALESCE(X, 1)",
        "IF(b1, X, 1)",
        "LEN(X & 'a')",
        "DAYS_BETWEEN(d1, ADD_DAYS(d1, X))",
        "YEAR(ADD_DAYS(d1, X))",
    ],
    "text": [
        "X & 'a'",
        "'a' & (X & 'b')",
        "UPPER(X)",
        "LOWER(X)",
        "CONCAT(X, 'a')",
        "MIN(X, 'a')",
        "IF(X = 'a', 'b', 'c')",
        "COALESCE(X, 'a')",
        "X & (X = 'a')",
    ],
    "date": ["ADD_DAYS(X, 1)", "MIN(X, d1)", "IF(X > d1, X, d1)", "COALESCE(X, TODAY())"],
    "boolean": [
        "NOT X",
        "X AND b1",
        "X OR b1",
        "X = TRUE",
        "ISNULL(IF(X, 1, NULL))",
        "IF(X, b1, X)",
    ],
}
SEEDS = {"number": "n1", "text": "t1", "date": "d1", "boolean": "b1"}


def deepest(template: str, seed: str) -> str:
    """The formula nesting ``template`` as often as parse() accepts."""
    formula = seed
    while True:
        deeper = template.replace("X", f"({formula})")
        try:
            parse(deeper)
        except FormulaError as error:
            assert any(
                words in error.message for words in ("nested too", "too long", "longer than")
            )
            return formula
        formula = deeper


@pytest.mark.parametrize(
    ("type_name", "template"),
    [(type_name, t) for type_name, templates in DEEP_TEMPLATES.items() for t in templates],
)
def test_every_accepted_formula_compiles_even_from_a_deep_stack(type_name, template):
    formula = parse(deepest(template, SEEDS[type_name]))
    resolve = bound({}, FIELDS)
    dialect = postgresql.psycopg.dialect()

    def compile_at_depth(depth: int) -> str:
        if depth:
            return compile_at_depth(depth - 1)
        sql = formula.to_sql(lambda key: sa.cast(resolve(key), SQL_TYPES[FIELDS[key]]()))
        statement = sa.select(sql).where(sql.is_not(None)).order_by(sql)
        return str(statement.compile(dialect=dialect))

    stack = 0
    frame = sys._getframe()
    while frame is not None:
        stack, frame = stack + 1, frame.f_back
    # The caller may already be this deep (a request, a service, the ORM) when compiling.
    assert compile_at_depth(max(0, 300 - stack))


# --- Python == PostgreSQL, for random formulas ------------------------------------------------


def literal_number(value: Decimal) -> str:
    return f"({value:f})" if value < 0 else f"{value:f}"


def literal_text(value: str, quote: str) -> str:
    escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return quote + escaped + quote


decimals = st.builds(
    lambda digits, scale: Decimal(digits).scaleb(-scale),
    st.one_of(st.integers(-(10**8), 10**8), st.sampled_from([0, 1, -1, 5, 25, 100])),
    st.integers(0, 4),
)
# Characters both sides know (not NUL, surrogates or code points unassigned in Python's Unicode).
characters = st.characters(exclude_categories=("Cs", "Cn"), exclude_characters="\x00")
texts = st.one_of(
    st.text(characters, max_size=6),
    st.text(st.sampled_from("aAzZ éÉßσΣςİiᾳ中文字ǅ😀\\'\"\n"), max_size=6),
)
dates = st.one_of(st.dates(), st.sampled_from([date(1, 1, 1), date(9999, 12, 31), TODAY]))

LEAVES = {
    "number": st.one_of(st.sampled_from(["n1", "n2", "NULL", "0"]), decimals.map(literal_number)),
    "text": st.one_of(
        st.sampled_from(["t1", "t2", "NULL"]),
        st.builds(literal_text, texts, st.sampled_from(["'", '"'])),
    ),
    "date": st.sampled_from(["d1", "d2", "TODAY()", "NULL"]),
    "boolean": st.sampled_from(["b1", "TRUE", "FALSE", "NULL"]),
}
COMPARABLE = ["number", "text", "date", "boolean"]


def join(template: str) -> Callable[[tuple[str, ...]], str]:
    return lambda parts: template.format(*parts)


def several(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(strategy, min_size=1, max_size=3).map(", ".join)


@cache
def formulas(type_name: str, depth: int) -> st.SearchStrategy[str]:
    """Type-correct formulas of ``type_name``, nested up to ``depth`` function/operator levels."""
    if depth == 0:
        return LEAVES[type_name]

    def sub(t: str) -> st.SearchStrategy[str]:
        return formulas(t, depth - 1)

    any_type = st.sampled_from(COMPARABLE).flatmap(sub)
    same_type = [
        st.tuples(sub("boolean"), sub(type_name), sub(type_name)).map(join("IF({}, {}, {})")),
        several(sub(type_name)).map("COALESCE({})".format),
        st.tuples(st.sampled_from(["MIN", "MAX"]), several(sub(type_name))).map(join("{}({})")),
    ]
    options = {
        "number": [
            st.tuples(sub("number"), st.sampled_from("+-*/"), sub("number")).map(
                join("({} {} {})")
            ),
            sub("number").map("-({})".format),
            st.tuples(sub("number"), st.integers(-3, 5)).map(join("ROUND({}, {})")),
            sub("number").map("ABS({})".format),
            sub("text").map("LEN({})".format),
            st.tuples(sub("date"), sub("date")).map(join("DAYS_BETWEEN({}, {})")),
            st.tuples(st.sampled_from(["YEAR", "MONTH"]), sub("date")).map(join("{}({})")),
        ],
        "text": [
            st.tuples(any_type, any_type).map(join("({} & {})")),
            several(any_type).map("CONCAT({})".format),
            st.tuples(st.sampled_from(["UPPER", "LOWER"]), sub("text")).map(join("{}({})")),
        ],
        "date": [st.tuples(sub("date"), sub("number")).map(join("ADD_DAYS({}, {})"))],
        "boolean": [
            st.sampled_from(COMPARABLE)
            .flatmap(
                lambda t: st.tuples(
                    sub(t), st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">="]), sub(t)
                )
            )
            .map(join("({} {} {})")),
            st.tuples(sub("boolean"), st.sampled_from(["AND", "OR"]), sub("boolean")).map(
                join("({} {} {})")
            ),
            sub("boolean").map("(NOT ({}))".format),  # NOT binds looser than &
            any_type.map("ISNULL({})".format),
        ],
    }
    return st.one_of(LEAVES[type_name], *options[type_name], *same_type)


def sometimes_null(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy``, or None one time in four."""
    return st.tuples(st.integers(0, 3), strategy).map(lambda pair: pair[1] if pair[0] else None)


field_values = st.fixed_dictionaries(
    {
        "n1": sometimes_null(decimals),
        "n2": sometimes_null(st.one_of(st.just(Decimal("0.00")), decimals)),
        "t1": sometimes_null(texts),
        "t2": sometimes_null(texts),
        "d1": sometimes_null(dates),
        "d2": sometimes_null(dates),
        "b1": sometimes_null(st.booleans()),
    }
)


@hypothesis_settings(
    max_examples=200,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    expression=st.sampled_from(COMPARABLE).flatmap(lambda t: formulas(t, 3)),
    values=field_values,
)
def test_python_and_postgresql_agree(engine, case_gap, expression, values):
    assume(not case_gap.intersection(expression + (values["t1"] or "") + (values["t2"] or "")))
    formula = parse(expression)
    try:
        expected_type = formula.result_type(FIELDS)
    except FormulaError as error:
        assert error.message == "The formula is always empty (NULL)"
        expected_type = None
    with engine.connect() as connection:
        python, database = in_database(connection, expression, values, FIELDS)
    assert same(python, database), (python, database)
    if python is not None:
        python_types = {Decimal: "number", str: "text", bool: "boolean", date: "date"}
        assert python_types[type(python)] == expected_type
