"""Quote arithmetic in exact decimals: line amounts, tax, header discounts and their allocation.

Pure (no database, no Flask), so the quote and contract services, imports and tests all call the
same code. Amounts are :class:`decimal.Decimal` throughout; floats are refused rather than guessed.

The rules, also in ``docs/crm.md`` ("Money"):

* every currency rounds to its own minor unit (CLDR data through Babel: CNY 2, JPY 0, KWD 3),
  half up (:data:`ROUNDING`);
* each line's net, tax and gross are rounded once, and net + tax == gross on every line;
* a header discount is shared out over the lines in whole minor units by the largest-remainder
  method, so the shares add up to the header discount exactly;
* totals are sums of the rounded lines and are never rounded again.

Bad input raises :class:`MoneyError`, which names the field at fault (``lines[2].quantity``) and
keeps its message untranslated so the caller can translate it for the person who sent it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeVar

from babel.numbers import get_currency_precision, get_currency_symbol, list_currencies

#: Commercial rounding as used on Chinese invoices (四舍五入): 0.125 → 0.13, ¥12.5 → ¥13.
ROUNDING = ROUND_HALF_UP
#: Every quantity, price and amount entered stays below this, so the arithmetic below is exact.
LIMIT = Decimal("1e15")
# Computed amounts (a line's qty × price, sums of lines) stay below this.
_COMPUTED_LIMIT = Decimal("1e40")
QUANTITY_PLACES = 4
#: Unit prices may be finer than the currency (a screw at $0.0125); line amounts are not.
PRICE_PLACES = 6
PERCENT_PLACES = 2

_Enum = TypeVar("_Enum", bound=StrEnum)
_HUNDRED = Decimal(100)
_PERCENT_STEP = Decimal("0.01")
# 80 digits hold any product of the bounded inputs exactly (at most ~45 digits). The one inexact
# step, dividing by (1 + rate) in inclusive mode, has a divisor of at most five digits, so its
# exact quotient is either on a rounding boundary or far from one at this precision: rounding the
# 80-digit quotient again to the minor unit gives the same cent as rounding the exact one.
_ARITHMETIC = Context(
    prec=80, rounding=ROUNDING, traps=[InvalidOperation, DivisionByZero, Overflow]
)


def N_(message: str) -> str:
    """Mark a message for the catalogue (pybabel extracts ``N_``); it is translated when shown."""
    return message


class MoneyError(ValueError):
    """Bad input to the money functions.

    ``field`` is the path of the value at fault (``lines[2].quantity``, ``header_discount.value``),
    ``message`` the untranslated message and ``params`` its ``%(name)s`` values;
    ``text(gettext)`` gives the message in the user's language.
    """

    def __init__(self, field: str, message: str, **params: Any) -> None:
        self.field = field
        self.message = message
        self.params = params
        super().__init__(f"{field}: {self.text()}" if field else self.text())

    def text(self, translate: Callable[[str], str] | None = None) -> str:
        """The message without the field, translated by ``translate`` when given."""
        template = translate(self.message) if translate else self.message
        return template % self.params if self.params else template

    def within(self, prefix: str) -> MoneyError:
        """The same error for a value nested under ``prefix`` (``lines[2]`` + ``quantity``)."""
        if not self.field:
            path = prefix
        elif self.field.startswith("["):
            path = f"{prefix}{self.field}"
        else:
            path = f"{prefix}.{self.field}"
        return MoneyError(path, self.message, **self.params)


class TaxMode(StrEnum):
    """Whether the quote's unit prices exclude tax (不含税) or include it (含税)."""

    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"


class DiscountKind(StrEnum):
    """A header discount is a percent of the lines' total or a fixed amount off it."""

    PERCENT = "percent"
    AMOUNT = "amount"


# --- currencies ---------------------------------------------------------------------------------


def _currency(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise MoneyError(field, N_("must be a currency code such as CNY"))
    code = value.strip().upper()
    if code not in list_currencies():
        raise MoneyError(field, N_("%(code)s is not a known currency"), code=value.strip())
    return code


@lru_cache(maxsize=512)
def minor_digits(currency: str) -> int:
    """How many decimal places the currency's amounts have (CNY 2, JPY 0, KWD 3)."""
    return get_currency_precision(_currency(currency, "currency"))


def _step(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded to the currency's minor unit with :data:`ROUNDING`."""
    with localcontext(_ARITHMETIC):
        return _decimal(amount, "amount").quantize(_step(currency))


# --- input values -------------------------------------------------------------------------------


def _decimal(value: object, field: str, limit: Decimal = LIMIT) -> Decimal:
    """An exact, finite Decimal below ``limit`` from a Decimal, an int or a numeric string."""
    if isinstance(value, float):
        raise MoneyError(field, N_("must be a Decimal or a string, not a float"))
    if isinstance(value, bool):
        raise MoneyError(field, N_("must be a number"))
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(field, N_("must be a number")) from None
    elif not isinstance(value, Decimal):
        raise MoneyError(field, N_("must be a number"))
    if not value.is_finite():
        raise MoneyError(field, N_("must be a finite number"))
    if abs(value) >= limit:
        raise MoneyError(field, N_("must be less than %(limit)s"), limit=f"{limit:f}")
    # "-0" would print as "-0.00" on a quote.
    return value.copy_abs() if value.is_zero() else value


def _fits(value: Decimal, places: int) -> bool:
    """Whether ``value`` has at most ``places`` decimals (trailing zeros do not count)."""
    with localcontext(_ARITHMETIC):
        return value.quantize(Decimal(1).scaleb(-places)) == value


def _places(value: Decimal, places: int, field: str) -> None:
    if not _fits(value, places):
        raise MoneyError(field, N_("must have at most %(places)d decimal places"), places=places)


def _percent(value: object, field: str) -> Decimal:
    number = _decimal(value, field)
    if not 0 <= number <= _HUNDRED:
        raise MoneyError(field, N_("must be between 0 and 100"))
    _places(number, PERCENT_PLACES, field)
    # One spelling per rate, so 13, "13.0" and "13.00" share a row of the tax breakdown.
    return number.quantize(_PERCENT_STEP)


def _choice(kind: type[_Enum], value: object, field: str) -> _Enum:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise MoneyError(field, N_("must be one of: %(choices)s"), choices=choices) from None


def _fields(data: object, allowed: Sequence[str], required: Sequence[str]) -> dict[str, Any]:
    """The keyword arguments in a JSON object, refusing unknown keys and missing required ones."""
    if not isinstance(data, Mapping):
        raise MoneyError("", N_("must be an object"))
    for key in data:
        if key not in allowed:
            raise MoneyError(str(key), N_("is not a known field"))
    for key in required:
        if data.get(key) is None:
            raise MoneyError(key, N_("is required"))
    return {key: data[key] for key in allowed if data.get(key) is not None}


def _plain(value: Decimal) -> str:
    """A Decimal as JSON text, never in exponent notation."""
    return format(value, "f")


def _set(instance: object, name: str, value: object) -> None:
    object.__setattr__(instance, name, value)


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One quote line as entered.

    ``quantity`` > 0 with up to four decimals; ``unit_price`` ≥ 0 (tax excluded or included as
    the quote's :class:`TaxMode` says) with up to six; ``discount_percent`` and ``tax_rate`` are
    percents from 0 to 100 with up to two decimals. Ints and numeric strings are accepted and
    stored as Decimals; floats are refused. Errors name the argument (``quantity``); a quote read
    with :meth:`Quote.from_dict` names the line too (``lines[2].quantity``).
    """

    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal = Decimal(0)
    tax_rate: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        quantity = _decimal(self.quantity, "quantity")
        if quantity <= 0:
            raise MoneyError("quantity", N_("must be greater than 0"))
        _places(quantity, QUANTITY_PLACES, "quantity")
        price = _decimal(self.unit_price, "unit_price")
        if price < 0:
            raise MoneyError("unit_price", N_("must be 0 or more"))
        _places(price, PRICE_PLACES, "unit_price")
        _set(self, "quantity", quantity)
        _set(self, "unit_price", price)
        _set(self, "discount_percent", _percent(self.discount_percent, "discount_percent"))
        _set(self, "tax_rate", _percent(self.tax_rate, "tax_rate"))

    @classmethod
    def from_dict(cls, data: object) -> Line:
        """A line from its JSON form (values as strings or ints)."""
        names = ("quantity", "unit_price", "discount_percent", "tax_rate")
        return cls(**_fields(data, names, required=names[:2]))

    def to_dict(self) -> dict[str, str]:
        return {
            "quantity": _plain(self.quantity),
            "unit_price": _plain(self.unit_price),
            "discount_percent": _plain(self.discount_percent),
            "tax_rate": _plain(self.tax_rate),
        }


@dataclass(frozen=True)
class HeaderDiscount:
    """A discount on the whole quote: a percent (0–100, two decimals) or an amount (≥ 0).

    An amount is in the quote's currency, with at most its minor digits, and may not exceed the
    lines' total it is taken from (checked by :func:`calculate`, which knows that total).
    """

    kind: DiscountKind
    value: Decimal

    def __post_init__(self) -> None:
        kind = _choice(DiscountKind, self.kind, "kind")
        if kind is DiscountKind.PERCENT:
            value = _percent(self.value, "value")
        else:
            value = _decimal(self.value, "value")
            if value < 0:
                raise MoneyError("value", N_("must be 0 or more"))
        _set(self, "kind", kind)
        _set(self, "value", value)

    @classmethod
    def from_dict(cls, data: object) -> HeaderDiscount:
        return cls(**_fields(data, ("kind", "value"), required=("kind", "value")))

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "value": _plain(self.value)}


@dataclass(frozen=True)
class Quote:
    """What a quote's arithmetic needs: currency, tax mode, lines, an optional header discount."""

    currency: str
    tax_mode: TaxMode
    lines: tuple[Line, ...] = ()
    header_discount: HeaderDiscount | None = None

    def __post_init__(self) -> None:
        currency = _currency(self.currency, "currency")
        _set(self, "currency", currency)
        _set(self, "tax_mode", _choice(TaxMode, self.tax_mode, "tax_mode"))
        if isinstance(self.lines, str | bytes | Mapping) or not isinstance(self.lines, Sequence):
            raise MoneyError("lines", N_("must be a list"))
        for index, line in enumerate(self.lines):
            if not isinstance(line, Line):
                raise MoneyError(f"lines[{index}]", N_("must be a line"))
        _set(self, "lines", tuple(self.lines))
        header = self.header_discount
        if header is None:
            return
        if not isinstance(header, HeaderDiscount):
            raise MoneyError("header_discount", N_("must be a header discount"))
        if header.kind is DiscountKind.AMOUNT:
            digits = minor_digits(currency)
            if not _fits(header.value, digits):
                raise MoneyError(
                    "header_discount.value",
                    N_("must have at most %(places)d decimal places in %(currency)s"),
                    places=digits,
                    currency=currency,
                )

    @classmethod
    def from_dict(cls, data: object) -> Quote:
        """A quote from its JSON form; errors carry the full path (``lines[2].quantity``)."""
        values = _fields(
            data,
            ("currency", "tax_mode", "lines", "header_discount"),
            required=("currency", "tax_mode"),
        )
        raw_lines = values.get("lines", [])
        if isinstance(raw_lines, str | bytes | Mapping) or not isinstance(raw_lines, Sequence):
            raise MoneyError("lines", N_("must be a list"))
        lines = []
        for index, raw in enumerate(raw_lines):
            try:
                lines.append(Line.from_dict(raw))
            except MoneyError as exc:
                raise exc.within(f"lines[{index}]") from None
        values["lines"] = tuple(lines)
        if "header_discount" in values:
            try:
                values["header_discount"] = HeaderDiscount.from_dict(values["header_discount"])
            except MoneyError as exc:
                raise exc.within("header_discount") from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "tax_mode": self.tax_mode.value,
            "lines": [line.to_dict() for line in self.lines],
            "header_discount": self.header_discount.to_dict() if self.header_discount else None,
        }


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineResult:
    """One line's amounts, each rounded to the currency's minor unit.

    ``list_amount`` is quantity × unit price before any discount; ``line_discount`` what the
    line's own discount took off it; ``subtotal`` the gross before the header discount;
    ``header_discount`` this line's share of it (off the net in exclusive mode, off the gross in
    inclusive mode); ``net + tax == gross`` after everything.
    """

    tax_rate: Decimal
    list_amount: Decimal
    line_discount: Decimal
    subtotal: Decimal
    header_discount: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal

    def to_dict(self) -> dict[str, str]:
        return {
            "tax_rate": _plain(self.tax_rate),
            "list_amount": _plain(self.list_amount),
            "line_discount": _plain(self.line_discount),
            "subtotal": _plain(self.subtotal),
            "header_discount": _plain(self.header_discount),
            "net": _plain(self.net),
            "tax": _plain(self.tax),
            "gross": _plain(self.gross),
        }


@dataclass(frozen=True)
class QuoteResult:
    """A priced quote.

    ``subtotal`` is the sum of the line grosses before the header discount, ``header_discount``
    the rounded header discount, and ``total == net_total + tax_total`` == the sum of the final
    line grosses. ``tax_breakdown`` maps each tax rate to its (net, tax), in rate order; its sums
    are the totals. ``list_total`` (sum of the lines' list amounts) is the base of
    :func:`effective_discount_percent`.
    """

    currency: str
    tax_mode: TaxMode
    lines: tuple[LineResult, ...]
    list_total: Decimal
    subtotal: Decimal
    header_discount: Decimal
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    tax_breakdown: Mapping[Decimal, tuple[Decimal, Decimal]] = dataclass_field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "tax_mode": self.tax_mode.value,
            "lines": [line.to_dict() for line in self.lines],
            "list_total": _plain(self.list_total),
            "subtotal": _plain(self.subtotal),
            "header_discount": _plain(self.header_discount),
            "net_total": _plain(self.net_total),
            "tax_total": _plain(self.tax_total),
            "total": _plain(self.total),
            "tax_breakdown": {
                _plain(rate): {"net": _plain(net), "tax": _plain(tax)}
                for rate, (net, tax) in self.tax_breakdown.items()
            },
            "effective_discount_percent": _plain(effective_discount_percent(self)),
        }


# --- arithmetic ---------------------------------------------------------------------------------


def allocate(amount: Decimal, weights: Sequence[Decimal], currency: str) -> tuple[Decimal, ...]:
    """Split ``amount`` over ``weights`` in whole minor units (largest-remainder method).

    The shares add up to ``amount`` exactly and each is within one minor unit of its exact
    proportional share, so none exceeds its weight when ``amount`` ≤ the sum of the weights.
    Ties for a leftover unit go to the larger weight, then to the earlier position.
    """
    amount = _decimal(amount, "amount", _COMPUTED_LIMIT)
    if amount < 0:
        raise MoneyError("amount", N_("must be 0 or more"))
    digits = minor_digits(currency)
    step = Decimal(1).scaleb(-digits)
    _places(amount, digits, "amount")
    checked = [
        _decimal(weight, f"weights[{i}]", _COMPUTED_LIMIT) for i, weight in enumerate(weights)
    ]
    for index, weight in enumerate(checked):
        if weight < 0:
            raise MoneyError(f"weights[{index}]", N_("must be 0 or more"))
    whole = sum(checked, Decimal(0))
    if not checked or whole == 0:
        if amount:
            raise MoneyError("weights", N_("must not all be 0"))
        return tuple(Decimal(0).quantize(step) for _ in checked)
    with localcontext(_ARITHMETIC):
        units = int(amount.scaleb(digits))
    quotas = [Fraction(units) * Fraction(weight) / Fraction(whole) for weight in checked]
    shares = [int(quota) for quota in quotas]  # floor: quotas are not negative
    leftover = units - sum(shares)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - shares[i]), -checked[i], i))
    for index in order[:leftover]:
        shares[index] += 1
    with localcontext(_ARITHMETIC):
        return tuple(Decimal(share).scaleb(-digits).quantize(step) for share in shares)


@dataclass(frozen=True)
class _Draft:
    """A line priced before the header discount."""

    line: Line
    list_amount: Decimal
    amount: Decimal  # after the line discount: the net (exclusive) or the gross (inclusive)
    subtotal: Decimal


def _split(
    line: Line, mode: TaxMode, base: Decimal, step: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(net, tax, gross) from the discounted base amount, each rounded once."""
    rate = line.tax_rate
    if mode is TaxMode.EXCLUSIVE:
        net = base
        tax = (net * rate / _HUNDRED).quantize(step)
        return net, tax, net + tax
    gross = base
    net = (gross * _HUNDRED / (_HUNDRED + rate)).quantize(step)
    return net, gross - net, gross


def _draft(line: Line, mode: TaxMode, step: Decimal) -> _Draft:
    listed = line.quantity * line.unit_price
    amount = (listed * (_HUNDRED - line.discount_percent) / _HUNDRED).quantize(step)
    _net, _tax, gross = _split(line, mode, amount, step)
    return _Draft(line, listed.quantize(step), amount, gross)


def _header_amount(
    header: HeaderDiscount | None, base: Decimal, currency: str, step: Decimal
) -> Decimal:
    if header is None:
        return Decimal(0).quantize(step)
    if header.kind is DiscountKind.PERCENT:
        return (base * header.value / _HUNDRED).quantize(step)
    if header.value > base:
        raise MoneyError(
            "header_discount.value",
            N_("must not be more than the lines' total of %(total)s %(currency)s"),
            total=_plain(base),
            currency=currency,
        )
    return header.value.quantize(step)


def calculate(quote: Quote) -> QuoteResult:
    """Price a quote: lines, header discount shared out over them, totals and tax per rate.

    Exclusive mode: net = round(qty × price × (1 − discount)), tax = round(net × rate),
    gross = net + tax; the header discount comes off the nets (shared in proportion to them) and
    each line's tax is recomputed from its new net. Inclusive mode: gross = round(qty × price ×
    (1 − discount)), net = round(gross / (1 + rate)), tax = gross − net; the header discount comes
    off the grosses (shared in proportion to them) and each line's net and tax are recomputed from
    its new gross, so every line keeps its own rate.
    """
    mode, currency = quote.tax_mode, quote.currency
    step = _step(currency)
    with localcontext(_ARITHMETIC):
        drafts = [_draft(line, mode, step) for line in quote.lines]
        base = sum((draft.amount for draft in drafts), Decimal(0)).quantize(step)
        header = _header_amount(quote.header_discount, base, currency, step)
        shares = allocate(header, [draft.amount for draft in drafts], currency)
        lines: list[LineResult] = []
        for draft, share in zip(drafts, shares, strict=True):
            net, tax, gross = _split(draft.line, mode, draft.amount - share, step)
            lines.append(
                LineResult(
                    tax_rate=draft.line.tax_rate,
                    list_amount=draft.list_amount,
                    line_discount=draft.list_amount - draft.amount,
                    subtotal=draft.subtotal,
                    header_discount=share,
                    net=net,
                    tax=tax,
                    gross=gross,
                )
            )
        zero = Decimal(0).quantize(step)
        bands: dict[Decimal, tuple[Decimal, Decimal]] = {}
        for line in sorted(lines, key=lambda result: result.tax_rate):
            net, tax = bands.get(line.tax_rate, (zero, zero))
            bands[line.tax_rate] = (net + line.net, tax + line.tax)
        net_total = sum((line.net for line in lines), zero)
        tax_total = sum((line.tax for line in lines), zero)
        return QuoteResult(
            currency=currency,
            tax_mode=mode,
            lines=tuple(lines),
            list_total=sum((line.list_amount for line in lines), zero),
            subtotal=sum((line.subtotal for line in lines), zero),
            header_discount=header,
            net_total=net_total,
            tax_total=tax_total,
            total=net_total + tax_total,
            tax_breakdown=MappingProxyType(bands),
        )


def effective_discount_percent(result: QuoteResult) -> Decimal:
    """The quote's overall discount from list price (qty × unit price), in percent, two decimals.

    Compares nets in exclusive mode and grosses in inclusive mode, i.e. amounts in the same tax
    sense as the unit prices. Discounts approvals compare this with the tenant's threshold.
    Always between 0 and 100: every discount and rounding step only lowers an amount or keeps it.
    """
    final = result.net_total if result.tax_mode is TaxMode.EXCLUSIVE else result.total
    if result.list_total == 0:
        return Decimal("0.00")
    with localcontext(_ARITHMETIC):
        return ((result.list_total - final) * _HUNDRED / result.list_total).quantize(_PERCENT_STEP)


# --- typed amounts ------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<fraction>[0-9]+))?")
#: Ways people write these currencies that CLDR's symbols do not cover.
_EXTRA_SYMBOLS = {"CNY": ("RMB", "元")}


@lru_cache(maxsize=512)
def _symbols(currency: str) -> tuple[str, ...]:
    """The code and symbols people type for a currency, longest first (CN¥ before ¥)."""
    found = {currency, *_EXTRA_SYMBOLS.get(currency, ())}
    for locale in ("en", "zh_Hans_CN"):
        symbol = unicodedata.normalize("NFKC", get_currency_symbol(currency, locale=locale))
        found.add(symbol)
        bare = "".join(char for char in symbol if not ("A" <= char.upper() <= "Z"))
        if bare:
            found.add(bare)
    return tuple(sorted(found, key=lambda symbol: (-len(symbol), symbol)))


def _strip_symbol(text: str, currency: str) -> str:
    folded = text.casefold()
    for symbol in _symbols(currency):
        if folded.startswith(symbol.casefold()):
            return text[len(symbol) :].strip()
        if folded.endswith(symbol.casefold()):
            return text[: -len(symbol)].strip()
    return text


def parse_amount(text: str, currency: str, *, field: str = "amount") -> Decimal:
    """An amount as a person typed it, rounded to nothing: too many decimals is an error.

    Accepts grouping commas (``1,234.50``), full-width digits and punctuation (``１２３４.５``), the
    currency's code or symbol before or after (``¥1,234.5``, ``1234.5 CNY``) and a sign. Returns the
    amount with exactly the currency's minor digits. ``field`` names the value in errors.
    """
    code = _currency(currency, "currency")
    if not isinstance(text, str):
        raise MoneyError(field, N_("must be text"))
    # NFKC turns full-width digits, "，", "．", "－" and "￥" into their ASCII forms (and ¥).
    cleaned = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()
    if not cleaned:
        raise MoneyError(field, N_("is required"))
    sign = ""
    if cleaned[0] in "+-":
        sign, cleaned = cleaned[0], cleaned[1:].strip()
    cleaned = _strip_symbol(cleaned, code)
    if not sign and cleaned[:1] in ("+", "-"):
        sign, cleaned = cleaned[0], cleaned[1:].strip()
    match = _NUMBER.fullmatch(cleaned)
    if match is None:
        raise MoneyError(field, N_("is not an amount"))
    digits = minor_digits(code)
    fraction = (match["fraction"] or "").rstrip("0")
    if len(fraction) > digits:
        raise MoneyError(
            field,
            N_("must have at most %(places)d decimal places in %(currency)s"),
            places=digits,
            currency=code,
        )
    amount = _decimal(f"{sign}{match['whole'].replace(',', '')}.{fraction or '0'}", field)
    with localcontext(_ARITHMETIC):
        return amount.quantize(Decimal(1).scaleb(-digits))
