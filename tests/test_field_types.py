"""Each field type: cleaning, storage round trip, display, options, SQL cast — without a table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from marshmallow import ValidationError
from sqlalchemy import literal, select
from sqlalchemy.dialects.postgresql import JSONB

from custom_fields import types
from custom_fields.types import Choice, Context, FieldSpec, FieldValueError

EN = Context(currency="CNY", region="CN", timezone="Asia/Shanghai", locale="en")
ZH = Context(currency="CNY", region="CN", timezone="Asia/Shanghai", locale="zh_CN")
CHOICES = (
    Choice("a", "Alpha", "甲"),
    Choice("b", "Beta", "乙"),
    Choice("old", "Old", "旧", active=False),
)


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context():
        yield


def spec(type_name: str, **options) -> FieldSpec:
    loaded = types.get(type_name).load_options(options)
    return FieldSpec(
        key="f", type=type_name, label_en="F", label_zh="字段", options=loaded, choices=CHOICES
    )


def clean(type_name: str, raw, ctx=EN, **options):
    return types.get(type_name).clean(raw, spec(type_name, **options), ctx)


def test_registry_lists_every_public_type_in_order():
    assert types.TYPE_NAMES == (
        "text",
        "long_text",
        "integer",
        "decimal",
        "currency",
        "percent",
        "date",
        "datetime",
        "boolean",
        "picklist",
        "multi_picklist",
        "email",
        "phone",
        "url",
        "lookup",
        "auto_number",
        "formula",
    )
    for name in types.TYPE_NAMES:
        field_type = types.get(name)
        assert field_type.name == name and field_type.operators and field_type.kind


@pytest.mark.parametrize(
    "name",
    [
        "text",
        "long_text",
        "integer",
        "decimal",
        "currency",
        "percent",
        "date",
        "datetime",
        "boolean",
        "picklist",
        "multi_picklist",
        "email",
        "phone",
        "url",
        "lookup",
    ],
)
def test_empty_is_null(name):
    options = {"target": "account"} if name == "lookup" else {}
    assert clean(name, None, **options) is None
    assert clean(name, "", **options) is None


def test_text_trims_limits_and_matches():
    assert clean("text", "  张三  ") == "张三"
    assert clean("text", 42) == "42"
    with pytest.raises(FieldValueError, match="at most 5"):
        clean("text", "abcdef", max_length=5)
    assert clean("text", "AB-12", regex=r"[A-Z]{2}-\d+") == "AB-12"
    with pytest.raises(FieldValueError, match="expected form"):
        clean("text", "ab-12", regex=r"[A-Z]{2}-\d+")
    with pytest.raises(FieldValueError, match="Wrong code"):
        clean("text", "x", regex=r"\d", regex_message="Wrong code")
    with pytest.raises(FieldValueError):
        clean("text", {"a": 1})


def test_options_are_validated():
    with pytest.raises(ValidationError) as err:
        types.get("text").load_options({"max_length": 0, "colour": "red"})
    assert set(err.value.messages) == {"max_length", "colour"}
    with pytest.raises(ValidationError):
        types.get("text").load_options({"regex": "("})
    with pytest.raises(ValidationError):
        types.get("decimal").load_options({"precision": 4, "scale": 4})
    with pytest.raises(ValidationError):
        types.get("decimal").load_options({"min": "10", "max": "1"})
    with pytest.raises(ValidationError):
        types.get("lookup").load_options({})
    with pytest.raises(ValidationError):
        types.get("auto_number").load_options({"pattern": "Q-{YYYY}"})
    with pytest.raises(ValidationError):
        types.get("auto_number").load_options({"pattern": "Q-{0000}-{XX}"})
    with pytest.raises(ValidationError):
        types.get("currency").load_options({"currency": "XYZ1"})
    with pytest.raises(ValidationError):
        types.get("phone").load_options({"region": "ZZ"})


def test_integer():
    assert clean("integer", "1,234") == 1234
    assert clean("integer", 7.0) == 7
    for bad in ("1.5", "abc", True, "1e400", "NaN"):
        with pytest.raises(FieldValueError):
            clean("integer", bad)
    with pytest.raises(FieldValueError, match="10 or less"):
        clean("integer", 11, max=10)
    with pytest.raises(FieldValueError, match="too large"):
        clean("integer", 2**63)


def test_decimal_is_exact_and_rounds_half_up():
    assert clean("decimal", "0.1") + clean("decimal", "0.2") == Decimal("0.30")
    assert clean("decimal", "2.345") == Decimal("2.35")
    assert clean("decimal", 0.1) == Decimal("0.10")
    with pytest.raises(FieldValueError, match="3 digits"):
        clean("decimal", "1234.5", precision=5, scale=2)
    decimal = types.get("decimal")
    assert decimal.to_storage(Decimal("12.50")) == "12.50"
    assert decimal.from_storage("12.50") == Decimal("12.50")
    assert decimal.display(Decimal("1234567.5"), spec("decimal"), EN) == "1,234,567.50"


def test_currency_rounds_per_currency():
    value = clean("currency", "1234.567")
    assert value == {"amount": Decimal("1234.57"), "currency": "CNY"}
    assert clean("currency", {"amount": "1234.5", "currency": "jpy"}) == {
        "amount": Decimal("1235"),
        "currency": "JPY",
    }
    assert clean("currency", "9", currency="USD")["currency"] == "USD"
    with pytest.raises(FieldValueError):
        clean("currency", {"amount": "1", "currency": "ABC"})
    with pytest.raises(FieldValueError):
        clean("currency", {"amount": "1", "rate": 2})
    currency = types.get("currency")
    assert currency.to_storage(value) == {"amount": "1234.57", "currency": "CNY"}
    assert currency.from_storage({"amount": "1234.57", "currency": "CNY"}) == value
    assert "1,234.57" in currency.display(value, spec("currency"), ZH)
    assert currency.export(value, spec("currency"), EN) == Decimal("1234.57")


def test_percent_displays_a_percent_sign():
    assert clean("percent", "12.5") == Decimal("12.50")
    assert types.get("percent").display(Decimal("12.5"), spec("percent"), EN) == "12.50%"


def test_date_and_datetime():
    assert clean("date", "2024-02-29") == dt.date(2024, 2, 29)
    for bad in ("2023-02-29", "29/02/2024", 20240229):
        with pytest.raises(FieldValueError):
            clean("date", bad)
    # A time without offset is the user's local time.
    value = clean("datetime", "2024-05-01T09:30")
    assert value == dt.datetime(2024, 5, 1, 1, 30, tzinfo=dt.UTC)
    assert clean("datetime", "2024-05-01T09:30:00Z") == dt.datetime(
        2024, 5, 1, 9, 30, tzinfo=dt.UTC
    )
    stored = types.get("datetime").to_storage(value)
    assert stored == "2024-05-01T01:30:00Z"
    assert types.get("datetime").from_storage(stored) == value
    assert "9:30" in types.get("datetime").display(value, spec("datetime"), EN)
    assert types.get("datetime").export(value, spec("datetime"), EN) == dt.datetime(
        2024, 5, 1, 9, 30
    )


def test_boolean():
    assert clean("boolean", "是") is True
    assert clean("boolean", "false") is False
    assert clean("boolean", 1) is True
    with pytest.raises(FieldValueError):
        clean("boolean", "maybe")
    assert types.get("boolean").display(True, spec("boolean"), ZH) == "是"


def test_picklists():
    assert clean("picklist", "a") == "a"
    with pytest.raises(FieldValueError):
        clean("picklist", "zzz")
    with pytest.raises(FieldValueError):
        clean("picklist", "old")  # deactivated values cannot be chosen again
    assert types.get("picklist").display("b", spec("picklist"), ZH) == "乙"
    assert clean("multi_picklist", ["b", "a", "b"]) == ["a", "b"]  # picklist order, no repeats
    assert clean("multi_picklist", "a;b") == ["a", "b"]
    with pytest.raises(FieldValueError, match="at most 1"):
        clean("multi_picklist", ["a", "b"], max_selected=1)
    assert types.get("multi_picklist").display(["a", "b"], spec("multi_picklist"), ZH) == "甲、乙"


def test_email_phone_url():
    assert clean("email", " Zhang.San@Example.COM ") == "zhang.san@example.com"
    with pytest.raises(FieldValueError):
        clean("email", "zhang@")
    assert clean("phone", "138 1234 5678") == "+8613812345678"
    assert clean("phone", "+1 650-253-0000") == "+16502530000"
    assert clean("phone", "020-1234-5678", region="GB") == "+442012345678"
    with pytest.raises(FieldValueError):
        clean("phone", "12345")
    assert types.get("phone").display("+8613812345678", spec("phone"), ZH) == "138 1234 5678"
    assert clean("url", "example.com/a?b=1") == "https://example.com/a?b=1"
    for bad in ("javascript:alert(1)", "ftp://example.com", "http://nohost", "a b.com"):
        with pytest.raises(FieldValueError):
            clean("url", bad)


def test_lookup_and_system_computed_types():
    assert clean("lookup", "42", target="account") == 42
    assert clean("lookup", {"id": 7}, target="account") == 7
    with pytest.raises(FieldValueError):
        clean("lookup", -1, target="account")
    with pytest.raises(FieldValueError, match="automatically"):
        clean("auto_number", "Q-1")
    assert not types.get("auto_number").editable and not types.get("formula").editable


def test_auto_number_rendering():
    from custom_fields.types.auto_number import period, render

    day = dt.date(2026, 3, 5)
    assert render("Q-{YYYY}{MM}-{0000}", 42, day) == "Q-202603-0042"
    assert render("{00}", 12345, day) == "12345"
    assert period({"reset": "monthly"}, day) == "2026-03"
    assert period({"reset": "never"}, day) == ""


@pytest.mark.parametrize(
    ("name", "stored", "expected"),
    [
        ("integer", 42, 42),
        ("decimal", "12.50", Decimal("12.50")),
        ("currency", {"amount": "9.99", "currency": "CNY"}, Decimal("9.99")),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("boolean", True, True),
        ("lookup", 5, 5),
    ],
)
def test_sql_casts_read_typed_values(app, name, stored, expected):
    from saas.extensions import db

    options = {"target": "account"} if name == "lookup" else {}
    data = literal({"f": stored}, JSONB)
    expression = types.get(name).sql(data, "f", spec(name, **options))
    with app.app_context():
        assert db.session.execute(select(expression)).scalar_one() == expected
