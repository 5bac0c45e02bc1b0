"""The amount in Chinese capital numerals (大写金额): known cases, and for any amount, the words
read back to the same number and follow the writing rules."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from print_templates.errors import TemplateError
from print_templates.filters import cn_amount

D = Decimal

CASES = [
    ("0", "零元整"),
    ("0.00", "零元整"),
    ("0.004", "零元整"),
    ("0.005", "壹分"),
    ("0.05", "伍分"),
    ("0.50", "伍角"),
    ("0.56", "伍角陆分"),
    ("1", "壹元整"),
    ("1.05", "壹元零伍分"),
    ("10", "壹拾元整"),
    ("10.50", "壹拾元伍角"),
    ("15", "壹拾伍元整"),
    ("100", "壹佰元整"),
    ("101", "壹佰零壹元整"),
    ("110", "壹佰壹拾元整"),
    ("1005.00", "壹仟零伍元整"),
    ("1010", "壹仟零壹拾元整"),
    ("1100", "壹仟壹佰元整"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
    ("1680.02", "壹仟陆佰捌拾元零贰分"),
    ("10005", "壹万零伍元整"),
    ("10010", "壹万零壹拾元整"),
    ("100000", "壹拾万元整"),
    ("107000.53", "壹拾万柒仟元伍角叁分"),
    ("110000", "壹拾壹万元整"),
    ("1000100", "壹佰万零壹佰元整"),
    ("10001000", "壹仟万壹仟元整"),
    ("10100000", "壹仟零壹拾万元整"),
    ("12345678.90", "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角"),
    ("100000000", "壹亿元整"),
    ("100000010.50", "壹亿零壹拾元伍角"),
    ("100001000", "壹亿零壹仟元整"),
    ("100010000", "壹亿零壹万元整"),
    ("1000000001", "壹拾亿零壹元整"),
    ("1000200000000", "壹万零贰亿元整"),
    ("1200000000000", "壹万贰仟亿元整"),
    (
        "9999999999999999.99",
        "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分",
    ),
    ("-1005", "负壹仟零伍元整"),
    ("-0.001", "零元整"),
    ("2861842.22", "贰佰捌拾陆万壹仟捌佰肆拾贰元贰角贰分"),
]


@pytest.mark.parametrize(("amount", "words"), CASES)
def test_known_amounts(amount: str, words: str) -> None:
    assert cn_amount(D(amount)) == words


def test_accepts_numbers_and_numeric_text_and_prints_none_as_nothing() -> None:
    assert cn_amount(1005) == "壹仟零伍元整"
    assert cn_amount("1,005.00") == "壹仟零伍元整"
    assert cn_amount(0.1 + 0.2) == "叁角"
    assert cn_amount(None) == ""


@pytest.mark.parametrize("bad", ["abc", D("NaN"), D("Infinity"), True, D("1e16"), [1]])
def test_refuses_what_is_not_an_amount(bad) -> None:
    with pytest.raises(TemplateError):
        cn_amount(bad)


_DIGIT = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
_SMALL = {"拾": 10, "佰": 100, "仟": 1000}


def _small(text: str) -> int:
    total = digit = 0
    for char in text:
        if char in _DIGIT:
            digit = _DIGIT[char]
        else:
            total += digit * _SMALL[char]
            digit = 0
    return total + digit


def _wan(text: str) -> int:
    if "万" in text:
        high, low = text.rsplit("万", 1)
        return _small(high) * 10_000 + _small(low)
    return _small(text)


def read_back(words: str) -> Decimal:
    """Parse capital numerals back to a number (an independent reading of the rules)."""
    sign = -1 if words.startswith("负") else 1
    words = words.removeprefix("负")
    yuan_part, _, rest = words.partition("元")
    if not _:
        yuan_part, rest = "", words
    if "亿" in yuan_part:
        high, low = yuan_part.rsplit("亿", 1)
        yuan = _wan(high) * 10**8 + _wan(low)
    else:
        yuan = _wan(yuan_part)
    jiao = re.search("(.)角", rest)
    fen = re.search("(.)分", rest)
    cents = yuan * 100 + (_DIGIT[jiao[1]] * 10 if jiao else 0) + (_DIGIT[fen[1]] if fen else 0)
    return sign * D(cents) / 100


amounts = st.decimals(
    min_value=D("-9999999999999999.99"),
    max_value=D("9999999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
shaped = st.builds(
    lambda digits, cents: D(int("".join(digits) or "0")) + D(cents) / 100,
    st.lists(st.sampled_from("0000000123456789"), min_size=1, max_size=16),
    st.integers(min_value=0, max_value=99),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(amounts, shaped))
def test_every_amount_reads_back_and_follows_the_rules(amount: Decimal) -> None:
    words = cn_amount(amount)
    assert read_back(words) == amount.quantize(D("0.01"))
    if amount.quantize(D("0.01")) == 0:
        assert words == "零元整"
        return
    assert "零零" not in words
    body = words.removeprefix("负")
    assert not body.startswith("零")
    assert not re.search("零[元万亿角整]", words)  # a 零 is always followed by a digit
    assert words.endswith(("整", "角", "分"))
    assert words.endswith("整") == (amount.quantize(D("0.01")) % 1 == 0)
    assert set(words) <= set("负零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整")
