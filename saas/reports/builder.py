"""The report builder's form: the state of a definition as URL parameters, and back.

The builder page is a plain GET form (every control a select or an input, so it works from the
keyboard and without script), its URL the whole draft: ``object``, ``type``, row groups
``g0``…``g2`` (with ``g0_gran``, ``g0_sort``, ``g0_dir``, ``g0_top``), column groups ``c0``,
``c1`` (with ``c0_gran``), aggregates ``a0_fn``…``a4_fn`` (with ``a0_field``, ``a0_weight``,
``a0_pct``), columns ``cols`` (tabular), the chart ``chart`` and ``chart_agg``, and the filter
in the list page's URL form (``f`` + ``logic``, or ``filter`` as JSON): the list page's filter
builder (``list.js``) edits it here as it does on a list.

:func:`spec_from_args` makes the definition; every definition error the engine names
(``groups[1].granularity``) maps back to the control that holds it (:func:`field_for`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from custom_fields.query.filters import parse_tree, parse_url
from custom_fields.reports import spec as specs
from saas.errors import DomainError, ValidationFailed
from saas.records import views

ROW_GROUPS = 3
COLUMN_GROUPS = 2
AGGREGATES = 5
FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max", "weighted_sum")
#: Parameters that make up the state (the save form carries them as its ``state``).
STATE_PREFIXES = ("g", "c", "a")
STATE_KEYS = {"object", "type", "cols", "chart", "chart_agg", "f", "logic", "filter", "limit"}


def is_state_key(key: str) -> bool:
    if key in STATE_KEYS:
        return True
    head = key.split("_", 1)[0]
    return len(head) == 2 and head[0] in STATE_PREFIXES and head[1].isdigit()


def state_args(args: Mapping[str, Any] | MultiDict) -> MultiDict:
    """Only the builder's parameters of a query (a save form's ``state`` included)."""
    items = args.items(multi=True) if isinstance(args, MultiDict) else args.items()
    return MultiDict([(k, v) for k, v in items if is_state_key(k)])


class Draft:
    """A definition made from the form, with where each part came from."""

    def __init__(self) -> None:
        self.spec: dict[str, Any] = {}
        #: spec path prefix → form control (``groups[1]`` → ``g2``)
        self.places: dict[str, str] = {}
        self.errors: dict[str, list[str]] = {}

    def field_for(self, key: str) -> str:
        """The form control an error key of the definition belongs to."""
        if key.startswith("filter") or key == "logic":
            return "filter"
        for prefix, control in sorted(self.places.items(), key=lambda p: -len(p[0])):
            if key == prefix or key.startswith(prefix + ".") or key.startswith(prefix + "["):
                rest = key[len(prefix) :].lstrip(".")
                suffix = {
                    "field": "",
                    "granularity": "_gran",
                    "sort": "_sort",
                    "top": "_top",
                    "fn": "_fn",
                    "weight": "_weight",
                    "percent_of_total": "_pct",
                    "key": "_fn",
                }.get(rest, "")
                if control.startswith("a") and suffix == "":
                    suffix = "_field"
                return control + suffix
        return {"chart.aggregate": "chart_agg", "chart.type": "chart"}.get(key, key.split(".")[0])

    def add_errors(self, errors: Mapping[str, list[str]]) -> None:
        for key, messages in errors.items():
            self.errors.setdefault(self.field_for(key), []).extend(messages)


def _filter(args: MultiDict, draft: Draft) -> Any:
    try:
        if "filter" in args:
            raw = (args.get("filter") or "").strip()
            if not raw:
                return None
            return views.tree_json(parse_tree(json.loads(raw)))
        if "f" in args:
            return views.tree_json(parse_url(args.getlist("f"), args.get("logic")))
    except json.JSONDecodeError as exc:
        draft.errors["filter"] = [str(exc.msg)]
    except DomainError as exc:
        for messages in getattr(exc, "errors", {"filter": [exc.message]}).values():
            draft.errors.setdefault("filter", []).extend(messages)
    return None


def _int(raw: Any) -> int | None:
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


def _grouping(args: MultiDict, name: str) -> dict[str, Any] | None:
    field = (args.get(name) or "").strip()
    if not field:
        return None
    group: dict[str, Any] = {"field": field}
    granularity = args.get(f"{name}_gran") or ""
    if granularity:
        group["granularity"] = granularity
    sort = args.get(f"{name}_sort") or ""
    if sort and sort != "key":
        group["sort"] = sort
    if args.get(f"{name}_dir") == "desc":
        group["dir"] = "desc"
    top = _int(args.get(f"{name}_top"))
    if top:
        group["top"] = top
        group["others"] = args.get(f"{name}_others", "1") not in ("0", "")
    return group


def _groupings(
    args: MultiDict, draft: Draft, key: str, prefix: str, rows: int
) -> list[dict[str, Any]]:
    """The filled rows ``<prefix>0`` … of the form as the definition's ``key`` list; the draft
    remembers which row each became (errors name the row)."""
    found: list[dict[str, Any]] = []
    for i in range(rows):
        group = _grouping(args, f"{prefix}{i}")
        if group is not None:
            draft.places[f"{key}[{len(found)}]"] = f"{prefix}{i}"
            found.append(group)
    return found


def spec_from_args(args: MultiDict) -> Draft:
    """The definition the form describes (empty rows left out)."""
    draft = Draft()
    kind = args.get("type") or "summary"
    spec: dict[str, Any] = {"version": 1, "object": args.get("object") or "", "type": kind}
    tree = _filter(args, draft)
    if tree is not None:
        spec["filter"] = tree
    if kind == "tabular":
        spec["columns"] = [c for c in args.getlist("cols") if c] or ["name"]
        draft.places["columns"] = "cols"
        limit = _int(args.get("limit"))
        if limit:
            spec["limit"] = limit
    else:
        spec["groups"] = _groupings(args, draft, "groups", "g", ROW_GROUPS)
        if kind == "matrix":
            spec["column_groups"] = _groupings(args, draft, "column_groups", "c", COLUMN_GROUPS)
    aggregates = []
    for i in range(AGGREGATES):
        fn = (args.get(f"a{i}_fn") or "").strip()
        if not fn:
            continue
        aggregate: dict[str, Any] = {"fn": fn}
        field = (args.get(f"a{i}_field") or "").strip()
        if field and fn != "count":
            aggregate["field"] = field
        weight = (args.get(f"a{i}_weight") or "").strip()
        if weight and fn == "weighted_sum":
            aggregate["weight"] = weight
        if args.get(f"a{i}_pct"):
            aggregate["percent_of_total"] = True
        draft.places[f"aggregates[{len(aggregates)}]"] = f"a{i}"
        aggregates.append(aggregate)
    if aggregates:
        spec["aggregates"] = aggregates
    chart = args.get("chart") or ""
    if chart and kind != "tabular":
        body: dict[str, Any] = {"type": chart}
        chart_agg = args.get("chart_agg") or ""
        if chart_agg:
            body["aggregate"] = chart_agg
        spec["chart"] = body
    draft.spec = spec
    return draft


def args_from_spec(spec: Mapping[str, Any]) -> MultiDict:
    """The form state of a stored definition (what :func:`spec_from_args` reads back)."""
    out: list[tuple[str, str]] = [
        ("object", spec.get("object") or ""),
        ("type", spec.get("type") or "summary"),
    ]
    if spec.get("filter") is not None:
        try:
            tree = views.tree_json(parse_tree(spec["filter"]))
        except (DomainError, ValidationFailed):
            tree = spec["filter"]
        out.append(("filter", json.dumps(tree, ensure_ascii=False)))
    for name, key in (("g", "groups"), ("c", "column_groups")):
        for i, group in enumerate(spec.get(key) or []):
            out.append((f"{name}{i}", group["field"]))
            if group.get("granularity"):
                out.append((f"{name}{i}_gran", group["granularity"]))
            if group.get("sort") and group["sort"] != "key":
                out.append((f"{name}{i}_sort", group["sort"]))
            if group.get("dir") == "desc":
                out.append((f"{name}{i}_dir", "desc"))
            if group.get("top"):
                out.append((f"{name}{i}_top", str(group["top"])))
                if group.get("others") is False:
                    out.append((f"{name}{i}_others", "0"))
    for i, aggregate in enumerate(spec.get("aggregates") or []):
        out.append((f"a{i}_fn", aggregate["fn"]))
        if aggregate.get("field"):
            out.append((f"a{i}_field", aggregate["field"]))
        if aggregate.get("weight"):
            out.append((f"a{i}_weight", aggregate["weight"]))
        if aggregate.get("percent_of_total"):
            out.append((f"a{i}_pct", "1"))
    for column in spec.get("columns") or []:
        out.append(("cols", column))
    if spec.get("type") == "tabular" and spec.get("limit"):
        out.append(("limit", str(spec["limit"])))
    chart = spec.get("chart") or {}
    if chart.get("type"):
        out.append(("chart", chart["type"]))
    if chart.get("aggregate"):
        out.append(("chart_agg", chart["aggregate"]))
    return MultiDict(out)


def aggregate_keys(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, function and field) of a draft's aggregates, for the sort and chart choices."""
    out = []
    for aggregate in spec.get("aggregates") or [{"fn": "count"}]:
        key = aggregate.get("key") or specs.default_key(
            aggregate["fn"], aggregate.get("field"), aggregate.get("weight")
        )
        out.append((key, key))
    return out
