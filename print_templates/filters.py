"""Filters for template authors: money, numbers, dates and percentages per locale, the amount in
Chinese capital numerals (大写金额), ``default`` and ``nl2br``.

Every filter reads the document's locale (and currency) from the render in progress
(:func:`print_templates.sandbox.render_state`), so ``{{ total|money }}`` prints ``¥1,234.50`` in a
Chinese template and ``CN¥1,234.50`` in an English one. ``None`` prints as an empty string
(optional values need no ``if``); a value that is not a number or date raises a
:class:`~print_templates.errors.TemplateError` naming the filter.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel.core import UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal, get_currency_precision
from flask_babel import gettext as _
from jinja2 import Undefined
from markupsafe import Markup, escape

from print_templates.errors import TemplateError

#: Largest amount ``cn_amount`` spells (below 1 亿亿, i.e. 10^16 yuan).
CN_AMOUNT_LIMIT = Decimal("1e16")
#: Decimal places a template may ask of ``number`` / ``percent``.
MAX_PLACES = 10
#: Longest date pattern (``|date('yyyy-MM-dd')``).
MAX_PATTERN = 40
_NAMED_FORMATS = ("short", "medium", "long", "full")
_PATTERN_RE = re.compile(r"[A-Za-z'\s\-/.,:年月日时分秒号周星期]{1,40}")


def _state() -> Any:
    from print_templates.sandbox import render_state

    return render_state()


def _locale() -> str:
    state = _state()
    return state.locale if state is not None else "zh_CN"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, Undefined) and not _strict_undefined(value))


def _strict_undefined(value: Any) -> bool:
    strict = getattr(value, "_strict", None)
    return bool(strict and strict())


def to_decimal(value: Any, filter_name: str) -> Decimal:
    """``value`` as a finite Decimal, or a TemplateError naming the filter."""
    if isinstance(value, bool):
        raise TemplateError(
            _("%(filter)s: expected a number, got %(value)s.", filter=filter_name, value=value)
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str) and len(value) <= 60:
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            number = Decimal("NaN")
    else:
        number = Decimal("NaN")
    if not number.is_finite():
        shown = str(value)[:40]
        raise TemplateError(
            _("%(filter)s: expected a number, got “%(value)s”.", filter=filter_name, value=shown)
        )
    return number


def _places(places: Any, filter_name: str) -> int | None:
    if places is None:
        return None
    if not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= MAX_PLACES:
        raise TemplateError(
            _(
                "%(filter)s: the number of decimal places must be 0 to %(max)d.",
                filter=filter_name,
                max=MAX_PLACES,
            )
        )
    return places


def _currency(currency: Any) -> str:
    if currency is None:
        state = _state()
        currency = (state.currency if state is not None else None) or "CNY"
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise TemplateError(
            _("money: “%(currency)s” is not a currency code.", currency=str(currency)[:20])
        )
    return currency.upper()


def money(value: Any, currency: str | None = None, symbol: bool = True) -> str:
    """``{{ amount|money }}`` → ``¥1,234.50``: the document's currency (``document.currency``)
    unless one is given (``|money('USD')``), rounded half up to the currency's minor unit.
    ``|money(symbol=false)`` prints the number alone (``1,234.50``)."""
    if _missing(value):
        return ""
    number = to_decimal(value, "money")
    code = _currency(currency)
    digits = get_currency_precision(code)
    number = number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    locale = _locale()
    if not symbol:
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(number, format=pattern, locale=locale)
    return format_currency(number, code, locale=locale)


def number(value: Any, places: int | None = None) -> str:
    """``{{ qty|number }}`` → ``1,234.5`` (as many decimals as the value has, trailing zeros
    dropped); ``|number(2)`` → ``1,234.50`` (rounded half up)."""
    if _missing(value):
        return ""
    amount = to_decimal(value, "number")
    digits = _places(places, "number")
    if digits is None:
        amount = amount.normalize() if amount != amount.to_integral_value() else amount
        exponent = amount.as_tuple().exponent
        digits = min(-exponent, MAX_PLACES) if isinstance(exponent, int) and exponent < 0 else 0
    amount = amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(amount, format=pattern, locale=_locale())


def percent(value: Any, places: int | None = None) -> str:
    """``{{ line.tax_rate|percent }}`` → ``13%``: the value is a number of percent (12.5 means
    12.5 %); ``|percent(1)`` → ``12.5%``."""
    if _missing(value):
        return ""
    return number(value, places) + "%"


def _as_date(value: Any, filter_name: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            if "T" in value or " " in value.strip():
                return dt.datetime.fromisoformat(value.strip())
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise TemplateError(
        _(
            "%(filter)s: expected a date, got “%(value)s”.",
            filter=filter_name,
            value=str(value)[:40],
        )
    )


def _pattern(fmt: Any, filter_name: str) -> str:
    if not isinstance(fmt, str) or not (
        fmt in _NAMED_FORMATS or (len(fmt) <= MAX_PATTERN and _PATTERN_RE.fullmatch(fmt))
    ):
        raise TemplateError(
            _(
                "%(filter)s: the format must be short, medium, long, full or a pattern such as "
                "yyyy-MM-dd.",
                filter=filter_name,
            )
        )
    return fmt


def date(value: Any, fmt: str = "medium") -> str:
    """``{{ document.date|date }}`` → ``2025年3月1日`` / ``Mar 1, 2025``; ``|date('long')``,
    ``|date('short')``, or a pattern: ``|date('yyyy-MM-dd')``, ``|date('yyyy年M月d日')``."""
    if _missing(value):
        return ""
    day = _as_date(value, "date")
    pattern = _pattern(fmt, "date")
    try:
        if isinstance(day, dt.datetime):
            day = day.date()
        return format_date(day, format=pattern, locale=_locale())
    except (ValueError, UnknownLocaleError) as exc:
        raise TemplateError(_("date: %(detail)s", detail=str(exc)[:100])) from None


def datetime(value: Any, fmt: str | None = None) -> str:
    """``{{ printed_at|datetime }}`` → ``2025年3月1日 14:05`` / ``Mar 1, 2025 2:05 PM`` (in the
    value's own time zone); ``|datetime('yyyy-MM-dd HH:mm')`` for a pattern."""
    if _missing(value):
        return ""
    moment = _as_date(value, "datetime")
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time())
    locale = _locale()
    try:
        if fmt is None:
            return (
                format_date(moment.date(), format="medium", locale=locale)
                + " "
                + format_time(moment.time(), format="short", locale=locale)
            )
        pattern = _pattern(fmt, "datetime")
        return format_datetime(moment, format=pattern, tzinfo=moment.tzinfo, locale=locale)
    except (ValueError, UnknownLocaleError) as exc:
        raise TemplateError(_("datetime: %(detail)s", detail=str(exc)[:100])) from None


_CN_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_CN_PLACES = ("", "拾", "佰", "仟")
_CN_SECTIONS = ("", "万")


def _cn_below_yi(number: int) -> str:
    """0 < number < 10^8 in capital numerals, one 零 per gap, none before a section's 仟."""
    sections = (number // 10_000, number % 10_000)
    out: list[str] = []
    zero = False
    for index, section in zip((1, 0), sections, strict=True):
        if section == 0:
            zero = zero or bool(out)  # a whole section of zeros between digits: 壹万零伍
            continue
        if out and section < 1000:
            zero = True  # the section starts with zeros: 壹万零伍
        started = False
        for place in (3, 2, 1, 0):
            digit = section // 10**place % 10
            if digit == 0:
                zero = zero or started
                continue
            if zero:
                out.append("零")
                zero = False
            out.append(_CN_DIGITS[digit] + _CN_PLACES[place])
            started = True
        out.append(_CN_SECTIONS[index])
        # zeros at the end of a section are not written when the next one starts with its 仟
        # (壹拾万柒仟, 壹仟万壹仟); a next section below 1000 sets the 零 again
        zero = False
    return "".join(out)


def _cn_integer(yuan: int) -> str:
    """The integer part: 亿 groups the part below it as 万 does (壹万零贰亿 for 10002 亿)."""
    if yuan < 10**8:
        return _cn_below_yi(yuan)
    high, low = divmod(yuan, 10**8)
    words = _cn_integer(high) + "亿"
    if low:
        if low < 10**7:
            words += "零"  # the part below 亿 does not start at 仟万: 壹亿零壹仟
        words += _cn_below_yi(low)
    return words


def cn_amount(value: Any) -> str:
    """``{{ totals.total|cn_amount }}`` → 壹仟零伍元整: an RMB amount in Chinese capital
    numerals as written on cheques, invoices and contracts (大写金额).

    Rounded half up to the 分. One 零 stands for a run of zeros between digits (壹仟零伍元整,
    壹亿零壹拾元伍角); zeros at the end of the 元 or 万 place before a non-zero next digit are not
    written (壹拾万柒仟元, 壹拾元伍角 — both forms are allowed by the 会计基础工作规范; this is the
    shorter one); 角 zero with 分 non-zero writes 零 (壹元零伍分); 整 follows an amount without
    角 and 分. Negative amounts start with 负; zero is 零元整.
    """
    if _missing(value):
        return ""
    amount = to_decimal(value, "cn_amount")
    cents = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if cents >= CN_AMOUNT_LIMIT * 100:
        raise TemplateError(_("cn_amount: the amount is too large to write in words."))
    if cents == 0:
        return "零元整"
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    parts = ["负" if amount < 0 else ""]
    if yuan:
        parts.append(_cn_integer(yuan) + "元")
    if jiao:
        parts.append(_CN_DIGITS[jiao] + "角")
    elif fen and yuan:
        parts.append("零")
    if fen:
        parts.append(_CN_DIGITS[fen] + "分")
    if not jiao and not fen:
        parts.append("整")
    return "".join(parts)


def default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """``{{ customer.tax_id|default('—') }}``: the default when the value is missing or
    ``None`` (and, with ``boolean=true``, when it is empty or zero)."""
    if value is None or isinstance(value, Undefined):
        return default_value
    if boolean and not value:
        return default_value
    return value


def nl2br(value: Any) -> Markup:
    """``{{ company.address|nl2br }}``: the text escaped, its line breaks as ``<br>``."""
    if _missing(value):
        return Markup("")
    text = value if isinstance(value, str) else str(value)
    lines = re.split(r"\r\n|\r|\n", text)
    return Markup("<br>\n").join(escape(line) for line in lines)


FILTERS = {
    "money": money,
    "number": number,
    "percent": percent,
    "date": date,
    "datetime": datetime,
    "cn_amount": cn_amount,
    "default": default,
    "d": default,
    "nl2br": nl2br,
}
