"""What the pages and the API add to a report result: the list URL of every group's records
(drill-down) and the chart data the browser draws.

The engine gives each group, cell and the grand total the list filter selecting exactly its
records (``drill``). :func:`decorate` turns it into the URL of the object's list page
(``/t/<slug>/o/<object>/?view=all&filter=<JSON>``, the list's URL form), so a click on a bar,
a slice, a cell or a group row opens those records, with the viewer's own data scope.
:func:`chart` picks the figures to draw and carries the same URLs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from custom_fields.reports import spec as specs

PIE_LIKE = ("pie", "donut", "funnel")


def list_url(slug: str, object_key: str, drill: Any) -> str:
    """The list page of the records a drill filter selects (every record: ``view=all``)."""
    params: list[tuple[str, str]] = [("view", "all")]
    if drill is not None:
        params.append(("filter", json.dumps(drill, ensure_ascii=False, separators=(",", ":"))))
    return f"/t/{slug}/o/{object_key}/?{urlencode(params)}"


def _nodes(result: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for node in nodes:
            yield node
            yield from walk(node.get("children") or [])

    yield result["total"]
    yield from walk(result.get("rows") or [])
    if result.get("type") == "matrix":
        yield from walk(result.get("columns") or [])
        yield from result.get("cells") or []


def decorate(result: dict[str, Any], slug: str) -> dict[str, Any]:
    """Add ``drill_url`` next to every ``drill`` of a result (in place; returns it)."""
    object_key = result["object"]
    for node in _nodes(result):
        if "drill" in node:
            node["drill_url"] = list_url(slug, object_key, node["drill"])
    return result


def figure(value: Any, currency: str | None) -> float | None:
    """A figure as a chart draws it: amounts in ``currency`` (the company's, else the only
    one there is), shares and decimals as numbers."""
    if isinstance(value, Mapping):
        if not value:
            return None
        if currency in value:
            value = value[currency]
        elif currency is None and len(value) == 1:
            value = next(iter(value.values()))
        else:
            # A group without an amount in the chart's currency has no bar: another
            # currency's amount is not on the same scale.
            return None
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _aggregate(result: Mapping[str, Any], key: str | None) -> Mapping[str, Any] | None:
    aggregates = result.get("aggregates") or []
    if key:
        found = next((a for a in aggregates if a["key"] == key), None)
        if found is not None:
            return found
    return aggregates[0] if aggregates else None


def _currency_of(result: Mapping[str, Any], aggregate: Mapping[str, Any]) -> str | None:
    if not aggregate.get("currency"):
        return None
    company = result.get("currency")
    seen: set[str] = set()
    for node in _nodes(result):
        value = (node.get("values") or {}).get(aggregate["key"])
        if isinstance(value, Mapping):
            seen.update(value)
    if company in seen or not seen:
        return company
    return sorted(seen)[0]


def chart(
    result: Mapping[str, Any], chart_type: str | None = None, aggregate_key: str | None = None
) -> dict[str, Any] | None:
    """The data of a report's chart: ``chart_type`` (else the report's own), of ``aggregate_key``
    (else the chart's, else the first aggregate). ``None`` for a tabular report or no chart.

    Bars and lines: ``categories`` (the first row level, or its only level) and ``series``
    (one per second-level group or matrix column for a stacked bar, else one); pies, donuts and
    funnels: ``data``. Every point has its ``value``, ``label`` and drill-down ``url``."""
    if result.get("type") == "tabular":
        return None
    own = result.get("chart") or {}
    kind = chart_type or own.get("type")
    if kind not in specs.CHARTS:
        return None
    aggregate = _aggregate(result, aggregate_key or own.get("aggregate"))
    if aggregate is None:
        return None
    key = aggregate["key"]
    currency = _currency_of(result, aggregate)
    name = aggregate["label"] + (f" ({currency})" if currency else "")
    rows = result.get("rows") or []

    def point(node: Mapping[str, Any], label: str | None = None) -> dict[str, Any]:
        return {
            "value": figure((node.get("values") or {}).get(key), currency),
            "label": label if label is not None else node["label"],
            "url": node.get("drill_url"),
        }

    body: dict[str, Any] = {"type": kind, "title": name, "currency": currency}
    if kind in PIE_LIKE:
        body["data"] = [point(node) for node in rows]
        return body
    body["categories"] = [node["label"] for node in rows]
    series: list[dict[str, Any]] = []
    if result.get("type") == "matrix":
        cells = {
            (json.dumps(c["row"]), json.dumps(c["column"])): c for c in result.get("cells") or []
        }
        for column in result.get("columns") or []:
            column_key = json.dumps([{"others": True} if column.get("others") else column["key"]])
            data = []
            for node in rows:
                row_key = json.dumps([{"others": True} if node.get("others") else node["key"]])
                cell = cells.get((row_key, column_key))
                data.append(
                    point(cell, column["label"])
                    if cell is not None
                    else {"value": None, "label": column["label"], "url": None}
                )
            series.append({"name": column["label"], "data": data})
        body["stacked"] = kind == "stacked_bar"
    elif kind == "stacked_bar" and any(node.get("children") for node in rows):
        labels: list[str] = []
        for node in rows:
            for child in node.get("children") or []:
                if child["label"] not in labels:
                    labels.append(child["label"])
        for label in labels:
            data = []
            for node in rows:
                child = next((c for c in node.get("children") or [] if c["label"] == label), None)
                data.append(
                    point(child)
                    if child is not None
                    else {"value": None, "label": label, "url": None}
                )
            series.append({"name": label, "data": data})
        body["stacked"] = True
    else:
        series.append({"name": name, "data": [point(node) for node in rows]})
        body["stacked"] = False
    body["series"] = series
    return body


def kpi(result: Mapping[str, Any], aggregate_key: str | None = None) -> dict[str, Any] | None:
    """A KPI tile: one figure of the grand total, with the list of its records."""
    aggregate = _aggregate(result, aggregate_key)
    if aggregate is None:
        return None
    currency = _currency_of(result, aggregate)
    total = result["total"]
    return {
        "label": aggregate["label"],
        "fn": aggregate["fn"],
        "currency": currency,
        "value": figure((total.get("values") or {}).get(aggregate["key"]), currency),
        "url": total.get("drill_url"),
    }


# ---- the HTML table ----------------------------------------------------------------------------


def text(value: Any, column: Any, locale: str) -> str:
    """A figure as the page shows it, in the reader's language."""
    import datetime as dt

    from babel.dates import format_date
    from babel.numbers import format_currency, format_decimal, format_percent

    if value is None:
        return ""
    if isinstance(value, dt.date):
        return format_date(value, format="medium", locale=locale)
    if column.share:
        return format_percent(value, "#,##0.00%", locale=locale)
    if column.currency:
        return format_currency(value, column.currency, locale=locale)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return format_decimal(value, locale=locale, decimal_quantization=False)
    return str(value)


def table(result: Mapping[str, Any], locale: str, record_url: Any = None) -> dict[str, Any]:
    """What the page's table shows: labels, figures as text and drill-down URLs, by type."""
    from saas.reports import xlsx

    columns = xlsx.figure_columns(result)
    figures = [c.label for c in columns]

    def cells(node: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        url = node.get("drill_url") if node is not None else None
        return [
            {"text": text(c.value(node) if node is not None else None, c, locale), "url": url}
            for c in columns
        ]

    total = result["total"]
    body: dict[str, Any] = {
        "kind": result.get("type"),
        "figures": figures,
        "total": {"label": total["label"], "url": total.get("drill_url"), "cells": cells(total)},
    }
    if result.get("type") == "tabular":
        fields = result.get("columns") or []
        body["columns"] = [f["label"] for f in fields]
        body["records"] = [
            {
                "url": record_url(r["id"]) if record_url else None,
                "cells": [(r.get("labels") or {}).get(f["field"], "") for f in fields],
            }
            for r in result.get("records") or []
        ]
        return body
    body["levels"] = [g["label"] for g in result.get("groups") or []]

    def rows(nodes: list[Mapping[str, Any]], depth: int, path: tuple[Any, ...]):
        for node in nodes:
            here = (*path, xlsx._node_key(node))
            yield depth, node, here
            yield from rows(node.get("children") or [], depth + 1, here)

    if result.get("type") != "matrix":
        body["rows"] = [
            {
                "depth": depth,
                "label": node["label"],
                "url": node.get("drill_url"),
                "subtotal": bool(node.get("children")),
                "cells": cells(node),
            }
            for depth, node, _path in rows(result.get("rows") or [], 1, ())
        ]
        return body
    found = {
        (xlsx._path_key(c["row"]), xlsx._path_key(c["column"])): c
        for c in result.get("cells") or []
    }
    blocks = [(path, node) for _depth, node, path in rows(result.get("columns") or [], 1, ())]
    body["blocks"] = [
        {"label": node["label"], "url": node.get("drill_url"), "span": len(columns)}
        for _path, node in blocks
    ] + [{"label": total["label"], "url": total.get("drill_url"), "span": len(columns)}]

    def line(row_path: tuple[Any, ...] | None, row_node: Mapping[str, Any]) -> list[dict]:
        out: list[dict[str, Any]] = []
        for path, node in blocks:
            source = (
                node
                if row_path is None
                else found.get((xlsx._path_key(row_path), xlsx._path_key(path)))
            )
            out += cells(source)
        return out + cells(row_node)

    body["rows"] = [
        {
            "depth": depth,
            "label": node["label"],
            "url": node.get("drill_url"),
            "subtotal": bool(node.get("children")),
            "cells": line(path, node),
        }
        for depth, node, path in rows(result.get("rows") or [], 1, ())
    ]
    body["total"]["cells"] = line(None, total)
    return body
