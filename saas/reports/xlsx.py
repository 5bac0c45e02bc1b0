"""A report result (the engine's JSON form) as an Excel workbook.

Summary reports keep their groups: one label column per grouping level, each group on its own
row with its subtotals, sub-groups on rows below it at the next outline level (so Excel folds
them), and the grand total last. A matrix becomes a pivot table: row groups down (outlined the
same way), column groups across with their subtotals, a total column and row. A tabular report
lists its records and the totals below them. Figures are numbers with number formats: counts as
whole numbers, amounts with two decimals and their currency (one column per currency, as
amounts of different currencies are never added), shares of the total as percentages.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _

COUNTS = frozenset({"count", "count_distinct"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def number(value: Any) -> Any:
    """A figure of the JSON form as a cell value: whole numbers, exact decimals, dates."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, str):
        if _DATE.match(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return value
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


class Column:
    """One figure column: an aggregate (in one currency for amounts), or its share."""

    def __init__(self, aggregate: Mapping[str, Any], currency: str | None, share: bool):
        self.key = aggregate["key"]
        self.fn = aggregate["fn"]
        self.currency = currency
        self.share = share
        label = aggregate["label"]
        if currency:
            label = f"{label} ({currency})"
        if share:
            label = _("%(figure)s, share of total", figure=label)
        self.label = label

    def value(self, node: Mapping[str, Any]) -> Any:
        source = node.get("percents" if self.share else "values") or {}
        raw = source.get(self.key)
        if self.currency is not None:
            raw = (raw or {}).get(self.currency) if isinstance(raw, Mapping) else None
        value = number(raw)
        if self.share and isinstance(value, Decimal):
            return value / 100
        return value

    @property
    def format(self) -> str:
        if self.share:
            return "0.00%"
        if self.fn in COUNTS:
            return "#,##0"
        if self.currency:
            return f'#,##0.00 "{self.currency}"'
        if self.fn in ("sum", "avg", "weighted_sum"):
            return "#,##0.00"
        return "General"


def _currencies(result: Mapping[str, Any], key: str) -> list[str]:
    found: set[str] = set()

    def visit(node: Mapping[str, Any]) -> None:
        value = (node.get("values") or {}).get(key)
        if isinstance(value, Mapping):
            found.update(value)
        for child in node.get("children") or []:
            visit(child)

    visit(result["total"])
    for node in result.get("rows") or []:
        visit(node)
    for node in result.get("columns") or []:
        if isinstance(node, Mapping) and "values" in node:
            visit(node)
    for cell in result.get("cells") or []:
        visit(cell)
    company = result.get("currency")
    return sorted(found, key=lambda c: (c != company, c)) or ([company] if company else [])


def figure_columns(result: Mapping[str, Any]) -> list[Column]:
    """The figure columns of a result, in the order of its aggregates."""
    columns: list[Column] = []
    for aggregate in result.get("aggregates") or []:
        codes = _currencies(result, aggregate["key"]) if aggregate.get("currency") else [None]
        for code in codes:
            columns.append(Column(aggregate, code, False))
        if aggregate.get("percent_of_total"):
            for code in codes:
                columns.append(Column(aggregate, code, True))
    return columns


def _walk(nodes: Iterable[Mapping[str, Any]], depth: int = 1):
    for node in nodes:
        yield depth, node
        yield from _walk(node.get("children") or [], depth + 1)


def _path_key(keys: Iterable[Any]) -> str:
    return json.dumps(list(keys), sort_keys=True, ensure_ascii=False)


def _node_key(node: Mapping[str, Any]) -> Any:
    return {"others": True} if node.get("others") else node.get("key")


class _Sheet:
    """A worksheet with a row cursor and the styles used."""

    def __init__(self, ws: Any):
        from openpyxl.styles import Alignment, Font

        self.ws = ws
        self.row = 1
        self.bold = Font(bold=True)
        self.title_font = Font(bold=True, size=13)
        self.wrap = Alignment(wrap_text=True, vertical="top")

    def put(self, column: int, value: Any, fmt: str | None = None, bold: bool = False) -> Any:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell = self.ws.cell(row=self.row, column=column, value=value)
        if fmt and fmt != "General":
            cell.number_format = fmt
        if bold:
            cell.font = self.bold
        return cell

    def next(self, outline: int = 0) -> None:
        if outline:
            self.ws.row_dimensions[self.row].outlineLevel = min(outline, 7)
        self.row += 1


def _title(sheet: _Sheet, title: str, result: Mapping[str, Any]) -> None:
    cell = sheet.put(1, title)
    cell.font = sheet.title_font
    sheet.next()
    note = _("Time zone: %(zone)s", zone=result.get("timezone") or "")
    sheet.put(1, note)
    sheet.next()
    sheet.next()


def _summary(sheet: _Sheet, result: Mapping[str, Any]) -> None:
    levels = result.get("groups") or []
    columns = figure_columns(result)
    width = max(len(levels), 1)
    for i, level in enumerate(levels):
        sheet.put(i + 1, level["label"], bold=True)
    for j, column in enumerate(columns):
        sheet.put(width + j + 1, column.label, bold=True)
    sheet.next()
    header_row = sheet.row - 1
    for depth, node in _walk(result.get("rows") or []):
        parent = bool(node.get("children"))
        sheet.put(depth, node["label"], bold=parent)
        for j, column in enumerate(columns):
            sheet.put(width + j + 1, column.value(node), column.format, bold=parent)
        sheet.next(outline=depth - 1)
    total = result["total"]
    sheet.put(1, total["label"], bold=True)
    for j, column in enumerate(columns):
        sheet.put(width + j + 1, column.value(total), column.format, bold=True)
    sheet.next()
    _widths(sheet, width, len(columns))
    sheet.ws.freeze_panes = sheet.ws.cell(row=header_row + 1, column=width + 1)


def _matrix(sheet: _Sheet, result: Mapping[str, Any]) -> None:
    levels = result.get("groups") or []
    width = max(len(levels), 1)
    measures = figure_columns(result)
    cells = {(_path_key(c["row"]), _path_key(c["column"])): c for c in result.get("cells") or []}
    # Column blocks: every column group (subtotals included), then the row totals.
    blocks: list[tuple[tuple[Any, ...] | None, str]] = []

    def visit(nodes: list[Mapping[str, Any]], path: tuple[Any, ...], labels: tuple[str, ...]):
        for node in nodes:
            here = (*path, _node_key(node))
            names = (*labels, node["label"])
            blocks.append((here, " › ".join(names)))
            visit(node.get("children") or [], here, names)

    visit(result.get("columns") or [], (), ())
    blocks.append((None, result["total"]["label"]))
    header_row = sheet.row
    for i, level in enumerate(levels):
        sheet.put(i + 1, level["label"], bold=True)
    col = width + 1
    for _path, label in blocks:
        for _measure in measures:
            sheet.put(col, label, bold=True)
            col += 1
    sheet.next()
    col = width + 1
    for _path, _label in blocks:
        for measure in measures:
            sheet.put(col, measure.label, bold=True)
            col += 1
    sheet.next()

    def figures(row_path: tuple[Any, ...] | None, row_node: Mapping[str, Any]) -> None:
        col = width + 1
        for column_path, _label in blocks:
            if column_path is None:
                source: Mapping[str, Any] | None = row_node
            elif row_path is None:
                source = _column_node(result, column_path)
            else:
                source = cells.get((_path_key(row_path), _path_key(column_path)))
            for measure in measures:
                value = measure.value(source) if source is not None else None
                sheet.put(col, value, measure.format, bold=row_path is None)
                col += 1

    def rows(nodes: list[Mapping[str, Any]], path: tuple[Any, ...], depth: int) -> None:
        for node in nodes:
            here = (*path, _node_key(node))
            sheet.put(depth, node["label"], bold=bool(node.get("children")))
            figures(here, node)
            sheet.next(outline=depth - 1)
            rows(node.get("children") or [], here, depth + 1)

    rows(result.get("rows") or [], (), 1)
    sheet.put(1, result["total"]["label"], bold=True)
    figures(None, result["total"])
    sheet.next()
    _widths(sheet, width, col - width - 1 if blocks else 0)
    sheet.ws.freeze_panes = sheet.ws.cell(row=header_row + 2, column=width + 1)


def _column_node(result: Mapping[str, Any], path: tuple[Any, ...]) -> Mapping[str, Any] | None:
    nodes = result.get("columns") or []
    found = None
    for key in path:
        found = next((n for n in nodes if _node_key(n) == key), None)
        if found is None:
            return None
        nodes = found.get("children") or []
    return found


def _tabular(sheet: _Sheet, result: Mapping[str, Any]) -> None:
    fields = result.get("columns") or []
    for i, column in enumerate(fields):
        sheet.put(i + 1, column["label"], bold=True)
    sheet.next()
    header_row = sheet.row - 1
    for record in result.get("records") or []:
        values, labels = record.get("values") or {}, record.get("labels") or {}
        for i, column in enumerate(fields):
            key, kind = column["field"], column.get("kind")
            raw = values.get(key)
            fmt = None
            if isinstance(raw, Mapping) and "amount" in raw:
                value = number(raw["amount"])
                fmt = f'#,##0.00 "{raw.get("currency") or ""}"'
            elif kind == "number" and raw is not None:
                value = number(raw)
            elif kind == "date" and isinstance(raw, str):
                value, fmt = number(raw), "yyyy-mm-dd"
            else:
                value = labels.get(key, "" if raw is None else str(raw))
            sheet.put(i + 1, value, fmt)
        sheet.next()
    sheet.next()
    total = result["total"]
    columns = figure_columns(result)
    sheet.put(1, total["label"], bold=True)
    sheet.next()
    for column in columns:
        sheet.put(1, column.label)
        sheet.put(2, column.value(total), column.format, bold=True)
        sheet.next()
    _widths(sheet, len(fields), 0)
    sheet.ws.freeze_panes = sheet.ws.cell(row=header_row + 1, column=1)


def _widths(sheet: _Sheet, labels: int, figures: int) -> None:
    from openpyxl.utils import get_column_letter

    for i in range(1, labels + 1):
        sheet.ws.column_dimensions[get_column_letter(i)].width = 24
    for i in range(labels + 1, labels + figures + 1):
        sheet.ws.column_dimensions[get_column_letter(i)].width = 18


def sheet_title(title: str, taken: set[str]) -> str:
    """A worksheet name Excel accepts (31 characters, none of ``[]:*?/\\``), unique."""
    base = _SHEET_CHARS.sub(" ", title).strip()[:31] or "Report"
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(name.lower())
    return name


def write(ws: Any, title: str, result: Mapping[str, Any]) -> None:
    """Fill a worksheet with a result."""
    sheet = _Sheet(ws)
    ws.sheet_properties.outlinePr.summaryBelow = False
    with force_locale(result.get("locale") or "en"):
        _title(sheet, title, result)
        kind = result.get("type")
        if kind == "matrix":
            _matrix(sheet, result)
        elif kind == "tabular":
            _tabular(sheet, result)
        else:
            _summary(sheet, result)


def workbook(
    sheets: list[tuple[str, Mapping[str, Any] | None]], errors: Mapping[int, str] | None = None
) -> bytes:
    """A workbook with a sheet per result (a dashboard: one per widget); a widget that could not
    run gets a sheet with its message."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    taken: set[str] = set()
    for index, (title, result) in enumerate(sheets):
        ws = book.create_sheet(sheet_title(title, taken))
        if result is None:
            ws.cell(row=1, column=1, value=title)
            ws.cell(row=2, column=1, value=(errors or {}).get(index, ""))
            continue
        write(ws, title, result)
    if not sheets:
        book.create_sheet("Report")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
