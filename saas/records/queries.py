"""Listing records through the query builder: request forms in, a page of records out.

The API's ``POST …/query`` body, the URL form of ``GET …/records/<object>`` and the list pages
all become a :class:`QuerySpec` here; saved views store the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from custom_fields.query import engine
from custom_fields.query.engine import Page, QuerySpec
from custom_fields.query.filters import MAX_DEPTH, fail, parse_tree, parse_url
from custom_fields.query.operators import storable
from saas.records import services
from tenants.models import Membership

QUERY_KEYS = {"filter", "sort", "columns", "limit", "cursor", "q", "count"}


def _limit(raw: Any, maximum: int) -> int:
    if raw is None or raw == "":
        return 50
    try:
        value = int(raw) if not isinstance(raw, bool) else 0
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= maximum:
        raise fail(_("Ask for 1 to %(n)d records per page.", n=maximum), "limit")
    return value


def _columns(raw: Any) -> list[str] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw) or len(raw) > 200:
        raise fail(_("List the columns as field keys."), "columns")
    return raw


def _search(raw: Any) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str) or len(raw) > 100 or not storable(raw):
        raise fail(_("Search for at most 100 characters of text."), "q")
    return raw


def from_body(
    body: Mapping[str, Any], *, maximum: int = engine.MAX_API_PAGE
) -> tuple[QuerySpec, list[str] | None]:
    """The JSON form: ``{"filter", "sort", "columns", "limit", "cursor", "q", "count"}``."""
    unknown = set(body) - QUERY_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise fail(_("Unknown key “%(key)s”.", key=key[:40]), key[:40])
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise fail(_("This cursor is not valid; start from the first page."), "cursor")
    count = body.get("count", True)
    if not isinstance(count, bool):
        raise fail(_("Enter true or false."), "count")
    spec = QuerySpec(
        filter=parse_tree(body.get("filter")),
        sort=engine.parse_sort(body.get("sort")),
        limit=_limit(body.get("limit"), maximum),
        cursor=cursor,
        search=_search(body.get("q")),
        count=count,
    )
    return spec, _columns(body.get("columns"))


def from_args(
    args: MultiDict, *, maximum: int = engine.MAX_API_PAGE
) -> tuple[QuerySpec, list[str] | None]:
    """The URL form: ``f=field:op:value`` (repeated), ``logic``, or ``filter=<JSON>``; ``sort``,
    ``columns``, ``limit``, ``cursor``, ``q``."""
    raw_filter = args.get("filter")
    if raw_filter:
        try:
            loaded = json.loads(raw_filter)
        except json.JSONDecodeError as exc:
            raise fail(_("The filter is not valid JSON: %(error)s", error=exc.msg)) from exc
        except RecursionError as exc:  # "[[[[…": deeper than any filter may be
            raise fail(_("Filters may be nested at most %(n)d levels deep.", n=MAX_DEPTH)) from exc
        tree = parse_tree(loaded)
    elif args.getlist("f") or args.get("logic"):
        tree = parse_url(args.getlist("f"), args.get("logic"))
    else:
        tree = None
    spec = QuerySpec(
        filter=tree,
        sort=engine.parse_sort(args.get("sort")),
        limit=_limit(args.get("limit"), maximum),
        cursor=args.get("cursor") or None,
        search=_search(args.get("q")),
        count=args.get("count", "true").lower() != "false",
    )
    return spec, _columns(args.get("columns"))


def check_columns(st: services.Store, actor: Membership, columns: list[str] | None) -> None:
    """Refuse columns the object does not have or the user may not see."""
    if not columns:
        return
    resolver = engine.Resolver(st.schema, actor, st.model)
    for key in columns:
        if key == "version":  # always in a record's JSON, like the id
            continue
        if "." in key:
            raise fail(
                _("Columns are the object's own fields: “%(key)s”.", key=key[:130]), "columns"
            )
        try:
            resolver.resolve(key)
        except Exception as exc:  # DomainError from the resolver
            message = getattr(exc, "message", str(exc))
            raise fail(message, "columns") from exc


def run(
    actor: Membership, object_key: str, spec: QuerySpec, columns: list[str] | None
) -> tuple[services.Store, Page]:
    st = services.store(object_key, actor)
    check_columns(st, actor, columns)
    page = engine.run_query(st.schema, actor, spec, timezone=services.context().timezone)
    return st, page


def page_json(
    st: services.Store, page: Page, actor: Membership, columns: list[str] | None
) -> dict[str, Any]:
    one = services.serializer(st, actor, columns=columns)
    return {
        "data": [one(r) for r in page.rows],
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
        "count": page.count,
        "count_exact": page.count_exact,
    }
