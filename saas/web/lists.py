"""The list page of an object's records (``/t/<slug>/o/<object_key>/``).

Its URL describes it completely, so it can be shared: ``view=<id|all|mine|my_team|recent>``
plus overrides of the view (``f`` + ``logic`` or ``filter``, ``sort``, ``q``, ``columns``,
``limit``, ``cursor``, ``layout``, ``group_by``); see :func:`saas.records.views.list_state`.
This module turns that state into what the template shows: columns with their sort levels,
cells, filter chips, paging, the kanban board, and the links to export, print and bulk actions
(endpoints of their own, built by path so the page renders without them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import g, render_template, request, url_for
from flask_babel import format_datetime, format_number, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import MultiDict

from custom_fields import layouts
from custom_fields.query import engine
from custom_fields.query.filters import Condition, Group
from saas.errors import DomainError, ValidationFailed
from saas.records import services
from saas.records import views as view_service
from tenants import permissions
from tenants import services as tenant_services
from tenants.models import Team

#: Field columns a list shows, after name and owner, when its view names none.
DEFAULT_FIELDS = 3
PAGE_SIZES = (10, 20, 50, 100, 200)
#: Cards per kanban column at most (the column's count says how many match).
KANBAN_CARDS = 50
#: Values shown on a card besides its name.
CARD_FIELDS = 3
STATE_KEYS = ("view", "f", "logic", "filter", "sort", "q", "columns", "limit", "cursor", "layout",
              "group_by")  # fmt: skip


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


# ---- URLs --------------------------------------------------------------------------------------


def _params(args: MultiDict, drop: Iterable[str] = (), add: Iterable[tuple[str, str]] = ()):
    dropped = set(drop) | {"cursor"}
    kept = [(k, v) for k, v in args.items(multi=True) if k in STATE_KEYS and k not in dropped]
    return kept + list(add)


def list_url(object_key: str, params: Iterable[tuple[str, str]]) -> str:
    base = url_for("records.index", object_key=object_key)
    query = urlencode(list(params))
    return f"{base}?{query}" if query else base


def sibling_url(object_key: str, name: str, params: Iterable[tuple[str, str]]) -> str:
    """The URL of a list action (``export``, ``print_list``, ``bulk``) by its endpoint when it
    exists, else by its path next to the list (``/t/<slug>/o/<object_key>/<path>``)."""
    from werkzeug.routing import BuildError

    base = None
    for endpoint in (f"list_actions.{name}", f"records.{name}"):
        try:
            base = url_for(endpoint, object_key=object_key)
            break
        except BuildError:
            continue
    if base is None:
        path = {"print_list": "print"}.get(name, name)
        base = url_for("records.index", object_key=object_key) + path
    query = urlencode(list(params))
    return f"{base}?{query}" if query else base


def sort_param(keys: Iterable[engine.SortKey]) -> str:
    """The URL form: ``-revenue,name`` (``:nulls_first`` / ``:nulls_last`` when chosen)."""
    nulls = {None: "", True: ":nulls_first", False: ":nulls_last"}
    return ",".join(("-" if k.desc else "") + k.field + nulls[k.nulls_first] for k in keys)


# ---- columns and cells -----------------------------------------------------------------------


@dataclass
class ColumnView:
    """A column of the table: its label, width, and place in the sort."""

    key: str
    label: str
    width: int | None
    sortable: bool
    kind: str
    sort_level: int | None = None
    sort_desc: bool = False
    sort_url: str = ""
    shift_sort_url: str = ""


def default_columns(object_key: str) -> list[dict[str, Any]]:
    """Name, owner, the first fields of the page layout, last change."""
    fields = [
        info.key
        for info in layouts.ordered_fields(object_key, g.membership.role_key)
        if info.type != "long_text"
    ][:DEFAULT_FIELDS]
    return [{"key": k, "width": None} for k in ("name", "owner_id", *fields, "updated_at")]


def _sort_urls(
    object_key: str, args: MultiDict, sort: list[engine.SortKey], key: str
) -> tuple[str, str]:
    """Click: sort by this column alone (again: the other way). Shift-click: add it as the next
    level, or turn its direction where it already is."""
    if sort and sort[0].field == key:
        single = [engine.SortKey(key, not sort[0].desc)]
    else:
        single = [engine.SortKey(key)]
    multi = list(sort)
    position = next((i for i, k in enumerate(multi) if k.field == key), None)
    if position is not None:
        multi[position] = engine.SortKey(key, not multi[position].desc, multi[position].nulls_first)
    elif len(multi) < engine.MAX_SORT:
        multi.append(engine.SortKey(key))
    else:
        multi = []
    plain = list_url(object_key, _params(args, ["sort"], [("sort", sort_param(single))]))
    shift = (
        list_url(object_key, _params(args, ["sort"], [("sort", sort_param(multi))]))
        if multi
        else ""
    )
    return plain, shift


def build_columns(
    object_key: str, state: view_service.ListState, fields: dict[str, dict[str, Any]]
) -> list[ColumnView]:
    chosen = state.columns or default_columns(object_key)
    levels = {k.field: (i + 1, k.desc) for i, k in enumerate(state.sort)}
    columns = []
    for item in chosen:
        meta = fields.get(item["key"])
        if meta is None:
            continue
        level, desc = levels.get(item["key"], (None, False))
        column = ColumnView(
            key=item["key"],
            label=meta["label"],
            width=item.get("width"),
            sortable=meta["sortable"],
            kind=meta["kind"],
            sort_level=level,
            sort_desc=desc,
        )
        if column.sortable:
            column.sort_url, column.shift_sort_url = _sort_urls(
                object_key, request.args, state.sort, column.key
            )
        columns.append(column)
    return columns


def cells_of(
    st: services.Store, record: Any, keys: Iterable[str], owners: dict[int, str]
) -> dict[str, str]:
    """The text of each column of a record in the person's language."""
    wanted = set(keys)
    cells: dict[str, str] = {}
    if wanted - set(engine.SYSTEM_FIELDS):
        for info, text in services.display_values(st, record, g.membership):
            if info.key in wanted:
                cells[info.key] = text
    for key in wanted & set(engine.SYSTEM_FIELDS):
        value = getattr(record, key, None)
        if key in ("owner_id", "created_by", "updated_by"):
            cells[key] = owners.get(value, "") if value else ""
        elif key in ("created_at", "updated_at"):
            cells[key] = format_datetime(value, "short") if hasattr(value, "year") else ""
        elif key == "tags":
            cells[key] = ", ".join(value or [])
        elif key == "id":
            cells[key] = str(value)
        else:
            cells[key] = value or ""
    return cells


# ---- filter chips ------------------------------------------------------------------------------


@dataclass
class Chip:
    number: int
    text: str
    remove_url: str


def _value_text(meta: dict[str, Any] | None, value: Any, members: dict[int, str]) -> str:
    if value is None:
        return ""
    values = value if isinstance(value, list | tuple) else [value]
    choices = {c["code"]: c["label"] for c in (meta or {}).get("choices", [])}
    kind = (meta or {}).get("kind")
    shown = []
    for item in values:
        if kind in ("choice", "choices"):
            shown.append(choices.get(str(item), str(item)))
        elif kind == "user":
            try:
                shown.append(members.get(int(item), f"#{item}"))
            except (TypeError, ValueError):
                shown.append(str(item))
        elif kind == "boolean":
            shown.append(_("Yes") if str(item).lower() in ("true", "1") else _("No"))
        else:
            shown.append(str(item))
    joiner = " – " if (meta or {}).get("arity") == "two" else ", "
    return joiner.join(shown)


def chips(
    object_key: str,
    state: view_service.ListState,
    fields: dict[str, dict[str, Any]],
    members: dict[int, str],
) -> tuple[list[Chip], str | None, str]:
    """A chip per condition (with a link that removes it), the logic, and "clear all"."""
    conditions, logic = view_service.numbered(state.tree)
    view_has_filter = state.view.filter is not None

    def url_for_tree(tree: Any) -> str:
        if tree is not None:
            add = view_service.url_filter(tree)
        else:
            add = [("filter", "")] if view_has_filter else []
        return list_url(object_key, _params(request.args, ["f", "logic", "filter"], add))

    result = []
    for i, cond in enumerate(conditions):
        meta = fields.get(cond.field)
        operator = next((o for o in (meta or {}).get("operators", []) if o["op"] == cond.op), None)
        label = meta["label"] if meta else cond.field
        op_label = operator["label"] if operator else cond.op
        value = _value_text(
            {**(meta or {}), "arity": operator["arity"] if operator else None},
            cond.value,
            members,
        )
        text = f"{label} {op_label}" + (f" {value}" if value else "")
        result.append(Chip(i + 1, text, url_for_tree(view_service.without(state.tree, i))))
    return result, logic, url_for_tree(None)


# ---- kanban -----------------------------------------------------------------------------------


@dataclass
class KanbanColumn:
    code: str | None
    label: str
    colour: str | None
    count: int
    count_exact: bool
    cards: list[dict[str, Any]] = field(default_factory=list)
    list_url: str = ""


def kanban(
    st: services.Store,
    state: view_service.ListState,
    columns: list[ColumnView],
    owners: dict[int, str],
) -> list[KanbanColumn]:
    """One column per value of the picklist (retired values only while records hold them) and
    one for records without a value; each runs its own query, so counts are right."""
    info = st.schema.field(state.group_by or "")
    assert info is not None
    locale = _locale()
    shown = [c.key for c in columns if c.key not in ("name", "owner_id", state.group_by)][
        :CARD_FIELDS
    ]
    timezone = services.context().timezone
    board = []
    values = [(c.code, c.label(locale), c.colour, c.active) for c in info.spec.choices]
    values.append((None, _("No value"), None, False))
    for code, label, colour, active in values:
        condition = (
            Condition(info.key, "eq", code, "kanban")
            if code is not None
            else Condition(info.key, "is_empty", None, "kanban")
        )
        tree = condition if state.tree is None else Group("and", (state.tree, condition))
        spec = state.spec(filter=tree, cursor=None, limit=min(state.page_size, KANBAN_CARDS))
        page = engine.run_query(st.schema, g.membership, spec, timezone=timezone)
        if not active and code is not None and not page.count:
            continue
        column = KanbanColumn(code, label, colour, page.count or 0, page.count_exact)
        for record in page.rows:
            cells = cells_of(st, record, shown, owners)
            column.cards.append(
                {
                    "record": record,
                    "owner": owners.get(record.owner_id or 0, ""),
                    "cells": [(c, cells.get(c.key, "")) for c in columns if c.key in shown],
                }
            )
        add = view_service.url_filter(tree)
        column.list_url = list_url(
            st.schema.key,
            _params(request.args, ["f", "logic", "filter", "layout"], [*add, ("layout", "list")]),
        )
        board.append(column)
    return board


# ---- the page ----------------------------------------------------------------------------------


def count_text(count: int | None, exact: bool) -> str:
    if count is None:
        return ""
    if not exact:
        return _("%(shown)s+ records", shown=format_number(count))
    from flask_babel import ngettext

    return ngettext("%(shown)s record", "%(shown)s records", count, shown=format_number(count))


def share_choices() -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    """The roles and teams a share form offers (the list and report pages)."""
    from sqlalchemy import select

    from saas.extensions import db
    from tenants.models import role_label

    locale = _locale()
    roles = [
        (r.key, role_label(r.key) if r.builtin else (r.name_zh if locale == "zh_CN" else r.name_en))
        for r in tenant_services.roles()
    ]
    teams = [(t.id, t.name) for t in db.session.execute(select(Team).order_by(Team.name)).scalars()]
    return roles, teams


def _fallback_state(actor: Any, object_key: str, args: MultiDict) -> view_service.ListState:
    """The view itself when its URL overrides do not fit (else all records), so the person can
    start again from there."""
    try:
        return view_service.list_state(actor, object_key, MultiDict({"view": args.get("view", "")}))
    except ValidationFailed:
        return view_service.list_state(actor, object_key, MultiDict({"view": "all"}))


def render(object_key: str, state_args: MultiDict | None = None):
    """The list page: the view and its overrides from the URL, then a table or a board."""
    args = request.args if state_args is None else state_args
    actor = g.membership
    st = services.store(object_key)
    locale = _locale()
    field_list = view_service.query_fields(actor, object_key, locale)
    fields = {f["key"]: f for f in field_list}
    people = tenant_services.members()
    members = {m.user_id: m.user.display_name for m in people}
    errors: list[str] = []
    status = 200
    try:
        state = view_service.list_state(actor, object_key, args)
    except view_service.ViewNotFound:
        raise
    except ValidationFailed as exc:
        errors = [m for ms in exc.errors.values() for m in ms]
        status = 400
        state = _fallback_state(actor, object_key, args)
    columns = build_columns(object_key, state, fields)
    rows: list[Any] = []
    page = None
    board: list[KanbanColumn] = []
    count, exact = None, True
    if not errors:
        try:
            if state.layout == "kanban":
                board = kanban(st, state, columns, members)
                count = sum(c.count for c in board)
                exact = all(c.count_exact for c in board)
            else:
                page = engine.run_query(
                    st.schema, actor, state.spec(), timezone=services.context().timezone
                )
                rows = page.rows
                if state.recent is not None and not state.sort:
                    order = {rid: i for i, rid in enumerate(state.recent)}
                    rows = sorted(rows, key=lambda r: order.get(r.id, len(order)))
                count, exact = page.count, page.count_exact
        except DomainError as exc:
            errors = [m for ms in getattr(exc, "errors", {"": [exc.message]}).values() for m in ms]
            status = exc.status if exc.status < 500 else 400
            rows, board, page = [], [], None
    keys = [c.key for c in columns]
    cells = {r.id: cells_of(st, r, keys, members) for r in rows}
    chip_list, logic, clear_url = chips(object_key, state, fields, members)
    default_key = view_service.default_view(actor, object_key)
    effective = state.effective_filter()
    query_params = []
    if effective is not None:
        query_params.append(("filter", json.dumps(effective, ensure_ascii=False)))
    if state.sort:
        query_params.append(("sort", sort_param(state.sort)))
    if state.search:
        query_params.append(("q", state.search))
    query_params.append(("columns", ",".join(keys)))
    roles, teams = share_choices()
    picklists = [f for f in field_list if f["kind"] == "choice" and not f["system"]]
    view_key = state.view.key
    context = {
        "schema": st.schema,
        "state": state,
        "view": state.view,
        "views": view_service.list_views(actor, object_key),
        "default_key": default_key,
        "is_default": view_key == default_key,
        "columns": columns,
        "rows": rows,
        "cells": cells,
        "board": board,
        "count_text": count_text(count, exact),
        "count": count,
        "count_exact": exact,
        "errors": errors,
        "chips": chip_list,
        "logic": logic,
        "clear_url": clear_url,
        "has_filter": state.tree is not None or bool(state.search),
        "next_url": list_url(object_key, _params(args, [], [("cursor", page.next_cursor)]))
        if page is not None and page.next_cursor
        else None,
        "prev_url": list_url(object_key, _params(args, [], [("cursor", page.prev_cursor)]))
        if page is not None and page.prev_cursor
        else None,
        "first_url": list_url(object_key, _params(args)) if state.cursor else None,
        "view_url": lambda key: list_url(object_key, [("view", key)]),
        "reset_url": list_url(object_key, [("view", view_key)]),
        "search_clear_url": list_url(object_key, _params(args, ["q"])),
        "hidden_except": lambda *names: _params(args, names),
        "layout_url": lambda layout, group_by=None: list_url(
            object_key,
            _params(
                args,
                ["layout", "group_by"],
                [("layout", layout)] + ([("group_by", group_by)] if group_by else []),
            ),
        ),
        "export_url": lambda fmt: sibling_url(
            object_key, "export", [("format", fmt), *query_params]
        ),
        "print_url": sibling_url(object_key, "print_list", query_params),
        "bulk_url": sibling_url(object_key, "bulk", []),
        "query_params": query_params,
        "state_query": urlencode(_params(args)),
        "list_url": list_url(object_key, _params(args)),
        "page_sizes": PAGE_SIZES,
        "picklists": picklists,
        "roles": roles,
        "teams": teams,
        "can_share": view_service.is_manager(actor),
        "can_write": permissions.allowed(actor, object_key, "edit"),
        "owners": members,
        "active_members": [(m.user_id, m.user.display_name) for m in people if m.is_active],
        "overridden": bool(state.overrides),
        "meta": {
            "fields": field_list,
            "members": [{"id": uid, "name": name} for uid, name in members.items()],
            "filter": view_service.tree_json(state.tree),
            "sort": view_service.sort_json(state.sort),
            "columns": [{"key": c.key, "width": c.width} for c in columns],
            "maxSort": engine.MAX_SORT,
            "index": url_for("records.index", object_key=object_key),
            "csrf": generate_csrf(),
            "groupBy": state.group_by,
            "viewHasFilter": state.view.filter is not None,
        },
    }
    return render_template("records/list.html", **context), status


# ---- saving views from the page ---------------------------------------------------------------


def state_args(raw: str) -> MultiDict:
    """The list URL's query string a save form carries, as arguments."""
    return MultiDict(
        [(k, v) for k, v in parse_qsl(raw or "", keep_blank_values=True) if k in STATE_KEYS]
    )


def share_payload(form: MultiDict) -> dict[str, Any]:
    visibility = form.get("visibility", "private")
    shared: list[Any] = []
    if visibility == "roles":
        shared = form.getlist("shared_roles")
    elif visibility == "teams":
        shared = form.getlist("shared_teams")
    return {"visibility": visibility, "shared_with": shared}
