"""Formula fields: one parsed expression, evaluated in Python and compiled to SQL.

A tenant admin writes a formula such as ``amount * (1 - discount / 100)``. :func:`parse` turns it
into a :class:`Formula`, which can

* check itself against the types of the fields it uses (:meth:`Formula.result_type`),
* compute a record's value in Python (:meth:`Formula.evaluate`), e.g. right after saving, and
* compile to a SQLAlchemy Core expression (:meth:`Formula.to_sql`), so that lists can filter and
  sort on it like on a stored field.

Both evaluations must agree to the digit, so the semantics are PostgreSQL's and Python imitates
them (not the other way round).

Grammar (keywords and function names are case-insensitive, field keys are not)::

    formula     := or_expr
    or_expr     := and_expr ("OR" and_expr)*
    and_expr    := not_expr ("AND" not_expr)*
    not_expr    := "NOT" not_expr | comparison
    comparison  := concat [("=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") concat]
    concat      := additive ("&" additive)*
    additive    := term (("+" | "-") term)*
    term        := unary (("*" | "/") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "TRUE" | "FALSE" | "NULL" | FIELD
                 | NAME "(" [formula ("," formula)*] ")" | "(" formula ")"
    NUMBER      := [0-9]+ ["." [0-9]*] | "." [0-9]+        (no exponent)
    STRING      := '"' ... '"' | "'" ... "'"   with \\\\ \\" \\' \\n \\r \\t escapes
    FIELD       := [a-z][a-z0-9_]*             (a field key; keywords cannot be field keys)

Comparisons do not chain (``a < b < c`` is an error).

Functions: ``IF(cond, then, else)``, ``ROUND(x[, digits])`` (digits a whole-number literal),
``ABS(x)``, ``MIN(a, …)``, ``MAX(a, …)``, ``COALESCE(a, …)``, ``CONCAT(a, …)``, ``UPPER(s)``,
``LOWER(s)``, ``LEN(s)``, ``TODAY()``, ``NOW()``, ``DAYS_BETWEEN(start, end)`` (end − start in
days), ``ADD_DAYS(date, n)``, ``YEAR(d)``, ``MONTH(d)`` and ``ISNULL(x)`` (the only way to test
for NULL, since ``x = NULL`` is NULL).

Types are number, text, boolean, date and datetime. Semantics (identical in Python and SQL):

* Numbers are exact decimals (PostgreSQL ``numeric``); Python tracks the same scale, so
  ``1.50 + 1`` is ``2.50`` in both. Division uses PostgreSQL's rule for the result scale (at least
  16 significant digits, at least the scale of either operand) and rounds half away from zero.
* Arithmetic, comparisons, UPPER, LOWER, LEN, ROUND, ABS and the date functions return NULL when
  an argument is NULL; division by zero is NULL.
* ``&`` and CONCAT treat NULL as ``''`` and also take numbers (rendered with their scale, no
  exponent), dates (``YYYY-MM-DD``) and booleans (``true``/``false``).
* IF with a NULL condition takes the else branch; AND, OR and NOT use SQL's three-valued logic.
* COALESCE returns its first non-NULL argument; MIN and MAX ignore NULLs like SQL's LEAST and
  GREATEST (NULL only when all arguments are).
* ROUND rounds half away from zero (``ROUND(-2.5) = -3``) to exactly ``digits`` decimals.
* Text compares, and MIN/MAX order, by Unicode code point; UPPER and LOWER use Unicode simple
  case mapping (one character to one character: ``UPPER('ß')`` stays ``'ß'``). In SQL both come
  from the ``pg_c_utf8`` collation on PostgreSQL 17 and later, and from the libc ``C.utf8``
  collation before that (PostgreSQL 15 and 16), which behaves the same way; the database must
  be UTF-8.
* ADD_DAYS drops the fraction of ``n`` (towards zero) and gives NULL outside 0001-01-01 to
  9999-12-31, the range Python's dates cover. DAYS_BETWEEN, YEAR and MONTH of a datetime use its
  local date.

Known differences between Python and SQL that this module cannot remove (callers keep them in
step):

* TODAY(), NOW() and the local date of a datetime come from the session's ``TimeZone`` in SQL
  but from the ``today`` and ``now`` arguments (and ``now.tzinfo``) in Python.
* UPPER and LOWER in Python use the Unicode tables of the Python build (Unicode 14.0 for 3.11),
  PostgreSQL its own (15.1 in 17, 16.0 in 18): letters added to Unicode since then change case
  only in SQL.
* A number outside PostgreSQL's ``numeric`` range (131072 digits before the point) makes the SQL
  statement fail; Python raises :class:`FormulaError` instead.
* Text results of UPPER, LOWER, MIN and MAX carry an explicit ``COLLATE`` (see above) in SQL.
  Sorting a list by the formula in the user's language needs the caller's own ``COLLATE`` on the
  whole expression, and combining the result with an expression that has another explicit
  collation is an error in PostgreSQL.

Limits guard the parser and SQLAlchemy's recursive compiler: the expression length, its nesting
depth (every operator, function call and pair of parentheses is a level, so ``a - b - c`` nests
``a - b`` inside ``… - c``), the number of parts, and an estimate of how deep the SQL will be.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
)
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _ln
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["FIELD_TYPES", "RESULT_TYPES", "Formula", "FormulaError", "parse"]

RESULT_TYPES = ("number", "text", "boolean", "date", "datetime")

# Kehu field types that formulas can read, by the formula type they read as. Formula fields
# referencing other formulas pass the other formula's result type, hence the identity entries.
FIELD_TYPES: dict[str, str] = {
    "text": "text",
    "long_text": "text",
    "email": "text",
    "phone": "text",
    "url": "text",
    "picklist": "text",
    "integer": "number",
    "decimal": "number",
    "currency": "number",
    "percent": "number",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
}

# Exact decimal arithmetic: + - * never round with this precision (division is done on integers).
_CTX = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_UP)

# PostgreSQL numeric limits (src/backend/utils/adt/numeric.c).
_PG_MIN_SIG_DIGITS = 16
_PG_MAX_DISPLAY_SCALE = 1000
_PG_DSCALE_MAX = 0x3FFF
_PG_MAX_INT_DIGITS = 131072

_ROUND_DIGITS_LIMIT = 1000
_FIRST_DAY = date(1, 1, 1)
_LAST_DAY_NUMBER = (date(9999, 12, 31) - _FIRST_DAY).days
# Code point order and simple case mapping, like Python below: PostgreSQL's own collation from
# version 17, glibc's C.utf8 before it (chosen when the statement compiles, by server version).
_COLLATION_SINCE_17 = "pg_c_utf8"
_COLLATION_BEFORE_17 = '"C.utf8"'

# Python frames SQLAlchemy's recursive compiler spends per SQL level (measured with SQLAlchemy
# 2.0: ~11 for a function call, ~5 for an operator, ~3 for a CASE; chains of + * || AND OR are
# flattened). Each node adds its share along its deepest argument; a formula whose total exceeds
# the budget is "nested too deeply", so that compiling it never hits Python's recursion limit,
# even when called from a deep stack.
_SQL_FRAMES_BUDGET = 650
_SQL_FRAMES = {
    "leaf": 15,  # a CAST or COLLATE around the column the caller resolves
    "call": 11,
    "IF": 3,
    "ADD_DAYS": 65,
    "DAYS_BETWEEN": 27,
    "YEAR": 22,
    "MONTH": 22,
    "MIN": 16,
    "MAX": 16,
    "CONCAT": 22,
    "&": 22,
    "UPPER": 16,
    "LOWER": 16,
    "LEN": 16,
    "ISNULL": 5,
    "/": 16,
    "comparison": 10,
    "operator": 5,
}


class FormulaError(Exception):
    """A formula that cannot be parsed, typed or evaluated; ``position`` is a 0-based offset."""

    def __init__(self, message: str, position: int) -> None:
        self.message = str(message)
        self.position = position
        super().__init__(self.message, position)

    def __str__(self) -> str:
        return str(_l("%(message)s at %(position)d", message=self.message, position=self.position))


# --- Tokens ---------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><>|!=|<=|>=|[-+*/&=<>(),])
    | (?P<quote>["'])
    """,
    re.VERBOSE | re.ASCII,
)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}
_FIELD_RE = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
_KEYWORDS = frozenset({"TRUE", "FALSE", "NULL", "AND", "OR", "NOT"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, word, op, end
    text: str
    pos: int
    value: Any = None


def _tokens(text: str) -> Iterator[_Token]:
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise FormulaError(_l("Unexpected character %(char)r", char=text[pos]), pos)
        kind = match.lastgroup
        if kind == "quote":
            value, end = _string(text, pos)
            yield _Token("string", text[pos:end], pos, value)
            pos = end
            continue
        end = match.end()
        if kind == "number" and end < len(text) and (text[end].isalnum() or text[end] in "._"):
            raise FormulaError(_l("Invalid number"), pos)
        if kind != "space":
            yield _Token(kind, match.group(), pos)
        pos = end
    yield _Token("end", "", len(text))


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(out), pos + 1
        if char == "\\":
            escaped = text[pos + 1 : pos + 2]
            if escaped not in _ESCAPES:
                raise FormulaError(_l("Unknown escape sequence %(seq)s", seq="\\" + escaped), pos)
            out.append(_ESCAPES[escaped])
            pos += 2
            continue
        if char == "\x00":  # PostgreSQL text cannot hold it
            raise FormulaError(_l("Unexpected character %(char)r", char=char), pos)
        out.append(char)
        pos += 1
    raise FormulaError(_l("Unterminated text; close it with %(quote)s", quote=quote), start)


# --- Syntax tree ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Node:
    op: str  # number string boolean null field neg not and or + - * / & = != < <= > >= call
    pos: int
    value: Any = None  # the literal, the field key or the function name
    args: tuple[_Node, ...] = ()
    height: int = 1
    sql_frames: int = 0


@dataclass(frozen=True, slots=True)
class _Signature:
    min_args: int
    max_args: int | None  # None: any number


_FUNCTIONS = {
    "IF": _Signature(3, 3),
    "ROUND": _Signature(1, 2),
    "ABS": _Signature(1, 1),
    "MIN": _Signature(1, None),
    "MAX": _Signature(1, None),
    "COALESCE": _Signature(1, None),
    "CONCAT": _Signature(1, None),
    "UPPER": _Signature(1, 1),
    "LOWER": _Signature(1, 1),
    "LEN": _Signature(1, 1),
    "TODAY": _Signature(0, 0),
    "NOW": _Signature(0, 0),
    "DAYS_BETWEEN": _Signature(2, 2),
    "ADD_DAYS": _Signature(2, 2),
    "YEAR": _Signature(1, 1),
    "MONTH": _Signature(1, 1),
    "ISNULL": _Signature(1, 1),
}

_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_LEAVES = frozenset({"number", "string", "boolean", "null", "field"})
_ARITHMETIC = frozenset({"+", "-", "*", "/"})

# Binding powers of the infix operators (higher binds tighter) and of the prefix operators.
_OR, _AND, _NOT, _COMPARE, _CONCAT, _ADD, _MUL, _NEG = range(1, 9)
_INFIX = {
    "OR": _OR,
    "AND": _AND,
    **dict.fromkeys(["=", "!=", "<>", "<", "<=", ">", ">="], _COMPARE),
    "&": _CONCAT,
    "+": _ADD,
    "-": _ADD,
    "*": _MUL,
    "/": _MUL,
}


def _own_sql_frames(op: str, name: Any) -> int:
    if op in _LEAVES:
        return _SQL_FRAMES["leaf"]
    if op == "call":
        return _SQL_FRAMES.get(name, _SQL_FRAMES["call"])
    if op in _COMPARISONS:
        return _SQL_FRAMES["comparison"]
    return _SQL_FRAMES.get(op, _SQL_FRAMES["operator"])


class _Parser:
    """Precedence climbing over the token list; every recursion is bounded by ``max_depth``."""

    def __init__(self, text: str, max_depth: int, max_nodes: int) -> None:
        self.tokens = list(_tokens(text))
        self.index = 0
        self.depth = 0
        self.nodes = 0
        self.max_depth = max_depth
        self.max_nodes = max_nodes

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise FormulaError(_l("The formula is empty"), 0)
        node = self.expression(0)
        token = self.peek()
        if token.kind != "end":
            raise FormulaError(_l("Unexpected %(token)s", token=_describe(token)), token.pos)
        return node

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def too_deep(self, position: int) -> FormulaError:
        return FormulaError(
            _l(
                "The formula is nested too deeply (more than %(limit)d levels)",
                limit=self.max_depth,
            ),
            position,
        )

    def node(self, op: str, pos: int, value: Any = None, args: tuple[_Node, ...] = ()) -> _Node:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise FormulaError(
                _l("The formula is too long (more than %(limit)d parts)", limit=self.max_nodes),
                pos,
            )
        height = 1 + max((arg.height for arg in args), default=0)
        if height > self.max_depth:
            raise self.too_deep(pos)
        frames = _own_sql_frames(op, value) + max((arg.sql_frames for arg in args), default=0)
        if frames > _SQL_FRAMES_BUDGET:
            raise FormulaError(_l("The formula is nested too deeply for the database"), pos)
        return _Node(op, pos, value, args, height, frames)

    def expression(self, min_power: int) -> _Node:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.too_deep(self.peek().pos)
        left = self.prefix(min_power)
        compared = False
        while True:
            token = self.peek()
            key = token.text.upper() if token.kind == "word" else token.text
            power = _INFIX.get(key) if token.kind in {"word", "op"} else None
            if power is None or power < min_power:
                break
            if power == _COMPARE and compared:
                raise FormulaError(
                    _l("Comparisons cannot be chained; combine them with AND"), token.pos
                )
            compared = power == _COMPARE
            self.advance()
            right = self.expression(power + 1)
            op = {"OR": "or", "AND": "and", "<>": "!="}.get(key, key)
            left = self.node(op, token.pos, args=(left, right))
        self.depth -= 1
        return left

    def prefix(self, min_power: int) -> _Node:
        token = self.advance()
        if token.kind == "number":
            return self.node("number", token.pos, Decimal(token.text))
        if token.kind == "string":
            return self.node("string", token.pos, token.value)
        if token.kind == "op" and token.text == "-":
            operand = self.expression(_NEG)
            return self.node("neg", token.pos, args=(operand,))
        if token.kind == "op" and token.text == "(":
            inner = self.expression(0)
            self.expect(")")
            return inner
        if token.kind == "word":
            upper = token.text.upper()
            if upper in {"TRUE", "FALSE"}:
                return self.node("boolean", token.pos, upper == "TRUE")
            if upper == "NULL":
                return self.node("null", token.pos)
            if upper == "NOT" and min_power <= _NOT:  # "a = NOT b" needs parentheses
                operand = self.expression(_NOT)
                return self.node("not", token.pos, args=(operand,))
            if self.peek().text == "(" and self.peek().kind == "op":
                return self.call(token)
            if upper not in _KEYWORDS:
                if not _FIELD_RE.fullmatch(token.text):
                    raise FormulaError(_l("Unknown field '%(name)s'", name=token.text), token.pos)
                return self.node("field", token.pos, token.text)
        if token.kind == "end":
            raise FormulaError(_l("Expected a value"), token.pos)
        raise FormulaError(
            _l("Expected a value, found %(token)s", token=_describe(token)), token.pos
        )

    def call(self, name_token: _Token) -> _Node:
        name = name_token.text.upper()
        signature = _FUNCTIONS.get(name)
        if signature is None:
            raise FormulaError(_l("Unknown function %(name)s", name=name), name_token.pos)
        self.advance()  # the "("
        args: list[_Node] = []
        if self.peek().text != ")" or self.peek().kind != "op":
            args.append(self.expression(0))
            while self.peek().kind == "op" and self.peek().text == ",":
                self.advance()
                args.append(self.expression(0))
            self.expect(")", "','")
        else:
            self.advance()
        _check_arity(name, signature, len(args), name_token.pos)
        if name == "ROUND" and len(args) == 2:
            args[1] = _Node("number", args[1].pos, _round_digits(args[1]))
        return self.node("call", name_token.pos, name, tuple(args))

    def expect(self, text: str, alternative: str | None = None) -> None:
        token = self.peek()
        if token.kind == "op" and token.text == text:
            self.advance()
            return
        if alternative:
            message = _l(
                "Expected %(alternative)s or '%(text)s'", alternative=alternative, text=text
            )
        else:
            message = _l("Expected '%(text)s'", text=text)
        raise FormulaError(message, token.pos)


def _describe(token: _Token) -> str:
    return repr(token.text)


def _check_arity(name: str, signature: _Signature, count: int, pos: int) -> None:
    low, high = signature.min_args, signature.max_args
    if low <= count and (high is None or count <= high):
        return
    if high is None:
        message = _ln(
            "%(name)s takes at least %(num)d argument",
            "%(name)s takes at least %(num)d arguments",
            low,
            name=name,
        )
    elif low == high:
        message = _ln(
            "%(name)s takes %(num)d argument, not %(count)d",
            "%(name)s takes %(num)d arguments, not %(count)d",
            low,
            name=name,
            count=count,
        )
    else:
        message = _l(
            "%(name)s takes %(low)d or %(high)d arguments, not %(count)d",
            name=name,
            low=low,
            high=high,
            count=count,
        )
    raise FormulaError(message, pos)


def _round_digits(node: _Node) -> int:
    """ROUND's digits must be a literal: the result scale then is static, as SQL needs it."""
    negative = node.op == "neg"
    literal = node.args[0] if negative else node
    value = literal.value if literal.op == "number" else None
    if value is None or value != value.to_integral_value() or value > _ROUND_DIGITS_LIMIT:
        raise FormulaError(
            _l(
                "The digits of ROUND must be a whole number from -%(limit)d to %(limit)d, "
                "like ROUND(amount, 2)",
                limit=_ROUND_DIGITS_LIMIT,
            ),
            node.pos,
        )
    return -int(value) if negative else int(value)


def parse(
    expression: str, *, max_length: int = 2000, max_depth: int = 50, max_nodes: int = 500
) -> Formula:
    """Parse ``expression``; raise :class:`FormulaError` pointing at the offending character."""
    if len(expression) > max_length:
        raise FormulaError(
            _l("The formula is longer than %(limit)d characters", limit=max_length), max_length
        )
    root = _Parser(expression, max_depth, max_nodes).parse()
    return Formula(expression, root)


# --- Types ----------------------------------------------------------------------------------

_TYPE_LABELS = {
    "number": _l("number"),
    "text": _l("text"),
    "boolean": _l("boolean"),
    "date": _l("date"),
    "datetime": _l("date and time"),
    "null": _l("NULL"),
}


def _label(type_name: str) -> str:
    return str(_TYPE_LABELS[type_name])


def _unify(types: list[str], pos: int, name: str) -> str:
    """The common type of values that may take each other's place (NULL fits any type)."""
    found = "null"
    for type_name in types:
        if type_name == "null" or type_name == found:
            continue
        if found != "null":
            raise FormulaError(
                _l(
                    "The values of %(name)s must have the same type, not %(a)s and %(b)s",
                    name=name,
                    a=_label(found),
                    b=_label(type_name),
                ),
                pos,
            )
        found = type_name
    return found


class _Typer:
    """Infers the type of every node; the result is keyed by node identity."""

    def __init__(self, field_types: Mapping[str, str]) -> None:
        self.field_types = field_types
        self.types: dict[int, str] = {}

    def __call__(self, node: _Node) -> str:
        type_name = self.infer(node)
        self.types[id(node)] = type_name
        return type_name

    def expect(self, node: _Node, allowed: set[str], what: str) -> str:
        type_name = self(node)
        if type_name != "null" and type_name not in allowed:
            wanted = ", ".join(_label(t) for t in sorted(allowed))
            raise FormulaError(
                _l(
                    "%(what)s needs %(wanted)s, not %(type)s",
                    what=what,
                    wanted=wanted,
                    type=_label(type_name),
                ),
                node.pos,
            )
        return type_name

    def infer(self, node: _Node) -> str:
        op = node.op
        if op in {"number", "string", "boolean", "null"}:
            return {"number": "number", "string": "text", "boolean": "boolean"}.get(op, "null")
        if op == "field":
            return self.field(node)
        if op == "neg" or op in _ARITHMETIC:
            for arg in node.args:
                self.expect(arg, {"number"}, repr("-" if op == "neg" else op))
            return "number"
        if op in {"not", "and", "or"}:
            for arg in node.args:
                self.expect(arg, {"boolean"}, op.upper())
            return "boolean"
        if op == "&":
            for arg in node.args:
                self.expect(arg, {"number", "text", "boolean", "date"}, "'&'")
            return "text"
        if op in _COMPARISONS:
            left, right = (self(arg) for arg in node.args)
            if "null" not in (left, right) and left != right:
                raise FormulaError(
                    _l(
                        "Cannot compare %(left)s with %(right)s",
                        left=_label(left),
                        right=_label(right),
                    ),
                    node.pos,
                )
            return "boolean"
        return self.call(node)

    def field(self, node: _Node) -> str:
        key = node.value
        if key not in self.field_types:
            raise FormulaError(_l("Unknown field '%(name)s'", name=key), node.pos)
        kind = self.field_types[key]
        if kind == "null":  # a NULL value whose field type the caller did not say
            return "null"
        if kind not in FIELD_TYPES:
            raise FormulaError(
                _l("Field '%(name)s' (%(type)s) cannot be used in formulas", name=key, type=kind),
                node.pos,
            )
        return FIELD_TYPES[kind]

    def call(self, node: _Node) -> str:
        name, args = node.value, node.args
        dates = {"date", "datetime"}
        if name == "IF":
            self.expect(args[0], {"boolean"}, "IF")
            return self.same(args[1:], node.pos, "IF")
        if name in {"ROUND", "ABS"}:
            self.expect(args[0], {"number"}, name)
            if len(args) == 2:
                self(args[1])
            return "number"
        if name in {"MIN", "MAX", "COALESCE"}:
            return self.same(args, node.pos, name)
        if name == "CONCAT":
            for arg in args:
                self.expect(arg, {"number", "text", "boolean", "date"}, name)
            return "text"
        if name in {"UPPER", "LOWER"}:
            self.expect(args[0], {"text"}, name)
            return "text"
        if name == "LEN":
            self.expect(args[0], {"text"}, name)
            return "number"
        if name == "TODAY":
            return "date"
        if name == "NOW":
            return "datetime"
        if name in {"DAYS_BETWEEN", "YEAR", "MONTH"}:
            for arg in args:
                self.expect(arg, dates, name)
            return "number"
        if name == "ADD_DAYS":
            self.expect(args[0], {"date"}, name)
            self.expect(args[1], {"number"}, name)
            return "date"
        if name == "ISNULL":
            self(args[0])
            return "boolean"
        raise AssertionError(name)  # pragma: no cover - the parser knows every function

    def same(self, args: tuple[_Node, ...], pos: int, name: str) -> str:
        return _unify([self(arg) for arg in args], pos, name)


# --- Python evaluation ----------------------------------------------------------------------


def _scale(value: Decimal) -> int:
    return max(0, -int(value.as_tuple().exponent))


def _normal(value: Decimal, pos: int) -> Decimal:
    """PostgreSQL has neither negative zero nor numbers beyond 131072 integer digits."""
    if value.is_zero():
        return value.copy_abs()
    if value.adjusted() >= _PG_MAX_INT_DIGITS:
        raise FormulaError(_l("The number is too large"), pos)
    return value


def _nbase_weight(value: Decimal) -> tuple[int, int]:
    """Weight and first digit of ``value`` in PostgreSQL's base-10000 representation."""
    if value.is_zero():
        return 0, 0
    magnitude = value.copy_abs()
    weight = magnitude.adjusted() // 4
    return weight, int(magnitude.scaleb(-4 * weight, _CTX))


def _divide(dividend: Decimal, divisor: Decimal) -> Decimal | None:
    """PostgreSQL's numeric division: select_div_scale(), then rounding half away from zero."""
    if divisor.is_zero():
        return None
    weight1, first1 = _nbase_weight(dividend)
    weight2, first2 = _nbase_weight(divisor)
    quotient_weight = weight1 - weight2 - (1 if first1 <= first2 else 0)
    scale1, scale2 = _scale(dividend), _scale(divisor)
    rscale = max(_PG_MIN_SIG_DIGITS - quotient_weight * 4, scale1, scale2, 0)
    rscale = min(rscale, _PG_MAX_DISPLAY_SCALE)
    # Exact integer long division of dividend * 10^rscale by divisor, then one rounding step.
    top = int(dividend.scaleb(scale1, _CTX))
    bottom = int(divisor.scaleb(scale2, _CTX))
    numerator = abs(top) * 10 ** (scale2 + rscale)
    denominator = abs(bottom) * 10**scale1
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    if (top < 0) != (bottom < 0):
        quotient = -quotient
    return Decimal(quotient).scaleb(-rscale, _CTX)


def _multiply(left: Decimal, right: Decimal) -> Decimal:
    product = _CTX.multiply(left, right)
    if _scale(product) > _PG_DSCALE_MAX:  # PostgreSQL rounds products to its largest scale
        product = product.quantize(Decimal(1).scaleb(-_PG_DSCALE_MAX), context=_CTX)
    return product


def _round(value: Decimal, digits: int) -> Decimal:
    rounded = value.quantize(Decimal(1).scaleb(-digits), context=_CTX)
    if digits < 0:  # PostgreSQL never shows a negative scale: 1200, not 1.2E+3
        rounded = rounded.quantize(Decimal(1), context=_CTX)
    return rounded


# Unicode simple case mappings that Python's str.upper()/lower() (full mappings) do not give.
_SIMPLE_UPPER_EXTRA = {
    **{cp: cp + 8 for first in (0x1F80, 0x1F90, 0x1FA0) for cp in range(first, first + 8)},
    0x1FB3: 0x1FBC,
    0x1FC3: 0x1FCC,
    0x1FF3: 0x1FFC,
}
_SIMPLE_LOWER_EXTRA = {0x130: 0x69}
_LAST_CASED = 0x1FFFF  # no character beyond the SMP has a case mapping


@cache
def _case_tables() -> tuple[dict[int, int], dict[int, int]]:
    """Translation tables for Unicode simple case mapping (what pg_c_utf8 implements)."""
    upper: dict[int, int] = {}
    lower: dict[int, int] = {}
    for code in range(_LAST_CASED + 1):
        char = chr(code)
        up, low = char.upper(), char.lower()
        if len(up) == 1 and up != char:
            upper[code] = ord(up)
        if len(low) == 1 and low != char:
            lower[code] = ord(low)
    upper.update(_SIMPLE_UPPER_EXTRA)
    lower.update(_SIMPLE_LOWER_EXTRA)
    return upper, lower


def _text(value: Any) -> str:
    """How ``&`` and CONCAT render a value, exactly as the SQL side casts it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _local_date(value: date, now: datetime) -> date:
    if isinstance(value, datetime):
        return value.astimezone(now.tzinfo).date()
    return value


def _logic_and(values: list[bool | None]) -> bool | None:
    if False in values:
        return False
    return None if None in values else True


def _logic_or(values: list[bool | None]) -> bool | None:
    if True in values:
        return True
    return None if None in values else False


_COMPARE_FUNCTIONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class _Evaluator:
    def __init__(self, env: Mapping[str, Any], today: date, now: datetime) -> None:
        self.env = env
        self.today = today
        self.now = now

    def __call__(self, node: _Node) -> Any:
        op = node.op
        if op in {"number", "string", "boolean"}:
            return node.value
        if op == "null":
            return None
        if op == "field":
            return self.env[node.value]
        if op == "call":
            return self.call(node)
        if op == "and":
            return _logic_and([self(arg) for arg in node.args])
        if op == "or":
            return _logic_or([self(arg) for arg in node.args])
        args = [self(arg) for arg in node.args]
        if op == "&":
            return "".join(_text(arg) for arg in args)
        if None in args:
            return None
        if op == "not":
            return not args[0]
        if op == "neg":
            return _normal(args[0].copy_negate(), node.pos)
        if op in _COMPARISONS:
            return _COMPARE_FUNCTIONS[op](args[0], args[1])
        left, right = args
        if op == "+":
            return _normal(_CTX.add(left, right), node.pos)
        if op == "-":
            return _normal(_CTX.subtract(left, right), node.pos)
        if op == "*":
            return _normal(_multiply(left, right), node.pos)
        return _divide(left, right)

    def call(self, node: _Node) -> Any:
        name, nodes = node.value, node.args
        if name == "IF":
            return self(nodes[1]) if self(nodes[0]) is True else self(nodes[2])
        if name == "TODAY":
            return self.today
        if name == "NOW":
            return self.now
        args = [self(arg) for arg in nodes]
        if name == "COALESCE":
            return next((arg for arg in args if arg is not None), None)
        if name in {"MIN", "MAX"}:
            present = [arg for arg in args if arg is not None]
            if not present:
                return None
            return min(present) if name == "MIN" else max(present)
        if name == "CONCAT":
            return "".join(_text(arg) for arg in args)
        if name == "ISNULL":
            return args[0] is None
        if None in args:
            return None
        if name == "ROUND":
            return _normal(_round(args[0], args[1] if len(args) == 2 else 0), node.pos)
        if name == "ABS":
            return args[0].copy_abs()
        if name in {"UPPER", "LOWER"}:
            upper, lower = _case_tables()
            return args[0].translate(upper if name == "UPPER" else lower)
        if name == "LEN":
            return Decimal(len(args[0]))
        if name == "DAYS_BETWEEN":
            start, end = (_local_date(arg, self.now) for arg in args)
            return Decimal((end - start).days)
        if name in {"YEAR", "MONTH"}:
            day = _local_date(args[0], self.now)
            return Decimal(day.year if name == "YEAR" else day.month)
        if name == "ADD_DAYS":
            number = (args[0] - _FIRST_DAY).days + int(args[1])  # int() truncates like trunc()
            if 0 <= number <= _LAST_DAY_NUMBER:
                return _FIRST_DAY + timedelta(days=number)
            return None
        raise AssertionError(name)  # pragma: no cover


# --- Input values ---------------------------------------------------------------------------


def _python_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return "text"


def _convert(value: Any, type_name: str, now: datetime) -> Any:
    """The canonical Python value of a field: Decimal, str, bool, date or aware datetime."""
    if value is None or type_name == "null":
        return None
    if type_name == "number":
        if isinstance(value, bool):
            raise ValueError(value)
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            raise ValueError(value)
        if number.as_tuple().exponent > 0:  # 1E+2 reads as 100 in PostgreSQL too
            number = number.quantize(Decimal(1), context=_CTX)
        return number.copy_abs() if number.is_zero() else number
    if type_name == "text":
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    if type_name == "boolean":
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if type_name == "date":
        if isinstance(value, str):
            return date.fromisoformat(value)
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ValueError(value)
        return value
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise ValueError(value)
    # A timestamp without zone means local time, as PostgreSQL reads it in the session zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now.tzinfo)


# --- SQL ------------------------------------------------------------------------------------


def _sql_type(type_name: str) -> sa.types.TypeEngine[Any]:
    return {
        "number": sa.Numeric(),
        "text": sa.Text(),
        "boolean": sa.Boolean(),
        "date": sa.Date(),
        "datetime": sa.DateTime(timezone=True),
    }[type_name]


def _type_of_sql(expression: ColumnElement[Any]) -> str:
    """The formula type of a resolved column, from its SQLAlchemy type."""
    sql_type = expression.type
    if isinstance(sql_type, sa.Boolean):
        return "boolean"
    if isinstance(sql_type, sa.Numeric | sa.Integer):
        return "number"
    if isinstance(sql_type, sa.String):
        return "text"
    if isinstance(sql_type, sa.DateTime):
        return "datetime"
    if isinstance(sql_type, sa.Date):
        return "date"
    raise TypeError(f"resolve() returned an expression of type {sql_type!r}; cast it")


def _fits(expression: ColumnElement[Any], type_name: str) -> bool:
    sql_type = expression.type
    return {
        "number": isinstance(sql_type, sa.Numeric) and not isinstance(sql_type, sa.Float),
        "text": isinstance(sql_type, sa.String),
        "boolean": isinstance(sql_type, sa.Boolean),
        "date": isinstance(sql_type, sa.Date),
        "datetime": isinstance(sql_type, sa.DateTime) and bool(sql_type.timezone),
    }[type_name]


class _CodePointCollated(ColumnElement[Any]):
    """``expression COLLATE <code point collation>``, named per server version at compile time."""

    inherit_cache = True
    _traverse_internals = [("element", InternalTraversal.dp_clauseelement)]

    def __init__(self, expression: ColumnElement[Any]):
        self.element = expression
        self.type = expression.type


@compiles(_CodePointCollated)
def _compile_collated(element: _CodePointCollated, compiler: Any, **kw: Any) -> str:
    version = getattr(compiler.dialect, "server_version_info", None) or (99,)
    name = _COLLATION_SINCE_17 if version >= (17,) else _COLLATION_BEFORE_17
    return f"({compiler.process(element.element, **kw)}) COLLATE {name}"


def _collated(expression: ColumnElement[Any]) -> ColumnElement[Any]:
    return _CodePointCollated(expression)


class _Compiler:
    """Builds the SQL expression; ``want`` types NULLs that have no type of their own."""

    def __init__(self, types: Mapping[int, str], columns: Mapping[str, ColumnElement[Any]]):
        self.types = types
        self.columns = columns

    def type_of(self, node: _Node, want: str) -> str:
        type_name = self.types[id(node)]
        return want if type_name == "null" else type_name

    def __call__(self, node: _Node, want: str = "text") -> ColumnElement[Any]:
        op = node.op
        if op == "number":
            return sa.literal(node.value, sa.Numeric())
        if op == "string":
            return sa.literal(node.value, sa.Text())
        if op == "boolean":
            return sa.literal(node.value, sa.Boolean())
        if op == "null":
            return sa.cast(sa.null(), _sql_type(want))
        if op == "field":
            return self.columns[node.value]
        if op == "call":
            return self.call(node, want)
        args = node.args
        if op == "neg":
            return -self(args[0], "number")
        if op == "not":
            return sa.not_(self(args[0], "boolean"))
        if op in {"and", "or"}:
            combine = sa.and_ if op == "and" else sa.or_
            return combine(*(self(arg, "boolean") for arg in args))
        if op == "&":
            return sa.func.concat(*self.texts(self.flatten_concat(node)), type_=sa.Text())
        if op in _COMPARISONS:
            common = _unify([self.types[id(arg)] for arg in args], node.pos, op)
            common = "text" if common == "null" else common
            left, right = (self.operand(arg, common) for arg in args)
            if common == "text":
                left, right = _collated(left), _collated(right)
            return _COMPARE_FUNCTIONS[op](left, right)
        left, right = (self(arg, "number") for arg in args)
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        return left / sa.func.nullif(right, sa.literal(Decimal(0)), type_=sa.Numeric())

    def operand(self, node: _Node, want: str) -> ColumnElement[Any]:
        """An operand in parentheses: SQLAlchemy prints ``(NOT a) < b`` as ``NOT a < b``, which
        PostgreSQL reads as ``NOT (a < b)`` (NOT binds looser than comparisons and IS there)."""
        expression = self(node, want)
        return expression if node.op in _LEAVES else Grouping(expression)

    def flatten_concat(self, node: _Node) -> list[_Node]:
        # One concat() for a whole chain keeps the SQL shallow; & is associative.
        if node.op != "&":
            return [node]
        return [part for arg in node.args for part in self.flatten_concat(arg)]

    def texts(self, nodes: list[_Node]) -> list[ColumnElement[Any]]:
        """Arguments for concat(), which skips NULLs; each cast the way Python renders it."""
        out = []
        for node in nodes:
            type_name = self.type_of(node, "text")
            expression = self(node, type_name)
            if type_name in {"number", "boolean"}:
                expression = sa.cast(expression, sa.Text())
            elif type_name == "date":  # not ::text, which follows the DateStyle setting
                expression = sa.func.to_char(
                    sa.cast(expression, sa.DateTime(timezone=False)),
                    sa.literal("YYYY-MM-DD", sa.Text()),
                    type_=sa.Text(),
                )
            out.append(expression)
        return out

    def local_date(self, node: _Node) -> ColumnElement[Any]:
        expression = self(node, "date")
        if self.type_of(node, "date") == "datetime":
            return sa.cast(expression, sa.Date())  # in the session's time zone
        return expression

    def call(self, node: _Node, want: str) -> ColumnElement[Any]:
        name, args = node.value, node.args
        own = self.type_of(node, want)
        if name == "IF":
            return sa.case((self(args[0], "boolean"), self(args[1], own)), else_=self(args[2], own))
        if name == "ROUND":
            digits = args[1].value if len(args) == 2 else 0
            return sa.func.round(
                self(args[0], "number"), sa.literal(digits, sa.Integer()), type_=sa.Numeric()
            )
        if name == "ABS":
            return sa.func.abs(self(args[0], "number"), type_=sa.Numeric())
        if name in {"MIN", "MAX"}:
            values = [self(arg, own) for arg in args]
            if own == "text":
                values = [_collated(value) for value in values]
            function = sa.func.least if name == "MIN" else sa.func.greatest
            return function(*values, type_=_sql_type(own))
        if name == "COALESCE":
            return sa.func.coalesce(*(self(arg, own) for arg in args), type_=_sql_type(own))
        if name == "CONCAT":
            return sa.func.concat(*self.texts(list(args)), type_=sa.Text())
        if name in {"UPPER", "LOWER"}:
            function = sa.func.upper if name == "UPPER" else sa.func.lower
            return function(_collated(self(args[0], "text")), type_=sa.Text())
        if name == "LEN":
            return sa.cast(sa.func.char_length(self(args[0], "text")), sa.Numeric())
        if name == "TODAY":
            return sa.func.current_date(type_=sa.Date())
        if name == "NOW":
            return sa.func.now(type_=sa.DateTime(timezone=True))
        if name == "DAYS_BETWEEN":
            start, end = (self.local_date(arg) for arg in args)
            return sa.cast(end - start, sa.Numeric())
        if name in {"YEAR", "MONTH"}:
            part = sa.extract("year" if name == "YEAR" else "month", self.local_date(args[0]))
            return sa.cast(part, sa.Numeric())
        if name == "ADD_DAYS":
            return self.add_days(self(args[0], "date"), self(args[1], "number"))
        if name == "ISNULL":
            return self.operand(args[0], self.type_of(args[0], "text")).is_(None)
        raise AssertionError(name)  # pragma: no cover

    @staticmethod
    def add_days(day: ColumnElement[Any], count: ColumnElement[Any]) -> ColumnElement[Any]:
        """day + trunc(count), NULL outside 0001-01-01..9999-12-31, never an SQL error.

        The day number is clamped to one-past-the-range sentinels that NULLIF then removes, so
        ``day`` appears once (nesting ADD_DAYS must not double the SQL each time).
        """
        first = sa.literal(_FIRST_DAY, sa.Date())
        number = sa.type_coerce(day - first, sa.Numeric()) + sa.func.trunc(
            count, type_=sa.Numeric()
        )
        below, above = sa.literal(-1, sa.Numeric()), sa.literal(_LAST_DAY_NUMBER + 1, sa.Numeric())
        clamped = sa.func.least(sa.func.greatest(number, below), above, type_=sa.Numeric())
        inside = sa.func.nullif(
            sa.func.nullif(clamped, below, type_=sa.Numeric()), above, type_=sa.Numeric()
        )
        return first + sa.cast(inside, sa.Integer())


# --- The formula ----------------------------------------------------------------------------


class Formula:
    """A parsed formula. Immutable; typing results are cached per set of field types."""

    def __init__(self, expression: str, root: _Node) -> None:
        self.expression = expression
        self._root = root
        self.references: frozenset[str] = frozenset(_references(root))
        self._typings: dict[tuple[tuple[str, str], ...], tuple[str, dict[int, str]]] = {}

    def __repr__(self) -> str:
        return f"Formula({self.expression!r})"

    def _typing(self, field_types: Mapping[str, str]) -> tuple[str, dict[int, str]]:
        known = tuple(sorted((key, field_types[key]) for key in self.references & set(field_types)))
        cached = self._typings.get(known)
        if cached is None:
            typer = _Typer(dict(known))
            result = typer(self._root)
            cached = self._typings[known] = (result, typer.types)
        return cached

    def result_type(self, field_types: Mapping[str, str]) -> str:
        """The type of the result: number, text, boolean, date or datetime.

        ``field_types`` maps field keys to Kehu field types (or to the result type of another
        formula). Raises :class:`FormulaError` for unknown fields and type errors.
        """
        result, _ = self._typing(field_types)
        if result == "null":
            raise FormulaError(_l("The formula is always empty (NULL)"), self._root.pos)
        return result

    def evaluate(
        self,
        values: Mapping[str, Any],
        *,
        today: date,
        now: datetime,
        field_types: Mapping[str, str] | None = None,
    ) -> Any:
        """The value for one record: Decimal, str, bool, date, datetime or None.

        ``values`` holds the record's fields (missing keys are NULL). Without ``field_types`` the
        types are taken from the Python values, so numbers given as strings need them. ``today``
        and ``now`` (timezone-aware) stand for SQL's CURRENT_DATE and now().
        """
        if isinstance(today, datetime) or not isinstance(today, date):
            raise TypeError("today must be a date")
        if now.tzinfo is None:
            raise TypeError("now must be timezone-aware")
        if field_types is None:
            field_types = {key: _python_type(values.get(key)) for key in self.references}
        _, types = self._typing(field_types)
        env = {}
        for node in _fields(self._root):
            key = node.value
            try:
                env[key] = _convert(values.get(key), types[id(node)], now)
            except (ValueError, TypeError, InvalidOperation):
                raise FormulaError(
                    _l("Field '%(name)s' has an invalid value", name=key), node.pos
                ) from None
        return _Evaluator(env, today, now)(self._root)

    def to_sql(
        self,
        resolve: Callable[[str], ColumnElement[Any]],
        *,
        field_types: Mapping[str, str] | None = None,
    ) -> ColumnElement[Any]:
        """A SQLAlchemy expression computing the formula in PostgreSQL.

        ``resolve(key)`` returns the SQL expression of a field. Its SQLAlchemy type tells the
        field's type unless ``field_types`` is given, in which case mismatching expressions are
        cast (e.g. a JSONB ``astext`` to NUMERIC). All literals are bound parameters.
        """
        columns = {key: resolve(key) for key in sorted(self.references)}
        if field_types is None:
            field_types = {key: _type_of_sql(column) for key, column in columns.items()}
        _, types = self._typing(field_types)
        for key in columns:
            type_name = FIELD_TYPES.get(field_types[key], "null")
            if type_name != "null" and not _fits(columns[key], type_name):
                columns[key] = sa.cast(columns[key], _sql_type(type_name))
        root_type = types[id(self._root)]
        return _Compiler(types, columns)(self._root, "text" if root_type == "null" else root_type)


def _walk(node: _Node) -> Iterator[_Node]:
    yield node
    for arg in node.args:
        yield from _walk(arg)


def _fields(root: _Node) -> Iterator[_Node]:
    return (node for node in _walk(root) if node.op == "field")


def _references(root: _Node) -> set[str]:
    return {node.value for node in _fields(root)}


@cache
def compiled(expression: str) -> Formula:
    """``parse`` for stored expressions, kept per process: a list of records evaluates the same
    few formulas for every row, and a :class:`Formula` is immutable."""
    return parse(expression)
