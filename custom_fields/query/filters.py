"""Filter input in its three forms, parsed into one tree.

* JSON tree: ``{"and": [cond, {"or": [...]}, {"not": cond}]}`` where a condition is
  ``{"field": "amount", "op": "gt", "value": 100}``.
* Numbered conditions with logic text: ``{"conditions": [c1, c2, c3], "logic": "1 AND (2 OR 3)"}``
  (without ``logic`` all conditions must hold). Errors name the position in the text.
* URL form: repeated ``f=field:op:value`` parameters, numbered in order, with optional
  ``logic=1 AND (2 OR NOT 3)``; list values are comma-separated (``\\,`` for a comma, ``\\\\``
  for a backslash); only the first two colons separate, so values may hold colons.

Limits keep a query cheap to plan: depth, number of conditions and of groups (IN-list size is
the operators').
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from saas.errors import ValidationFailed

MAX_DEPTH = 6
MAX_CONDITIONS = 50
#: Groups (and, or, not) in one tree.
MAX_GROUPS = 100
MAX_LOGIC = 1000


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any
    #: Where the condition came from, for messages: ``and[2]`` or ``3``.
    where: str


@dataclass(frozen=True)
class Group:
    """``op`` is and / or / not (not has one child)."""

    op: str
    children: tuple[Any, ...]


def fail(message: str, key: str = "filter") -> ValidationFailed:
    return ValidationFailed({key: [message]})


def _condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping):
        raise fail(_("%(where)s: expected a condition or a group.", where=where))
    unknown = set(raw) - {"field", "op", "value"}
    if unknown:
        raise fail(_("%(where)s: unknown key “%(key)s”.", where=where, key=sorted(unknown)[0][:40]))
    field, op = raw.get("field"), raw.get("op")
    if not isinstance(field, str) or not field:
        raise fail(_("%(where)s: name a field.", where=where))
    if not isinstance(op, str) or not op:
        raise fail(_("%(where)s: name an operator.", where=where))
    return Condition(field[:130], op[:40], raw.get("value"), where)


class _Counter:
    def __init__(self) -> None:
        self.count = 0
        self.groups = 0

    def add(self) -> None:
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise fail(_("A filter may have at most %(n)d conditions.", n=MAX_CONDITIONS))

    def add_group(self, size: int) -> None:
        """Groups count too: a tree of thousands of empty groups is no cheaper to read."""
        self.groups += 1
        if self.groups > MAX_GROUPS or size > MAX_CONDITIONS:
            raise fail(_("A filter may have at most %(n)d conditions.", n=MAX_CONDITIONS))


def parse_tree(raw: Any, where: str = "filter", depth: int = 0, counter=None) -> Any:
    """A JSON filter tree (or ``None``) as :class:`Group` / :class:`Condition` nodes."""
    counter = counter or _Counter()
    if depth > MAX_DEPTH:
        raise fail(_("Filters may be nested at most %(n)d levels deep.", n=MAX_DEPTH))
    if raw is None:
        return None
    if isinstance(raw, Mapping) and "conditions" in raw:
        if depth:
            raise fail(_("%(where)s: numbered conditions only at the top.", where=where))
        unknown = set(raw) - {"conditions", "logic"}
        if unknown:
            key = str(sorted(unknown, key=str)[0])[:40]
            raise fail(_("Unknown key “%(key)s” beside the conditions.", key=key))
        return parse_numbered(raw.get("conditions"), raw.get("logic"))
    if isinstance(raw, Mapping) and len(raw) == 1 and next(iter(raw)) in ("and", "or", "not"):
        op, body = next(iter(raw.items()))
        if op == "not":
            counter.add_group(1)
            return Group("not", (parse_tree(body, f"{where}.not", depth + 1, counter),))
        if not isinstance(body, list):
            raise fail(_("%(where)s: “%(op)s” takes a list.", where=where, op=op))
        counter.add_group(len(body))
        children = tuple(
            parse_tree(child, f"{where}.{op}[{i}]", depth + 1, counter)
            for i, child in enumerate(body)
        )
        return Group(op, tuple(c for c in children if c is not None))
    counter.add()
    return _condition(raw, where)


def parse_numbered(conditions: Any, logic: Any) -> Any:
    if not isinstance(conditions, list):
        raise fail(_("“conditions” must be a list."))
    if len(conditions) > MAX_CONDITIONS:
        raise fail(_("A filter may have at most %(n)d conditions.", n=MAX_CONDITIONS))
    parsed = [_condition(c, str(i + 1)) for i, c in enumerate(conditions)]
    if logic is None or (isinstance(logic, str) and not logic.strip()):
        return Group("and", tuple(parsed)) if parsed else None
    if not isinstance(logic, str):
        raise fail(_("The logic must be text such as “1 AND (2 OR 3)”."), "logic")
    return LogicParser(logic, parsed).parse()


_TOKEN = re.compile(r"\s*(?:(\d+)|(AND|OR|NOT)\b|(\()|(\)))", re.IGNORECASE)


class LogicParser:
    """``expr := term (OR term)*; term := factor (AND factor)*;
    factor := NOT factor | n | (expr)``."""

    def __init__(self, text: str, conditions: list[Condition]):
        if len(text) > MAX_LOGIC:
            raise fail(_("The logic is too long."), "logic")
        self.text = text
        self.conditions = conditions
        self.pos = 0
        self.depth = 0
        self.used: set[int] = set()

    def _error(self, message: str, pos: int | None = None) -> ValidationFailed:
        at = self.pos if pos is None else pos
        return fail(_("%(message)s (at character %(pos)d)", message=message, pos=at + 1), "logic")

    def _peek(self) -> tuple[str, str, int] | None:
        rest = self.text[self.pos :]
        if not rest.strip():
            return None
        match = _TOKEN.match(self.text, self.pos)
        start = self.pos + len(rest) - len(rest.lstrip())
        if not match:
            raise self._error(_("Unexpected “%(text)s”", text=rest.strip()[:10]), start)
        number, word, lpar, rpar = match.groups()
        kind = "num" if number else "word" if word else "(" if lpar else ")"
        return kind, (number or word or lpar or rpar).upper(), start

    def _take(self) -> tuple[str, str, int]:
        token = self._peek()
        if token is None:
            raise self._error(_("The logic ends too early"), len(self.text))
        match = _TOKEN.match(self.text, self.pos)
        self.pos = match.end()
        return token

    def parse(self) -> Any:
        node = self._expr()
        token = self._peek()
        if token is not None:
            raise self._error(_("Unexpected “%(text)s”", text=token[1]), token[2])
        missing = set(range(1, len(self.conditions) + 1)) - self.used
        if missing:
            raise fail(_("Condition %(n)d is not used in the logic.", n=min(missing)), "logic")
        return node

    def _expr(self) -> Any:
        children = [self._term()]
        while (token := self._peek()) is not None and token[1] == "OR":
            self._take()
            children.append(self._term())
        return children[0] if len(children) == 1 else Group("or", tuple(children))

    def _term(self) -> Any:
        children = [self._factor()]
        while (token := self._peek()) is not None and token[1] == "AND":
            self._take()
            children.append(self._factor())
        return children[0] if len(children) == 1 else Group("and", tuple(children))

    def _factor(self) -> Any:
        kind, value, start = self._take()
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH * 2:
                raise self._error(_("The logic is nested too deeply"), start)
            if value == "NOT":
                return Group("not", (self._factor(),))
            if kind == "(":
                node = self._expr()
                closing = self._peek()
                if closing is None or closing[0] != ")":
                    raise self._error(_("A “)” is missing"), closing[2] if closing else None)
                self._take()
                return node
            if kind == "num":
                number = int(value)
                if not 1 <= number <= len(self.conditions):
                    raise self._error(_("There is no condition %(n)s", n=value), start)
                self.used.add(number)
                return self.conditions[number - 1]
            raise self._error(_("Expected a condition number, “NOT” or “(”"), start)
        finally:
            self.depth -= 1


def split_list(text: str) -> list[str]:
    """A URL-form value split on its commas: ``\\,`` is a comma inside a value and ``\\\\`` a
    backslash; any other backslash is itself."""
    parts, current, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in ",\\":
            current.append(text[i + 1])
            i += 2
            continue
        if char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def parse_url(items: list[str], logic: str | None) -> Any:
    """Repeated ``f=field:op[:value]`` parameters and an optional ``logic``."""
    if len(items) > MAX_CONDITIONS:
        raise fail(_("A filter may have at most %(n)d conditions.", n=MAX_CONDITIONS))
    conditions = []
    for i, item in enumerate(items):
        parts = item.split(":", 2)
        if len(parts) < 2:
            raise fail(
                _("Filter %(n)d: write field:operator:value.", n=i + 1),
            )
        field, op = parts[0].strip(), parts[1].strip()
        value: Any = parts[2] if len(parts) == 3 else None
        if value is not None:
            parts = split_list(value)
            value = parts if len(parts) > 1 else parts[0]
        conditions.append({"field": field, "op": op, "value": value})
    return parse_numbered(conditions, logic)
