"""The template sandbox: known escapes fail, every bound ends a runaway template with a clear
message and its line, record data is escaped, unknown names are named, the filters format per
locale, and only plain data gets in."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from markupsafe import Markup

from print_templates import sandbox
from print_templates.errors import TemplateError, TemplateLimitError
from print_templates.render import render_html, template_errors

D = Decimal
CONTEXT = {
    "company": {"name": "上海<客户>&Co", "address": "上海市\n浦东新区"},
    "customer": {"name": "北京示例", "contact": None},
    "x": 5,
    "lines": [{"product": "服务器", "quantity": D("2"), "unit_price": D("38000")}],
    "document": {"currency": "CNY", "date": dt.date(2025, 3, 1), "approved": False},
    "record": {"name": "Q-1"},
}


def render(source: str, locale: str = "zh_CN", **extra) -> str:
    return render_html(source, {**CONTEXT, **extra}, locale=locale)


def refused(source: str) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source)
    return caught.value


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ x.__class__.__base__.__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ (''|attr('__class__'))|attr('__mro__') }}",
    "{{ lines|attr('__class__') }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(company) }}",
    "{{ 'a'.format_map(company) }}",
    "{{ ('{0.__class__}'|attr('format'))(x) }}",
    "{{ ''|attr('format_map') }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler('a').next.__self__.__class__ }}",
    "{{ joiner().__call__.__globals__ }}",
    "{{ namespace.__init__.__globals__['os'] }}",
    "{{ namespace(a=1).__class__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ dict.__init__ }}",
    "{% set f = ''.upper %}{{ f.__self__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lines.append(1) }}",
    "{{ company.update({'name': 1}) }}",
    "{{ company.pop('name') }}",
    "{{ document.date.strftime('%Y') }}",
    "{{ x.to_bytes(8) }}",
    "{{ lines[0].unit_price.quantize(1) }}",
    "{{ ''.ljust(10) }}",
    "{{ 'x'.zfill(10) }}",
    "{% include 'secret.html' %}",
    "{% import 'macros.html' as m %}",
    "{% extends 'base.html' %}",
    "{{ [1, 2]|random }}",
    "{% for x in lines recursive %}{{ loop(x) }}{% endfor %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_known_escapes_are_refused(source: str) -> None:
    error = refused(source)
    assert error.status == 422
    assert error.message  # a sentence for the author, never a Python repr of internals
    assert "<class" not in error.message and " at 0x" not in error.message


def test_refusals_name_the_line_and_the_attribute() -> None:
    error = refused("<p>a</p>\n<p>b</p>\n<p>{{ ''.__class__ }}</p>")
    assert error.line == 3
    assert error.message.startswith("Line 3:")
    assert "__class__" in error.message


LIMITS = [
    ("{% for i in range(10**9) %}{% endfor %}", "range()"),
    ("{{ range(100000)|list|length }}", "range()"),
    ("{{ 'a' * 10**9 }}", "longer than"),
    ("{{ [1] * 10**8 }}", "longer than"),
    ("{{ 10 ** 100000 }}", "large"),
    ("{% set n = 2 ** 4000 %}{{ n * n * n }}", "large"),
    ("{% for a in range(5000) %}{% for b in range(5000) %}{% endfor %}{% endfor %}", "steps"),
    (
        "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}"
        "{{ f(0) }}",
        "steps",
    ),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "deeply"),
    ("{{ '%999999999d' % 1 }}", "at most 200"),
    ("{{ '%.999999999f' % 1 }}", "at most 200"),
    ("{{ '%*d'|format(999999999, 1) }}", "at most 200"),
    ("{{ 'x'|center(999999999) }}", "width"),
    ("{{ 'x\\ny'|indent(999999999) }}", "width"),
    ("{{ range(10)|batch(10**9, 'x')|list }}", "count"),
    ("{{ range(10)|slice(10**9, 'x')|list }}", "count"),
    (
        "{% set a = 'aaaaaaaaaa' %}{% set b = a|replace('', a) %}{% set c = b|replace('', b) %}"
        "{% set d = c|replace('', c) %}",
        "longer than",
    ),
    (
        "{% set ns = namespace(a='a' * 1000) %}{% for i in range(30) %}"
        "{% set ns.a = ns.a ~ ns.a %}{% endfor %}",
        "longer than",
    ),
    (
        "{% set ns = namespace(a='a' * 1000) %}{% for i in range(30) %}"
        "{% set ns.a = ns.a + ns.a %}{% endfor %}",
        "longer than",
    ),
    ("{% set s = 'x' * 999999 %}{{ range(5000)|join(s) }}", "longer than"),
    ("{% set s %}{% for i in range(10000) %}{{ 'x' * 900000 }}{% endfor %}{% endset %}", "writes"),
    ("{% for i in range(10000) %}{{ 'x' * 9000 }}{% endfor %}", "longer than 2,000,000"),
]


@pytest.mark.parametrize(("source", "says"), LIMITS)
def test_runaway_templates_end_quickly_with_a_clear_message(source: str, says: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateLimitError) as caught:
        render(source)
    assert time.monotonic() - started < 5
    assert says in caught.value.message
    assert caught.value.status == 422


def test_output_is_capped_even_without_loops(monkeypatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_OUTPUT", 1000)
    monkeypatch.setattr(sandbox, "MAX_EMITTED", 10**9)
    with pytest.raises(TemplateLimitError, match="longer than 1,000"):
        render("{{ 'x' * 600 }}{{ 'y' * 600 }}")


def test_loops_are_capped_per_loop(monkeypatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_LOOP", 3)
    assert render("{% for l in lines %}{{ l.product }}{% endfor %}") == "服务器"
    with pytest.raises(TemplateLimitError, match="at most 3 times"):
        render("{% for i in 'abcdef' %}{{ i }}{% endfor %}")


def test_data_is_escaped_and_safe_is_the_authors_choice() -> None:
    assert render("{{ company.name }}") == "上海&lt;客户&gt;&amp;Co"
    assert render("{{ company.name|safe }}") == "上海<客户>&Co"
    # Markup smuggled in through the context is plain text again
    assert render("{{ v }}", v=Markup("<b>x</b>")) == "&lt;b&gt;x&lt;/b&gt;"
    assert render("{{ company.address|nl2br }}") == "上海市<br>\n浦东新区"


def test_unknown_names_fail_and_missing_fields_print_nothing() -> None:
    error = refused("<h1>{{ record.name }}</h1>\n{{ compnay.name }}")
    assert error.line == 2 and "compnay" in error.message
    assert render("[{{ record.cf_region }}]") == "[]"
    assert render("[{{ customer.contact.phone }}]") == "[]"
    assert render("{{ record.cf_region|default('—') }}") == "—"
    assert render("{% if record.cf_region %}yes{% else %}no{% endif %}") == "no"
    assert render("{{ customer.contact|default('none') }}") == "none"
    assert render("{% if nothing is defined %}1{% else %}0{% endif %}") == "0"


def test_ordinary_template_features_work() -> None:
    source = (
        "{% macro row(l) %}<td>{{ l.product }}</td>{% endmacro %}"
        "{% for l in lines %}{{ loop.index }}{{ row(l) }}{{ loop.cycle('a', 'b') }}{% endfor %}"
        "|{{ lines|map(attribute='quantity')|sum }}|{{ [3, 1, 2]|sort|join(',') }}"
        "|{% for k, v in company.items() %}{{ k }}{% endfor %}"
        "|{{ 'A-B'.split('-')|join('+') }}|{{ '%05.1f'|format(3.14159) }}"
        "|{% for i in range(4) %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}"
        "|{{ (lines[0].quantity * lines[0].unit_price)|money }}"
    )
    assert render(source) == ("1<td>服务器</td>a|2|1,2,3|nameaddress|A+B|003.1|023|¥76,000.00")


FILTERS = [
    ("{{ 1234.5|money }}", "zh_CN", "¥1,234.50"),
    ("{{ 1234.5|money }}", "en", "CN¥1,234.50"),
    ("{{ 1234.5|money('USD') }}", "en", "$1,234.50"),
    ("{{ 1234.5|money('JPY') }}", "zh_CN", "JP¥1,235"),
    ("{{ 0.125|money }}", "zh_CN", "¥0.13"),
    ("{{ 1234.5|money(symbol=false) }}", "zh_CN", "1,234.50"),
    ("{{ none|money }}", "zh_CN", ""),
    ("{{ 1234.5|number }}", "en", "1,234.5"),
    ("{{ 1234.5|number(2) }}", "zh_CN", "1,234.50"),
    ("{{ '2.500'|number }}", "en", "2.5"),
    ("{{ 3|number }}", "en", "3"),
    ("{{ 13|percent }}", "zh_CN", "13%"),
    ("{{ 12.5|percent }}", "en", "12.5%"),
    ("{{ document.date|date }}", "zh_CN", "2025年3月1日"),
    ("{{ document.date|date }}", "en", "Mar 1, 2025"),
    ("{{ document.date|date('long') }}", "en", "March 1, 2025"),
    ("{{ document.date|date('yyyy-MM-dd') }}", "en", "2025-03-01"),
    ("{{ '2025-03-01'|date('yyyy年M月d日') }}", "en", "2025年3月1日"),
    ("{{ when|datetime }}", "zh_CN", "2025年3月1日 14:05"),
    ("{{ when|datetime }}", "en", "Mar 1, 2025 2:05 PM"),
    ("{{ 1005|cn_amount }}", "en", "壹仟零伍元整"),
    ("{{ none|default('—') }}", "en", "—"),
    ("{{ ''|default('—', true) }}", "en", "—"),
    ("{{ 0|default('—') }}", "en", "0"),
]


@pytest.mark.parametrize(("source", "locale", "expected"), FILTERS)
def test_filters_format_per_locale(source: str, locale: str, expected: str) -> None:
    when = dt.datetime(2025, 3, 1, 14, 5)
    assert render(source, locale, when=when, none=None).replace("\u202f", " ") == expected


def test_money_defaults_to_the_documents_currency() -> None:
    usd = {**CONTEXT["document"], "currency": "USD"}
    assert render("{{ 5|money }}", "en", document=usd) == "$5.00"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ 'abc'|money }}", "money: expected a number"),
        ("{{ 5|money('EURO') }}", "not a currency code"),
        ("{{ 'soon'|date }}", "date: expected a date"),
        ("{{ document.date|date('%Y %m') }}", "format must be"),
        ("{{ 5|number(99) }}", "decimal places"),
        ("{{ 1/0 }}", "division by zero"),
        ("{% for i in 5 %}{% endfor %}", "not iterable"),
    ],
)
def test_bad_values_give_a_message_for_the_author(source: str, says: str) -> None:
    error = refused("<p>\n" + source)
    assert says in error.message
    assert error.line == 2


def test_only_plain_data_gets_in() -> None:
    class Record:
        name = "x"

    for bad in (Record(), {"a": Record()}, {"a": [object()]}, {"a": print}, {1: "x"}):
        with pytest.raises(TypeError):
            render_html("x", {"v": bad})
    looped: dict = {}
    looped["self"] = looped
    with pytest.raises(ValueError, match="refers to itself"):
        render_html("x", {"v": looped})
    deep: dict = {}
    for _ in range(50):
        deep = {"d": deep}
    with pytest.raises(ValueError, match="nests deeper"):
        render_html("x", {"v": deep})
    plain = sandbox.plain_context({"f": 0.1, "t": (1, 2), "m": Markup("<b>")})
    assert plain == {"f": D("0.1"), "t": [1, 2], "m": "<b>"}
    assert type(plain["m"]) is str


def test_syntax_errors_are_listed_with_their_line() -> None:
    assert template_errors("<p>{{ company.name }}</p>") == []
    errors = template_errors("<p>\n{% for x in lines %}\n{{ x }\n")
    assert len(errors) == 1 and errors[0].startswith("Line 3:")
    assert template_errors("{{ x|no_such_filter }}")[0].startswith("Line 1:")
    assert "Recursive" in template_errors("{% for x in y recursive %}{% endfor %}")[0]
    with pytest.raises(TemplateError) as caught:
        render("ok\n{% if %}")
    assert caught.value.line == 2


def test_a_render_does_not_leak_into_the_next() -> None:
    render("{% set ns = namespace(a=1) %}{% set ns.a = 2 %}")
    assert render("{{ x }}") == "5"
    assert sandbox.render_state() is None


def test_empty_values_print_as_nothing():
    """A company without an address or phone prints nothing there, never the word "None";
    zero and false still print."""
    out = render(
        "<p>{{ company.address }}|{{ company.phone }}|{{ n }}|{{ flag }}</p>",
        company={"address": None, "phone": None},
        n=0,
        flag=False,
    )
    assert out == "<p>||0|False</p>"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ([('x' * 999999)] * 999999)|string }}",
        "{{ ([[('x' * 999999)]] * 999999)|length }}",
        "{{ ([('x' * 600000)] + [('y' * 600000)])|length }}",
    ],
)
def test_repeating_a_list_of_long_strings_is_bounded(source):
    """A list's repetition is measured by the text it holds, however deep, not by its number
    of items: a list of one long string repeated a million times is refused at once."""
    started = time.monotonic()
    with pytest.raises(TemplateError):
        render(source)
    assert time.monotonic() - started < 2
