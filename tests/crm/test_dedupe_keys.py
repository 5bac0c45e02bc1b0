"""The duplicate keys of names, phones and emails: real examples, and properties (idempotent;
insensitive to width and to spaces where spaces carry no meaning)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saas.crm.dedupe import (
    CHINESE_SUFFIXES,
    ENGLISH_SUFFIXES,
    company_key,
    email_key,
    person_key,
    phone_key,
)

SAME_COMPANY = [
    ("北京字节跳动科技有限公司", "北京字节跳动科技 有限责任公司"),
    ("北京字节跳动科技有限公司", "北京字节跳动科技"),
    ("ＡＢＣ有限公司", "ABC"),
    ("Acme Co., Ltd.", "ACME"),
    ("Acme Co.,Ltd", "acme company limited"),
    ("Apple Inc.", "APPLE INCORPORATED"),
    ("Siemens GmbH", "siemens"),
    ("Tesco PLC", "Tesco"),
    ("Foo LLC", "foo"),
    ("International Business Machines Corporation", "International Business Machines Corp."),
    ("阿里巴巴（中国）有限公司", "阿里巴巴(中国)有限公司"),
    ("阿里巴巴（中国）有限公司", "阿里巴巴 中国"),
    ("上海王氏贸易有限公司", "上海王氏贸易股份有限公司"),
    ("万科企业股份有限公司", "万科企业"),
    ("海尔集团公司", "海尔"),
    ("海尔集团有限公司", "海尔集团"),
    ("中国石油天然气集团股份有限公司", "中国石油天然气"),
    ("中国平安保险（集团）股份有限公司", "中国平安保险 集团"),
    ("上海 王氏贸易有限 公司", "上海王氏贸易"),
    ("华为技术有限公司\u3000", " 华为技术有限公司"),
    ("ＴＣＬ科技集团股份有限公司", "tcl科技"),
    ("Shenzhen Tencent Computer Systems Company Limited", "shenzhen tencent computer systems"),
    ("东方红·卫星", "东方红卫星"),
    ("中国银行总公司", "中国银行"),
    ("A&B Co.", "AB"),
]
DIFFERENT_COMPANY = [
    ("北京字节跳动科技有限公司", "字节跳动（北京）科技有限公司"),  # a different word order
    ("招商银行股份有限公司", "招商银行股份有限公司上海分公司"),  # a branch is its own customer
    ("平安银行北京分公司", "平安银行上海分公司"),
    ("Disco", "Dis"),  # "co" is stripped only as a word
    ("Costco", "Cost"),
    ("Acme", "Acne"),
]


@pytest.mark.parametrize(("one", "other"), SAME_COMPANY)
def test_company_names_that_are_the_same_company(one, other):
    assert company_key(one) == company_key(other) != ""


@pytest.mark.parametrize(("one", "other"), DIFFERENT_COMPANY)
def test_company_names_that_are_not(one, other):
    assert company_key(one) != company_key(other)


def test_company_key_values():
    assert company_key("北京字节跳动科技有限公司") == "北京字节跳动科技"
    assert company_key("Acme Co., Ltd.") == "acme"
    assert company_key("招商银行股份有限公司上海分公司") == "招商银行股份有限公司上海分公司"
    assert company_key("The Boeing Company") == "theboeing"


@pytest.mark.parametrize(
    "name", ["", None, "有限公司", "集团股份有限公司", "Co., Ltd.", " ， 。", "Inc"]
)
def test_a_name_that_is_only_a_legal_form_or_punctuation_has_no_key(name):
    assert company_key(name) == ""


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("张三", "张 三"),
        ("张三", "　张三　"),
        ("John Smith", "john  smith"),
        ("ＪＯＨＮ Smith", "John SMITH"),
        ("Straße", "STRASSE"),
        ("李 Lei", "李Lei"),
    ],
)
def test_person_names_that_are_the_same(one, other):
    assert person_key(one) == person_key(other) != ""


def test_controls_and_invisible_characters_are_left_out():
    assert person_key("张\u200b三\x00") == "张三"
    assert person_key("John\tSmith\n") == "john smith"
    assert company_key("Acme\x00 Ltd") == "acme"


def test_person_names_that_differ():
    assert person_key("张三") != person_key("张山")
    assert person_key("John Smith") != person_key("Johns Mith")
    assert person_key("  ") == "" and person_key(None) == ""


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("+86 138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("(+86)13800138000", "008613800138000"),
        ("010-12345678", "+86 10 1234 5678"),
        ("０１０－１２３４５６７８", "01012345678"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phones_that_are_the_same(one, other):
    assert phone_key(one) == phone_key(other) != ""


def test_phone_key_values():
    assert phone_key("+86 138-0013-8000") == "+8613800138000"
    assert phone_key("13800138000") == "+8613800138000"
    assert phone_key(13800138000) == "+8613800138000"
    assert phone_key("6502530000", "US") == "+16502530000"
    # Not a number libphonenumber reads: the digits, kept when there are enough of them.
    assert phone_key("+999 1234567") == "+9991234567"
    assert phone_key("123456789012345678") == "123456789012345678"
    for short in ("", None, "12345", "95588", "ext 12", "n/a", True):
        assert phone_key(short) == ""


def test_email_key_values():
    assert email_key(" Buyer@Example.COM ") == "buyer@example.com"
    assert email_key("ｂｕｙｅｒ＠example.com") == "buyer@example.com"
    assert email_key("buyer@EXAMPLE.com") == email_key("BUYER@example.com")
    for bad in ("", None, "not an email", "a@", "@b.com", 42):
        assert email_key(bad) == ""


# ---- properties ---------------------------------------------------------------------------------

HAN = "北京上海深圳字节跳动科技贸易王氏银行华为中国东方红海尔万科企业电子食品"
SEPARATORS = " ,.()（），。、·-&/"
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789"
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def full_width(text: str) -> str:
    """ASCII as people type it with a Chinese input method (full width)."""
    return "".join(
        "\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text
    )


company_names = st.text(alphabet=HAN + SEPARATORS + LATIN, max_size=30) | st.builds(
    lambda core, suffix: core + suffix,
    st.text(alphabet=HAN + LATIN + " ", min_size=1, max_size=15),
    st.sampled_from(
        [*CHINESE_SUFFIXES, *(f" {s}" for s in ENGLISH_SUFFIXES), " Co., Ltd.", "分公司", ""]
    ),
)


@PROPERTY
@given(company_names)
def test_company_key_is_idempotent(name):
    key = company_key(name)
    assert company_key(key) == key


@PROPERTY
@given(st.text(max_size=40))
def test_company_and_person_keys_are_idempotent_on_any_text(text):
    assert company_key(company_key(text)) == company_key(text)
    assert person_key(person_key(text)) == person_key(text)


@PROPERTY
@given(company_names)
def test_company_key_ignores_width(name):
    assert company_key(full_width(name)) == company_key(name)


def _space_positions(text: str, meaningless) -> list[int]:
    return [i for i in range(len(text) + 1) if meaningless(text, i)]


def _between_han_or_by_a_separator(text: str, i: int) -> bool:
    """Where a space adds nothing to a company name: at either end, between two Chinese
    characters, or next to a space or punctuation (words stay the same words)."""
    before, after = text[i - 1 : i], text[i : i + 1]
    if not before or not after:
        return True
    if before in HAN and after in HAN:
        return True
    return before in SEPARATORS or after in SEPARATORS


@PROPERTY
@given(company_names, st.data())
def test_company_key_ignores_spaces_that_separate_nothing(name, data):
    positions = _space_positions(name, _between_han_or_by_a_separator)
    chosen = data.draw(st.lists(st.sampled_from(positions), max_size=4))
    spaced = name
    for i in sorted(chosen, reverse=True):
        spaced = spaced[:i] + " " + spaced[i:]
    assert company_key(spaced) == company_key(name)


@PROPERTY
@given(
    st.text(alphabet="北京上海科技贸易", min_size=1, max_size=12),
    st.sampled_from(CHINESE_SUFFIXES),
)
def test_a_chinese_legal_form_is_stripped_unless_the_name_is_a_branch(core, suffix):
    assert company_key(core + suffix) == company_key(core) == core
    assert company_key(core + "分公司") == core + "分公司"


person_names = st.text(alphabet=HAN + LATIN + " ·.-'", max_size=20)


def _by_han_or_space(text: str, i: int) -> bool:
    before, after = text[i - 1 : i], text[i : i + 1]
    return not before or not after or before in HAN + " " or after in HAN + " "


@PROPERTY
@given(person_names, st.data())
def test_person_key_ignores_width_and_spaces_that_separate_nothing(name, data):
    positions = _space_positions(name, _by_han_or_space)
    chosen = data.draw(st.lists(st.sampled_from(positions), max_size=4))
    spaced = name
    for i in sorted(chosen, reverse=True):
        spaced = spaced[:i] + " " + spaced[i:]
    assert person_key(spaced) == person_key(name)
    assert person_key(full_width(name)) == person_key(name)
    assert person_key(person_key(name)) == person_key(name)


phones = st.one_of(
    st.from_regex(r"\A1[3-9][0-9]{9}\Z"),
    st.from_regex(r"\A\+86 ?1[3-9][0-9] ?[0-9]{4} ?[0-9]{4}\Z"),
    st.from_regex(r"\A0[1-9][0-9]{1,2}-[0-9]{7,8}\Z"),
    st.from_regex(r"\A\+?[0-9 ()\-]{0,20}\Z"),
    st.text(max_size=20),
)


@PROPERTY
@given(phones)
def test_phone_key_is_idempotent_and_ignores_width(text):
    key = phone_key(text)
    assert phone_key(key) == key
    assert phone_key(full_width(text)) == key


@PROPERTY
@given(st.emails() | st.text(max_size=30))
def test_email_key_is_idempotent(text):
    key = email_key(text)
    assert email_key(key) == key
    if key and text.isascii():
        assert email_key(text.upper()) == key
