"""Report charts as SVG images (``saas/reports/chart_svg.py``) and in PDFs.

Every chart type is drawn from a known result through ``present.chart`` (the data the page's
chart gets) and read back with ElementTree: the number of bars, slices, points and stages,
sizes and angles proportional to the figures, zero and negative figures, no group and one
group, labels from user data staying text, amounts in several currencies. Then a report with
a chart is printed as a PDF: the chart is drawn as vectors in the palette's colours, with its
Chinese labels in the PDF's own font, and the rendered page is not blank where the chart is.
"""

from __future__ import annotations

import base64
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

import pytest

from saas.reports import chart_svg, present

NS = "{http://www.w3.org/2000/svg}"
BLUE = chart_svg.PALETTE[0]


# ---- results of the engine's shape ------------------------------------------------------------


def node(key: Any, label: str, values: dict[str, Any], children=(), **extra: Any) -> dict:
    return {
        "key": key,
        "label": label,
        "count": values.get("count", 0),
        "values": values,
        "children": list(children),
        **extra,
    }


AGGREGATES = [
    {"key": "count", "fn": "count", "field": None, "label": "Records", "currency": False},
    {"key": "sum_revenue", "fn": "sum", "field": "revenue", "label": "Revenue", "currency": True},
]


def summary(rows: list[dict], chart: str = "bar", aggregate: str = "count", **extra: Any) -> dict:
    return {
        "type": "summary",
        "object": "account",
        "currency": "CNY",
        "groups": [{"label": "Band"}],
        "aggregates": AGGREGATES,
        "total": node(
            None, "Total", {"count": sum(r["count"] for r in rows if isinstance(r["count"], int))}
        ),
        "rows": rows,
        "chart": {"type": chart, "aggregate": aggregate},
        **extra,
    }


def counts(pairs: list[tuple[str, int | None]], chart: str = "bar") -> dict:
    return summary([node(i, label, {"count": n}) for i, (label, n) in enumerate(pairs)], chart)


def draw(result: dict, chart: str | None = None, aggregate: str | None = None, locale="en"):
    drawing = chart_svg.for_result(result, chart, aggregate, locale=locale)
    assert drawing is not None
    return ET.fromstring(drawing.svg), drawing  # noqa: S314 (our own output)


def of_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == name]


def texts(root: ET.Element, name: str | None = None) -> list[str]:
    return [e.text or "" for e in root.iter(f"{NS}text") if name is None or e.get("class") == name]


def close(a: float, b: float, tolerance: float = 0.01) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=0.05)


# ---- axis ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "whole", "expected"),
    [
        (0, 15, True, [0, 5, 10, 15]),
        (0, 3, True, [0, 1, 2, 3]),
        (0, 0.7, False, [0, 0.2, 0.4, 0.6, 0.8]),
        (-15_000, 120_000.5, False, [-50_000, 0, 50_000, 100_000, 150_000]),
        (-7, -2, True, [-8, -6, -4, -2, 0]),
        (0, 0, True, [0, 1]),
        (0, 1, True, [0, 1]),
    ],
)
def test_the_value_axis_has_nice_ticks(low, high, whole, expected):
    start, end, ticks = chart_svg.axis(low, high, whole)
    assert ticks == pytest.approx(expected)
    assert (start, end) == (ticks[0], ticks[-1])
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5)


# ---- bars ---------------------------------------------------------------------------------------


def test_bars_are_as_high_as_their_figures_from_zero():
    result = counts([("A", 12), ("B", 7), ("C", 0), ("D", -3), ("E", None), ("Others", 9)])
    root, _ = draw(result)
    bars = of_class(root, "bar")
    # One bar per figure (none for the empty one); the "Others" group is a bar like the rest.
    assert [b.get("data-category") for b in bars] == ["0", "1", "2", "3", "5"]
    assert {b.get("fill") for b in bars} == {BLUE}
    heights = {int(b.get("data-category")): float(b.get("height")) for b in bars}
    values = {0: 12, 1: 7, 2: 0, 3: -3, 5: 9}
    scale = heights[0] / 12
    for i, value in values.items():
        assert close(heights[i], abs(value) * scale), (i, heights[i], value)
    # Positive bars stand on the zero line, the negative one hangs from it.
    zero = float(bars[0].get("y")) + heights[0]
    assert all(
        close(float(b.get("y")) + float(b.get("height")), zero)
        for b in bars
        if int(b.get("data-category")) in (0, 1, 5)
    )
    negative = next(b for b in bars if b.get("data-category") == "3")
    assert close(float(negative.get("y")), zero)
    assert texts(root, "category") == ["A", "B", "C", "D", "E", "Others"]
    assert {"12", "7", "0", "-3", "9"} <= set(texts(root, "value"))


def test_one_group_is_one_bar_and_no_group_is_no_chart():
    root, drawing = draw(counts([("Only", 4)]))
    (bar,) = of_class(root, "bar")
    assert float(bar.get("height")) > 100 and float(bar.get("width")) <= 60
    assert drawing.notes == []
    assert chart_svg.for_result(counts([])) is None
    assert chart_svg.for_result(counts([("A", None), ("B", None)])) is None
    assert chart_svg.render(None) is None
    tabular = {"type": "tabular", "rows": [], "total": node(None, "Total", {})}
    assert chart_svg.for_result(tabular) is None


def test_zero_figures_draw_an_axis_and_flat_bars():
    root, _ = draw(counts([("A", 0), ("B", 0)]))
    assert [float(b.get("height")) for b in of_class(root, "bar")] == [0, 0]
    assert texts(root, "tick") == ["0", "1"]


def test_long_labels_are_cut_with_an_ellipsis_and_turn_the_bars():
    long = "Shanghai Huadong Precision Machinery Import and Export Company Limited"
    result = counts([(f"{long} {i}", i + 1) for i in range(8)])
    root, _ = draw(result)
    labels = texts(root, "category")
    assert len(labels) == 8
    assert all(label.endswith("…") and len(label) < len(long) for label in labels)
    # Horizontal bars: the widths carry the figures.
    bars = of_class(root, "bar")
    widths = [float(b.get("width")) for b in bars]
    assert all(close(w / widths[0], i + 1) for i, w in enumerate(widths))
    assert len({float(b.get("x")) for b in bars}) == 1


def test_many_groups_are_cut_with_a_note():
    result = counts([(f"G{i}", i) for i in range(chart_svg.MAX_CATEGORIES + 5)])
    root, drawing = draw(result)
    assert len(of_class(root, "bar")) == chart_svg.MAX_CATEGORIES
    assert drawing.notes == [
        f"The chart shows the first {chart_svg.MAX_CATEGORIES} of "
        f"{chart_svg.MAX_CATEGORIES + 5} groups; the table has them all."
    ]


def test_amounts_are_written_as_the_table_writes_them():
    result = summary(
        [
            node(1, "A", {"count": 1, "sum_revenue": {"CNY": "1200.50"}}),
            node(2, "B", {"count": 1, "sum_revenue": {"CNY": "-80"}}),
        ],
        aggregate="sum_revenue",
    )
    root, _ = draw(result, locale="zh_CN")
    assert set(texts(root, "value")) == {"¥1,200.50", "-¥80.00"}
    assert "Revenue (CNY)" in texts(root, "chart-title")
    root, _ = draw(result, locale="en")
    assert set(texts(root, "value")) == {"CN¥1,200.50", "-CN¥80.00"}


# ---- stacked bars and lines -------------------------------------------------------------------


def matrix() -> dict:
    """Bands × owners: a stacked bar per band, a series per owner."""
    rows = [node("A", "A", {"count": 5}), node("B", "B", {"count": 2}), node("C", "C", {})]
    columns = [node(7, "Ann", {"count": 4}), node(8, "Bob", {"count": 3})]
    cells = [
        {"row": ["A"], "column": [7], "values": {"count": 3}},
        {"row": ["A"], "column": [8], "values": {"count": 2}},
        {"row": ["B"], "column": [7], "values": {"count": 1}},
        {"row": ["B"], "column": [8], "values": {"count": -1}},
    ]
    return {**summary(rows, "stacked_bar"), "type": "matrix", "columns": columns, "cells": cells}


def test_stacked_bars_stack_each_series_with_a_legend():
    root, _ = draw(matrix())
    bars = of_class(root, "bar")
    assert len(bars) == 4  # band C has no cell
    by = {(b.get("data-category"), b.get("data-series")): b for b in bars}
    assert by["0", "0"].get("fill") == chart_svg.PALETTE[0]
    assert by["0", "1"].get("fill") == chart_svg.PALETTE[1]
    a0, a1 = by["0", "0"], by["0", "1"]
    # Band A: Ann's 3 then Bob's 2 on top of it, heights in proportion, one column.
    assert a0.get("x") == a1.get("x")
    assert close(float(a1.get("y")) + float(a1.get("height")), float(a0.get("y")))
    assert close(float(a0.get("height")) / float(a1.get("height")), 1.5)
    # Band B: Bob's -1 goes down from zero where Ann's 1 goes up.
    b0, b1 = by["1", "0"], by["1", "1"]
    assert close(float(b0.get("y")) + float(b0.get("height")), float(b1.get("y")))
    assert close(float(b0.get("height")), float(b1.get("height")))
    legend = next(e for e in root.iter(f"{NS}g") if e.get("class") == "legend")
    assert [t.text for t in legend.iter(f"{NS}text")] == ["Ann", "Bob"]


def test_a_two_level_summary_stacks_its_second_level():
    rows = [
        node(
            1,
            "Jan",
            {"count": 3},
            [node("x", "East", {"count": 2}), node("y", "West", {"count": 1})],
        ),
        node(2, "Feb", {"count": 4}, [node("y", "West", {"count": 4})]),
    ]
    root, _ = draw(summary(rows, "stacked_bar"))
    bars = of_class(root, "bar")
    assert sorted((b.get("data-category"), b.get("data-series")) for b in bars) == [
        ("0", "0"),
        ("0", "1"),
        ("1", "1"),
    ]
    feb = next(b for b in bars if b.get("data-category") == "1")
    jan = [b for b in bars if b.get("data-category") == "0"]
    assert close(sum(float(b.get("height")) for b in jan) / float(feb.get("height")), 3 / 4)


def test_many_series_are_cut_and_the_legend_says_how_many_more():
    names = [f"Salesperson with a long name number {i}" for i in range(25)]
    rows = [
        node(1, "Jan", {"count": 25}, [node(n, n, {"count": 1}) for n in names]),
    ]
    root, drawing = draw(summary(rows, "stacked_bar"))
    assert len(of_class(root, "bar")) == chart_svg.MAX_SERIES
    assert any("20 of 25 series" in note for note in drawing.notes)
    legend = next(e for e in root.iter(f"{NS}g") if e.get("class") == "legend")
    shown = [t.text for t in legend.iter(f"{NS}text")]
    more = shown.pop()
    assert more == f"+{chart_svg.MAX_SERIES - len(shown)}"
    assert shown == names[: len(shown)]


def test_figures_that_are_not_numbers_are_not_drawn():
    root, _ = draw(counts([("A", 2), ("B", "Infinity"), ("C", "NaN"), ("D", "x")]))
    assert [b.get("data-category") for b in of_class(root, "bar")] == ["0"]


def test_grouped_bars_stand_side_by_side():
    root, _ = draw(matrix(), chart="bar")
    bars = [b for b in of_class(root, "bar") if b.get("data-category") == "0"]
    assert len(bars) == 2 and bars[0].get("x") != bars[1].get("x")
    assert bars[0].get("y") != bars[1].get("y")  # 3 and 2 from the same zero line


def test_lines_have_a_point_per_figure_and_break_at_an_empty_one():
    result = counts([("Jan", 4), ("Feb", 8), ("Mar", None), ("Apr", 2), ("May", 6)], "line")
    root, _ = draw(result)
    points = of_class(root, "point")
    assert [p.get("data-category") for p in points] == ["0", "1", "3", "4"]
    ys = {int(p.get("data-category")): float(p.get("cy")) for p in points}
    values = {0: 4, 1: 8, 3: 2, 4: 6}
    per_unit = (ys[0] - ys[1]) / (values[1] - values[0])
    for i in (3, 4):
        assert close((ys[0] - ys[i]) / (values[i] - values[0]), per_unit)
    assert len(of_class(root, "line")) == 2  # Jan–Feb and Apr–May
    xs = [float(p.get("cx")) for p in points]
    assert xs == sorted(xs)


def test_a_line_of_negative_figures_has_zero_at_the_top():
    root, _ = draw(counts([("Q1", -5), ("Q2", -2)], "line"))
    ticks = texts(root, "tick")
    assert ticks[-1] == "0" and ticks[0].startswith("-")


# ---- pies, donuts, funnels -----------------------------------------------------------------


def _angle(cx: float, cy: float, x: float, y: float) -> float:
    return math.degrees(math.atan2(x - cx, cy - y)) % 360


def _arc_sweep(d: str) -> float:
    """The angle a pie slice's path spans, from its own coordinates."""
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", d)]
    cx, cy, x1, y1 = numbers[:4]
    x2, y2 = numbers[-2:]
    return (_angle(cx, cy, x2, y2) - _angle(cx, cy, x1, y1)) % 360


@pytest.mark.parametrize("kind", ["pie", "donut"])
def test_slices_are_in_proportion_and_non_positive_figures_have_none(kind):
    result = counts([("A", 6), ("B", 3), ("C", 0), ("D", -2), ("E", None), ("Others", 3)], kind)
    root, _ = draw(result)
    slices = of_class(root, "slice")
    assert [s.get("data-index") for s in slices] == ["0", "1", "5"]
    spans = [float(s.get("data-end")) - float(s.get("data-start")) for s in slices]
    assert spans == pytest.approx([180, 90, 90], abs=0.01)
    assert float(slices[0].get("data-start")) == 0
    if kind == "pie":
        assert [_arc_sweep(s.get("d")) for s in slices] == pytest.approx([180, 90, 90], abs=0.05)
    else:
        assert all(s.get("d").count("A") == 2 for s in slices)  # outer and inner arcs
    assert [s.get("fill") for s in slices] == [
        chart_svg.PALETTE[0],
        chart_svg.PALETTE[1],
        chart_svg.PALETTE[5],
    ]
    # Every item is in the legend with its figure, the drawn ones with their share.
    assert texts(root, "label") == ["A", "B", "C", "D", "E", "Others"]
    assert texts(root, "value")[:4] == ["6 (50.0%)", "3 (25.0%)", "0", "-2"]
    assert of_class(root, "rest") == []


def test_a_single_slice_is_a_whole_circle():
    root, _ = draw(counts([("All", 5)], "pie"))
    (whole,) = of_class(root, "slice")
    assert whole.get("d").count("A") == 2  # two half arcs
    assert float(whole.get("data-end")) == pytest.approx(360)


def test_a_pie_of_nothing_positive_is_no_chart():
    assert chart_svg.for_result(counts([("A", 0), ("B", -1)], "pie")) is None


def test_funnel_stages_are_as_wide_as_their_figures():
    result = counts([("Lead", 40), ("Qualified", 20), ("Proposal", 10), ("Won", 0)], "funnel")
    root, _ = draw(result)
    stages = of_class(root, "stage")
    assert len(stages) == 4
    widths = [float(s.get("data-width")) for s in stages]
    assert widths[1] / widths[0] == pytest.approx(0.5, abs=0.01)
    assert widths[2] / widths[0] == pytest.approx(0.25, abs=0.01)
    assert widths[3] == 0
    # The path's own top edge is that wide.
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", stages[1].get("d"))]
    assert numbers[2] - numbers[0] == pytest.approx(widths[1], abs=0.05)
    assert [t.split(" ")[0] for t in texts(root, "label")] == [
        "Lead",
        "Qualified",
        "Proposal",
        "Won",
    ]


# ---- text from user data --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bar", "line", "pie", "funnel"])
def test_labels_from_user_data_stay_text(kind):
    evil = ["<script>alert(1)</script>", "]]> & <b>", 'x" onload="alert(1)', "bell\x07\x00end"]
    result = counts([(label, i + 1) for i, label in enumerate(evil)], kind)
    drawing = chart_svg.for_result(result)
    assert drawing is not None
    assert "<script" not in drawing.svg and "<b>" not in drawing.svg and "\x07" not in drawing.svg
    root = ET.fromstring(drawing.svg)  # noqa: S314 (our own output)
    assert {e.tag for e in root.iter()} <= {
        f"{NS}{t}" for t in ("svg", "title", "rect", "g", "text", "line", "path", "circle")
    }
    shown = " ".join(texts(root))
    assert "<script>alert(1)</script>" in shown and "]]> & <b>" in shown
    assert "bellend" in shown
    assert all(not k.startswith("on") for e in root.iter() for k in e.attrib)


def test_the_text_uses_the_pdf_fonts():
    from print_templates.fonts import FAMILY

    root, _ = draw(counts([("华东地区", 3)]))
    assert root.get("font-family").startswith(f'"{FAMILY}"')
    assert "华东地区" in texts(root, "category")


# ---- currencies ---------------------------------------------------------------------------------


def test_several_currencies_draw_the_company_currency_with_a_note():
    result = summary(
        [
            node(1, "A", {"count": 2, "sum_revenue": {"CNY": "100", "USD": "30"}}),
            node(2, "B", {"count": 1, "sum_revenue": {"USD": "50"}}),
            node(3, "C", {"count": 1, "sum_revenue": {"CNY": "300"}}),
        ],
        aggregate="sum_revenue",
    )
    root, drawing = draw(result)
    bars = of_class(root, "bar")
    assert [b.get("data-value") for b in bars] == ["100", "300"]  # B has no CNY amount
    assert close(float(bars[1].get("height")) / float(bars[0].get("height")), 3)
    assert drawing.notes == [
        "The chart shows the amounts in CNY only; the amounts in USD are in the table."
    ]
    # Only foreign amounts: the chart draws them (the page's chart does too), with no note.
    only_usd = summary(
        [node(1, "A", {"count": 1, "sum_revenue": {"USD": "5"}})], aggregate="sum_revenue"
    )
    root, drawing = draw(only_usd)
    assert [b.get("data-value") for b in of_class(root, "bar")] == ["5"]
    assert drawing.notes == [] and "Revenue (USD)" in texts(root, "chart-title")


def test_it_draws_what_the_page_chart_gets():
    result = matrix()
    page = present.chart(result)
    root, drawing = draw(result)
    assert drawing.title == page["title"]
    drawn = {
        (int(b.get("data-category")), int(b.get("data-series"))): float(b.get("data-value"))
        for b in of_class(root, "bar")
    }
    expected = {
        (i, s): p["value"]
        for s, series in enumerate(page["series"])
        for i, p in enumerate(series["data"])
        if p["value"] is not None
    }
    assert drawn == expected


# ---- in a PDF ----------------------------------------------------------------------------------

REGIONS = [
    {"code": "east", "label": "华东地区"},
    {"code": "south", "label": "华南地区"},
    {"code": "north", "label": "华北地区"},
]


@pytest.fixture
def company_report(app, make_company, api):
    """A company whose customers sit in regions with Chinese labels and a bar chart of their
    count and revenue (in CNY and USD) per region; the result as the owner sees it."""
    from saas.extensions import db
    from saas.reports import services
    from tenants import services as tenant_services
    from tenants.context import tenant_context

    company = make_company(locale="zh_CN")
    rest = api(company.token)
    base = f"/api/v1/t/{company.slug}"
    for payload in (
        {"key": "sales_area", "type": "picklist", "label": "区域", "values": REGIONS},
        {"key": "revenue", "type": "currency", "label": "收入"},
    ):
        response = rest.post(f"{base}/objects/account/fields", json=payload)
        assert response.status_code == 201, response.get_json()
    for name, region, amount, currency in (
        ("甲", "east", "1000", "CNY"),
        ("乙", "east", "500", "CNY"),
        ("丙", "south", "700", "CNY"),
        ("丁", "north", "90", "USD"),
        ("戊", "east", "100", "USD"),
    ):
        body = {
            "name": name,
            "sales_area": region,
            "revenue": {"amount": amount, "currency": currency},
        }
        response = rest.post(f"{base}/records/account", json=body)
        assert response.status_code == 201, response.get_json()
    spec = {
        "object": "account",
        "type": "summary",
        "groups": [{"field": "sales_area", "sort": "count", "dir": "desc"}],
        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "revenue"}],
        "chart": {"type": "bar", "aggregate": "count"},
    }
    response = rest.post(f"{base}/reports", json={"name": "区域分布", "spec": spec})
    assert response.status_code == 201, response.get_json()
    report_id = response.get_json()["id"]
    with app.app_context(), tenant_context(company.tenant_id, db.session, company.owner_id):
        member = tenant_services.membership(company.owner_id)
        result = services.result_json(member, services.get_report(member, report_id))
        db.session.commit()
    return SimpleNamespace(app=app, result=result, company=company, report_id=report_id)


def test_the_print_preview_prints_the_chart_drawn_for_paper(company_report, login):
    company = company_report.company
    client = login(company.owner_email)
    response = client.get(f"/t/{company.slug}/reports/{company_report.report_id}/print")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # On screen the page's interactive chart; on paper (report-print.css) the image.
    assert 'id="print-chart"' in html and "report-print.css" in html
    found = re.search(
        r'<div class="print-only">\s*<img class="report-chart-image" '
        r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"',
        html,
    )
    assert found, html
    root = ET.fromstring(base64.b64decode(found.group(1)).decode())  # noqa: S314 (our own output)
    assert root.get("viewBox") == "0 0 760 300"
    assert sorted(float(b.get("data-value")) for b in of_class(root, "bar")) == [1, 1, 3]
    assert "华东地区" in texts(root, "category")


def _pdf(app, sheets, widgets=None, locale="zh_CN") -> bytes:
    from saas.reports import pdf

    with app.app_context():
        return pdf.document("区域报表", sheets, locale, widgets=widgets)


def _fill_colours(data: bytes) -> list[tuple[float, float, float]]:
    """Every fill colour set in the pages' content and their form XObjects."""
    import io

    from pypdf import PdfReader

    streams: list[bytes] = []
    for page in PdfReader(io.BytesIO(data)).pages:
        streams.append(page.get_contents().get_data())
        forms = page["/Resources"].get_object().get("/XObject")
        for form in (forms.get_object() if forms is not None else {}).values():
            form = form.get_object()
            if form.get("/Subtype") == "/Form":
                streams.append(form.get_data())
    found = []
    for stream in streams:
        for r, g, b in re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) (?:rg|scn)\b", stream):
            found.append((float(r), float(g), float(b)))
    return found


def _has_colour(colours, hex_colour: str) -> bool:
    want = tuple(int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return any(all(abs(a - b) < 0.01 for a, b in zip(c, want, strict=True)) for c in colours)


def _text(data: bytes, tmp_path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_a_pdf_of_a_report_with_a_chart_draws_it(company_report, tmp_path):
    app, result = company_report.app, company_report.result
    labels = [r["label"] for r in result["rows"]]
    assert labels[0] == "华东地区" and sorted(labels) == sorted(r["label"] for r in REGIONS)
    data = _pdf(app, [("区域分布", result, None)])
    colours = _fill_colours(data)
    assert _has_colour(colours, BLUE)  # the bars, as vectors in the palette's first colour
    text = _text(data, tmp_path)
    # Each region's label twice: under its bar and in the table.
    assert all(text.count(label) >= 2 for label in ("华东地区", "华南地区", "华北地区"))

    # Without the chart (a tabular sheet of the same figures' company) there is no such colour.
    plain = _pdf(app, [("区域分布", {**result, "chart": None}, None)])
    assert not _has_colour(_fill_colours(plain), BLUE)

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: the rendered page is not checked")
    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf_path), str(tmp_path / "p")],
        check=True,
    )
    from PIL import Image

    (png,) = tmp_path.glob("p-*.png")
    image = Image.open(png).convert("RGB")
    width, height = image.size
    # The chart sits between the title and the table: its upper half has the bars' blue.
    band = image.crop((0, int(height * 0.15), width, int(height * 0.6)))
    blue = tuple(int(BLUE[i : i + 2], 16) for i in (1, 3, 5))
    raw = band.tobytes()
    bars = sum(
        1 for k in range(0, len(raw), 3) if all(abs(raw[k + c] - blue[c]) <= 24 for c in range(3))
    )
    assert bars > 0.01 * band.width * band.height


def test_a_pdf_notes_the_currencies_the_chart_leaves_out(company_report, tmp_path):
    app, result = company_report.app, company_report.result
    widgets = [{"kind": "report", "chart": "bar", "aggregate": "sum_revenue"}]
    text = _text(_pdf(app, [("收入", result, None)], widgets, locale="en"), tmp_path)
    note = "The chart shows the amounts in CNY only; the amounts in USD are in the table."
    assert note in " ".join(text.split()), text


def test_a_dashboard_pdf_draws_the_chart_each_widget_shows(company_report, tmp_path):
    app, result = company_report.app, company_report.result
    sheets = [("甲", result, None), ("乙", result, None), ("丙", result, None)]
    widgets = [
        {"kind": "kpi", "aggregate": "count"},
        {"kind": "report", "chart": "table"},
        {"kind": "report", "chart": "pie", "aggregate": "count"},
    ]
    data = _pdf(app, sheets, widgets)
    text = _text(data, tmp_path)
    # Only the pie is drawn: its legend gives each region's share (3 of 5 customers in 华东).
    assert text.count("(60.0%)") == 1 and text.count("(20.0%)") == 2
    assert _has_colour(_fill_colours(data), BLUE)
    none = _pdf(app, sheets[:2], widgets[:2])
    assert not _has_colour(_fill_colours(none), BLUE)
