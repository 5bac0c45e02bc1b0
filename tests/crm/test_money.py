"""Quote arithmetic: worked examples checked by hand, properties over random quotes, and errors."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saas.crm.money import (
    LIMIT,
    DiscountKind,
    HeaderDiscount,
    Line,
    MoneyError,
    Quote,
    QuoteResult,
    TaxMode,
    allocate,
    calculate,
    effective_discount_percent,
    minor_digits,
    parse_amount,
    round_money,
)

D = Decimal
CURRENCIES = ("CNY", "USD", "JPY", "KWD")
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _clean_context() -> None:
    """The money module is pure: replaces the suite's fixture, which needs the database."""


def quote(
    currency: str,
    mode: str,
    *lines: Line,
    header: HeaderDiscount | None = None,
) -> QuoteResult:
    return calculate(Quote(currency, TaxMode(mode), lines, header))


def percent_off(value: str) -> HeaderDiscount:
    return HeaderDiscount(DiscountKind.PERCENT, D(value))


def amount_off(value: str) -> HeaderDiscount:
    return HeaderDiscount(DiscountKind.AMOUNT, D(value))


# --- worked examples ----------------------------------------------------------------------------


def test_exclusive_line_rounds_tax_once() -> None:
    # 3 × 33.33 = 99.99 net; tax 99.99 × 13 % = 12.9987 → 13.00; gross 99.99 + 13.00 = 112.99.
    result = quote("CNY", "exclusive", Line(D(3), D("33.33"), tax_rate=D(13)))
    (line,) = result.lines
    assert (line.net, line.tax, line.gross) == (D("99.99"), D("13.00"), D("112.99"))
    assert (result.net_total, result.tax_total, result.total) == (
        D("99.99"),
        D("13.00"),
        D("112.99"),
    )
    assert result.tax_breakdown == {D(13): (D("99.99"), D("13.00"))}


def test_inclusive_line_takes_tax_out_of_the_price() -> None:
    # 113.00 includes 13 %: net 113.00 / 1.13 = 100.00 exactly, tax 113.00 − 100.00 = 13.00.
    (line,) = quote("CNY", "inclusive", Line(D(1), D("113.00"), tax_rate=D(13))).lines
    assert (line.net, line.tax, line.gross) == (D("100.00"), D("13.00"), D("113.00"))
    # 3 × 33.33 = 99.99 gross; 99.99 / 1.13 = 88.4867… → 88.49 net; tax 99.99 − 88.49 = 11.50.
    (line,) = quote("CNY", "inclusive", Line(D(3), D("33.33"), tax_rate=D(13))).lines
    assert (line.net, line.tax, line.gross) == (D("88.49"), D("11.50"), D("99.99"))


def test_rounding_is_half_up_per_currency() -> None:
    # JPY has no minor unit: 3 × 333 = 999, 5 % off = 949.05 → 949; tax 10 % = 94.9 → 95.
    (line,) = quote("JPY", "exclusive", Line(D(3), D(333), D(5), D(10))).lines
    assert (line.list_amount, line.line_discount) == (D(999), D(50))
    assert (line.net, line.tax, line.gross) == (D(949), D(95), D(1044))
    assert str(line.gross) == "1044"
    # Half up, not to even: ¥12.5 → ¥13 (banker's rounding would give 12), 0.125 → 0.13.
    assert quote("JPY", "exclusive", Line(D(1), D("12.5"))).total == D(13)
    assert quote("CNY", "exclusive", Line(D(1), D("0.125"))).total == D("0.13")
    # KWD has three places: 1.2345 → 1.235; tax 5 % of 1.235 = 0.06175 → 0.062.
    (line,) = quote("KWD", "exclusive", Line(D(1), D("1.2345"), tax_rate=D(5))).lines
    assert (line.net, line.tax, line.gross) == (D("1.235"), D("0.062"), D("1.297"))
    assert minor_digits("CNY") == minor_digits("usd") == 2
    assert (minor_digits("JPY"), minor_digits("KRW"), minor_digits("BHD")) == (0, 0, 3)
    assert round_money(D("2.675"), "EUR") == D("2.68")


def test_header_amount_is_shared_in_whole_cents() -> None:
    # 10.00 over three equal lines: 3.333… each, floors 3.33 × 3 = 9.99, the one cent left goes
    # to the first line (ties go to the earlier line): 3.34 / 3.33 / 3.33.
    line = Line(D(1), D("33.33"))
    result = quote("CNY", "inclusive", line, line, line, header=amount_off("10.00"))
    assert [ln.header_discount for ln in result.lines] == [D("3.34"), D("3.33"), D("3.33")]
    assert [ln.gross for ln in result.lines] == [D("29.99"), D("30.00"), D("30.00")]
    assert result.header_discount == D("10.00")
    assert (result.subtotal, result.total) == (D("99.99"), D("89.99"))
    assert allocate(D("10.00"), [D(1), D(1), D(1)], "CNY") == (D("3.34"), D("3.33"), D("3.33"))
    assert allocate(D(100), [D(1), D(1), D(1)], "JPY") == (D(34), D(33), D(33))
    # A leftover unit goes to the largest remainder: 1.00 over 1:2 is 0.333…/0.666… → 0.33/0.67.
    assert allocate(D("1.00"), [D(1), D(2)], "CNY") == (D("0.33"), D("0.67"))


def test_inclusive_header_discount_keeps_each_lines_rate() -> None:
    # 10 % of 113.00 + 106.00 = 21.90, shared 11.30 / 10.60 by gross. Line 1: 101.70 / 1.13 =
    # 90.00 net, 11.70 tax; line 2: 95.40 / 1.06 = 90.00 net, 5.40 tax.
    result = quote(
        "CNY",
        "inclusive",
        Line(D(1), D("113.00"), tax_rate=D(13)),
        Line(D(1), D("106.00"), tax_rate=D(6)),
        header=percent_off("10"),
    )
    assert [ln.header_discount for ln in result.lines] == [D("11.30"), D("10.60")]
    assert [(ln.net, ln.tax, ln.gross) for ln in result.lines] == [
        (D("90.00"), D("11.70"), D("101.70")),
        (D("90.00"), D("5.40"), D("95.40")),
    ]
    assert (result.subtotal, result.header_discount) == (D("219.00"), D("21.90"))
    assert (result.net_total, result.tax_total, result.total) == (
        D("180.00"),
        D("17.10"),
        D("197.10"),
    )
    assert list(result.tax_breakdown.items()) == [
        (D(6), (D("90.00"), D("5.40"))),
        (D(13), (D("90.00"), D("11.70"))),
    ]
    assert effective_discount_percent(result) == D("10.00")


def test_exclusive_header_discount_comes_off_the_nets() -> None:
    # Nets 100.00 (13 %) and 2 × 25 = 50.00 (6 %); subtotal 113.00 + 53.00 = 166.00. 10 % of the
    # nets = 15.00, shared 10.00 / 5.00; nets 90.00 and 45.00, taxes 11.70 and 2.70.
    result = quote(
        "CNY",
        "exclusive",
        Line(D(1), D(100), tax_rate=D(13)),
        Line(D(2), D(25), tax_rate=D(6)),
        header=percent_off("10.00"),
    )
    assert [(ln.net, ln.tax, ln.gross) for ln in result.lines] == [
        (D("90.00"), D("11.70"), D("101.70")),
        (D("45.00"), D("2.70"), D("47.70")),
    ]
    assert (result.subtotal, result.header_discount, result.total) == (
        D("166.00"),
        D("15.00"),
        D("149.40"),
    )
    # List 150.00 net, sold for 135.00 net: 10 % off.
    assert effective_discount_percent(result) == D("10.00")


def test_effective_discount_combines_line_and_header_discounts() -> None:
    # 100 at 10 % off = 90.00, then 5 % of 90.00 = 4.50 off: 85.50 of 100.00 → 14.50 %.
    result = quote("CNY", "inclusive", Line(D(1), D(100), D(10)), header=percent_off("5"))
    assert (result.total, effective_discount_percent(result)) == (D("85.50"), D("14.50"))
    # 200 at 12.5 % off = 175.00 net, 15.00 off the header: 160.00 net of 200.00 → 20.00 %,
    # whatever the tax (13 % of 160.00 = 20.80).
    result = quote(
        "CNY", "exclusive", Line(D(1), D(200), D("12.5"), D(13)), header=amount_off("15")
    )
    assert (result.net_total, result.tax_total, result.total) == (
        D("160.00"),
        D("20.80"),
        D("180.80"),
    )
    assert effective_discount_percent(result) == D("20.00")
    # A full header discount leaves nothing to pay; an empty quote has nothing to discount.
    line = Line(D(2), D("9.99"), tax_rate=D(7))
    full = quote("USD", "exclusive", line, header=percent_off("100"))
    assert (full.total, effective_discount_percent(full)) == (D("0.00"), D("100.00"))
    empty = quote("CNY", "inclusive")
    assert (empty.total, empty.subtotal, effective_discount_percent(empty)) == (
        D("0.00"),
        D("0.00"),
        D("0.00"),
    )


def test_to_dict_gives_strings_and_round_trips() -> None:
    source = Quote(
        "cny",
        TaxMode.INCLUSIVE,
        (Line(D("1E+1"), D("3.5"), D("5"), D(13)),),
        amount_off("1.00"),
    )
    stored = source.to_dict()
    assert stored == {
        "currency": "CNY",
        "tax_mode": "inclusive",
        "lines": [
            {"quantity": "10", "unit_price": "3.5", "discount_percent": "5.00", "tax_rate": "13.00"}
        ],
        "header_discount": {"kind": "amount", "value": "1.00"},
    }
    assert Quote.from_dict(stored) == source
    result = calculate(source).to_dict()
    # 10 × 3.5 × 95 % = 33.25, less 1.00 = 32.25; 32.25 / 1.13 = 28.539… → 28.54 net.
    assert result["total"] == "32.25"
    assert result["lines"][0]["net"] == "28.54"
    assert result["tax_breakdown"] == {"13.00": {"net": "28.54", "tax": "3.71"}}
    assert result["effective_discount_percent"] == "7.86"  # 2.75 of 35.00


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("1,234.50", "CNY", "1234.50"),
        ("１２３４.５", "CNY", "1234.50"),
        ("¥1,234.5", "CNY", "1234.50"),
        ("￥１，２３４．５", "CNY", "1234.50"),
        ("  1234.5 CNY ", "CNY", "1234.50"),
        ("3,000元", "CNY", "3000.00"),
        ("-¥5", "CNY", "-5.00"),
        ("$-0.5", "USD", "-0.50"),
        ("US$1,000,000", "USD", "1000000.00"),
        ("€2", "EUR", "2.00"),
        ("¥1,235", "JPY", "1235"),
        ("1,234.00", "JPY", "1234"),
        ("KWD 1.234", "KWD", "1.234"),
        ("1234.500", "CNY", "1234.50"),
    ],
)
def test_parse_amount_accepts_what_people_type(text: str, currency: str, expected: str) -> None:
    parsed = parse_amount(text, currency)
    assert parsed == D(expected)
    assert str(parsed) == expected


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("1234.567", "CNY", "amount: must have at most 2 decimal places in CNY"),
        ("12.5", "JPY", "amount: must have at most 0 decimal places in JPY"),
        ("$5", "CNY", "amount: is not an amount"),
        ("1,2,3", "CNY", "amount: is not an amount"),
        ("1.2.3", "CNY", "amount: is not an amount"),
        ("--5", "CNY", "amount: is not an amount"),
        ("abc", "CNY", "amount: is not an amount"),
        ("   ", "CNY", "amount: is required"),
        ("1" * 16, "CNY", "amount: must be less than 1000000000000000"),
        ("5", "ZZZ", "currency: ZZZ is not a known currency"),
    ],
)
def test_parse_amount_refuses_with_a_reason(text: str, currency: str, message: str) -> None:
    with pytest.raises(MoneyError) as caught:
        parse_amount(text, currency)
    assert str(caught.value) == message


def test_parse_amount_refuses_numbers_and_names_the_field() -> None:
    with pytest.raises(MoneyError, match=r"^price: must be text$"):
        parse_amount(12.5, "CNY", field="price")  # type: ignore[arg-type]


# --- errors -------------------------------------------------------------------------------------


ONE = D(1)
FLOAT = "must be a Decimal or a string, not a float"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.5, ONE), f"quantity: {FLOAT}"),
        ((ONE, 0.1), f"unit_price: {FLOAT}"),
        ((D("NaN"), ONE), "quantity: must be a finite number"),
        ((ONE, D("-Infinity")), "unit_price: must be a finite number"),
        ((ONE, ONE, 0, D("sNaN")), "tax_rate: must be a finite number"),
        ((0, ONE), "quantity: must be greater than 0"),
        ((D("-2"), ONE), "quantity: must be greater than 0"),
        ((D("1.00001"), ONE), "quantity: must have at most 4 decimal places"),
        ((ONE, D("-0.01")), "unit_price: must be 0 or more"),
        ((ONE, D("1e-7")), "unit_price: must have at most 6 decimal places"),
        ((ONE, LIMIT), "unit_price: must be less than 1000000000000000"),
        ((ONE, ONE, 101), "discount_percent: must be between 0 and 100"),
        ((ONE, ONE, D("-1")), "discount_percent: must be between 0 and 100"),
        ((ONE, ONE, D("1.234")), "discount_percent: must have at most 2 decimal places"),
        ((ONE, ONE, 0, "abc"), "tax_rate: must be a number"),
        ((ONE, ONE, 0, True), "tax_rate: must be a number"),
        ((ONE, ONE, 0, [13]), "tax_rate: must be a number"),
    ],
)
def test_line_errors_name_the_argument(args: tuple, message: str) -> None:
    with pytest.raises(MoneyError) as caught:
        Line(*args)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == message.split(":")[0]


def valid_line(**changes: object) -> dict[str, object]:
    return {"quantity": "1", "unit_price": "10", **changes}


def cny(**changes: object) -> dict[str, object]:
    return {"currency": "CNY", "tax_mode": "exclusive", **changes}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            cny(lines=[valid_line(), valid_line(), valid_line(quantity="0")]),
            "lines[2].quantity: must be greater than 0",
        ),
        (cny(lines=[valid_line(colour="red")]), "lines[0].colour: is not a known field"),
        (cny(lines=[{"quantity": "1"}]), "lines[0].unit_price: is required"),
        (cny(lines=[valid_line(), "a line"]), "lines[1]: must be an object"),
        (cny(lines=[valid_line(tax_rate=13.0)]), f"lines[0].tax_rate: {FLOAT}"),
        (cny(lines="1 x 10"), "lines: must be a list"),
        (cny(tax_mode="gross"), "tax_mode: must be one of: exclusive, inclusive"),
        (cny(currency="RMB"), "currency: RMB is not a known currency"),
        (cny(currency=156), "currency: must be a currency code such as CNY"),
        ({"tax_mode": "exclusive"}, "currency: is required"),
        (cny(total="5"), "total: is not a known field"),
        (
            cny(header_discount={"kind": "fixed", "value": "5"}),
            "header_discount.kind: must be one of: percent, amount",
        ),
        (
            cny(header_discount={"kind": "percent", "value": "120"}),
            "header_discount.value: must be between 0 and 100",
        ),
        (
            cny(header_discount={"kind": "amount", "value": "-1"}),
            "header_discount.value: must be 0 or more",
        ),
        (
            cny(currency="JPY", header_discount={"kind": "amount", "value": "0.5"}),
            "header_discount.value: must have at most 0 decimal places in JPY",
        ),
        (cny(header_discount={"kind": "amount"}), "header_discount.value: is required"),
        (["CNY", "exclusive"], "must be an object"),
    ],
)
def test_quote_errors_carry_the_field_path(data: object, message: str) -> None:
    with pytest.raises(MoneyError) as caught:
        Quote.from_dict(data)
    assert str(caught.value) == message


def test_header_amount_may_not_exceed_the_lines_total() -> None:
    line = Line(D(1), D("33.33"), tax_rate=D(13))
    # Exclusive: the header discount comes off the nets, so the nets (99.99) are its limit.
    with pytest.raises(MoneyError) as caught:
        quote("CNY", "exclusive", line, line, line, header=amount_off("100.00"))
    assert caught.value.field == "header_discount.value"
    assert str(caught.value) == (
        "header_discount.value: must not be more than the lines' total of 99.99 CNY"
    )
    # The whole total is allowed and leaves every line at zero.
    result = quote("CNY", "exclusive", line, line, line, header=amount_off("99.99"))
    assert result.total == D("0.00")
    assert all(ln.gross == 0 for ln in result.lines)


def test_quote_and_allocate_refuse_wrong_values() -> None:
    with pytest.raises(MoneyError, match=r"^lines\[1\]: must be a line$"):
        Quote("CNY", TaxMode.EXCLUSIVE, (Line(D(1), D(1)), {"quantity": "1"}))  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match=r"^header_discount: must be a header discount$"):
        Quote("CNY", TaxMode.EXCLUSIVE, (), D(5))  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match=r"^weights: must not all be 0$"):
        allocate(D("1.00"), [D(0), D(0)], "CNY")
    with pytest.raises(MoneyError, match=r"^weights\[1\]: must be 0 or more$"):
        allocate(D("1.00"), [D(1), D(-1)], "CNY")
    with pytest.raises(MoneyError, match=r"^amount: must have at most 2 decimal places$"):
        allocate(D("1.001"), [D(1)], "CNY")
    with pytest.raises(MoneyError, match=r"^amount: must be a Decimal or a string, not a float$"):
        round_money(0.1, "CNY")  # type: ignore[arg-type]


def test_error_messages_translate_without_the_field() -> None:
    with pytest.raises(MoneyError) as caught:
        Quote.from_dict(
            {"currency": "CNY", "tax_mode": "exclusive", "lines": [valid_line(quantity="0")]}
        )
    chinese = {"must be greater than 0": "必须大于 0"}
    assert caught.value.field == "lines[0].quantity"
    assert caught.value.text(lambda message: chinese.get(message, message)) == "必须大于 0"
    with pytest.raises(MoneyError) as caught:
        parse_amount("1.5", "JPY")
    template = "must have at most %(places)d decimal places in %(currency)s"
    chinese = {template: "%(currency)s 最多 %(places)d 位小数"}
    assert caught.value.text(chinese.__getitem__) == "JPY 最多 0 位小数"


# --- properties ---------------------------------------------------------------------------------

RATES = st.one_of(
    st.sampled_from([D(0), D(1), D(3), D(6), D(9), D(13), D(17)]),
    st.decimals(min_value=0, max_value=100, places=2),
)


def quantities() -> st.SearchStrategy[Decimal]:
    return st.integers(0, 4).flatmap(
        lambda places: st.decimals(
            min_value=D(1).scaleb(-places), max_value=D(100_000), places=places
        )
    )


def prices() -> st.SearchStrategy[Decimal]:
    small = st.integers(0, 6).flatmap(
        lambda places: st.decimals(min_value=0, max_value=D(100_000), places=places)
    )
    huge = st.decimals(min_value=0, max_value=D("1e14"), places=2)
    return st.one_of(small, small, huge)


def lines(discounts: bool = True) -> st.SearchStrategy[Line]:
    discount = (
        st.one_of(st.just(D(0)), st.decimals(min_value=0, max_value=100, places=2))
        if discounts
        else st.just(D(0))
    )
    return st.builds(Line, quantities(), prices(), discount, RATES)


@st.composite
def quotes(draw: st.DrawFn, discounts: bool = True) -> Quote:
    currency = draw(st.sampled_from(CURRENCIES))
    mode = draw(st.sampled_from(list(TaxMode)))
    drawn = tuple(draw(st.lists(lines(discounts), min_size=1, max_size=30)))
    kind = draw(st.sampled_from([None, *DiscountKind])) if discounts else None
    header = None
    if kind is DiscountKind.PERCENT:
        header = HeaderDiscount(kind, draw(st.decimals(min_value=0, max_value=100, places=2)))
    elif kind is DiscountKind.AMOUNT:
        # Any amount up to the lines' total: in exclusive mode the nets, else the grosses.
        plain = calculate(Quote(currency, mode, drawn))
        base = plain.net_total if mode is TaxMode.EXCLUSIVE else plain.total
        share = draw(st.one_of(st.just(Fraction(1)), st.fractions(0, 1, max_denominator=1000)))
        digits = minor_digits(currency)
        value = D(floor(int(base.scaleb(digits)) * share)).scaleb(-digits)
        value = min(value, LIMIT - D(1).scaleb(-digits))  # the most anyone may enter
        header = HeaderDiscount(kind, value)
    return Quote(currency, mode, drawn, header)


def half_up(value: Fraction, digits: int) -> Fraction:
    """The reference rounding, on exact fractions of non-negative values."""
    scale = 10**digits
    return Fraction(floor(value * scale + Fraction(1, 2)), scale)


def has_minor_digits(amount: Decimal, digits: int) -> bool:
    return amount.as_tuple().exponent == -digits


@PROPERTIES
@given(quotes())
def test_totals_always_add_up(source: Quote) -> None:
    result = calculate(source)
    digits = minor_digits(source.currency)
    lines_ = result.lines
    assert len(lines_) == len(source.lines)
    amounts = [result.list_total, result.subtotal, result.header_discount]
    amounts += [result.net_total, result.tax_total, result.total]
    for line in lines_:
        assert line.net + line.tax == line.gross
        assert min(line.net, line.tax, line.gross, line.header_discount) >= 0
        amounts += [line.list_amount, line.line_discount, line.subtotal, line.header_discount]
        amounts += [line.net, line.tax, line.gross]
    assert all(has_minor_digits(amount, digits) for amount in amounts)
    assert result.net_total == sum(line.net for line in lines_)
    assert result.tax_total == sum(line.tax for line in lines_)
    assert result.total == result.net_total + result.tax_total == sum(ln.gross for ln in lines_)
    assert result.subtotal == sum(line.subtotal for line in lines_)
    assert result.list_total == sum(line.list_amount for line in lines_)
    # The tax breakdown has one row per rate and sums to the totals.
    assert set(result.tax_breakdown) == {line.tax_rate for line in source.lines}
    assert sum(net for net, _tax in result.tax_breakdown.values()) == result.net_total
    assert sum(tax for _net, tax in result.tax_breakdown.values()) == result.tax_total


@PROPERTIES
@given(quotes())
def test_lines_match_the_exact_reference(source: Quote) -> None:
    """Each line equals the formulas of docs/crm.md computed on exact fractions."""
    result = calculate(source)
    digits = minor_digits(source.currency)
    before = []
    for line, priced in zip(source.lines, result.lines, strict=True):
        rate = Fraction(line.tax_rate) / 100
        listed = Fraction(line.quantity) * Fraction(line.unit_price)
        amount = half_up(listed * (1 - Fraction(line.discount_percent) / 100), digits)
        before.append(amount)
        assert priced.list_amount == half_up(listed, digits)
        assert priced.line_discount == half_up(listed, digits) - amount
        remaining = amount - Fraction(priced.header_discount)
        if source.tax_mode is TaxMode.EXCLUSIVE:
            assert priced.subtotal == amount + half_up(amount * rate, digits)
            net = remaining
            tax = half_up(net * rate, digits)
            assert (priced.net, priced.tax, priced.gross) == (net, tax, net + tax)
        else:
            assert priced.subtotal == amount
            net = half_up(remaining / (1 + rate), digits)
            assert (priced.net, priced.tax, priced.gross) == (net, remaining - net, remaining)
    # The header discount: percent of the lines' base (nets or grosses), or the amount given.
    base = sum(before, Fraction(0))
    header = source.header_discount
    if header is None:
        expected = Fraction(0)
    elif header.kind is DiscountKind.PERCENT:
        expected = half_up(base * Fraction(header.value) / 100, digits)
    else:
        expected = Fraction(header.value)
    assert result.header_discount == expected
    shares = [Fraction(line.header_discount) for line in result.lines]
    assert sum(shares) == expected
    # Largest remainder: every share is within one minor unit of its exact proportional share,
    # and never more than the line it comes off.
    unit = Fraction(1, 10**digits)
    for share, amount in zip(shares, before, strict=True):
        exact = expected * amount / base if base else Fraction(0)
        assert abs(share - exact) < unit
        assert share <= amount


@PROPERTIES
@given(quotes())
def test_effective_discount_is_a_percent(source: Quote) -> None:
    effective = effective_discount_percent(calculate(source))
    assert 0 <= effective <= 100
    assert effective.as_tuple().exponent == -2


@PROPERTIES
@given(quotes(discounts=False))
def test_no_discount_means_no_effective_discount(source: Quote) -> None:
    result = calculate(source)
    assert effective_discount_percent(result) == 0
    assert result.header_discount == 0
    assert all(line.line_discount == 0 for line in result.lines)


@PROPERTIES
@given(quotes())
def test_stored_form_round_trips(source: Quote) -> None:
    assert Quote.from_dict(source.to_dict()) == source
    stored = calculate(source).to_dict()
    assert stored["total"] == format(calculate(source).total, "f")
    assert all(isinstance(value, str) for value in stored["lines"][0].values())


@PROPERTIES
@given(
    st.sampled_from(CURRENCIES),
    st.integers(-(10**14), 10**14),
    st.booleans(),
    st.sampled_from(["", "¥", "$", "CNY ", "US$", " KWD"]),
)
def test_parse_amount_reads_formatted_amounts(
    currency: str, units: int, full_width: bool, symbol: str
) -> None:
    digits = minor_digits(currency)
    amount = D(units).scaleb(-digits)
    text = f"{amount:,.{digits}f}"
    if full_width:
        text = text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789,."})
    typed = f"{symbol}{text}" if symbol.strip() in {"", "¥", "$"} else f"{text}{symbol}"
    try:
        parsed = parse_amount(typed, currency)
    except MoneyError as error:
        # Only a symbol that is not this currency's may be refused.
        assert str(error) == "amount: is not an amount"
        assert symbol.strip() not in {"", currency}
        return
    assert parsed == amount
    assert has_minor_digits(parsed, digits)
