"""Saved views of an object's records, the built-in views, default views and recent records.

A view names what a list shows: columns (with widths), a filter tree, a sort on up to six
fields, a page size and a layout (a table, or a kanban board grouped by a picklist). Filters,
sorts and columns are checked by the query engine against the object and the user's field
access when a view is saved.

Who sees and changes a view:

* ``private``: its owner only (nobody else, admins included);
* ``roles`` / ``teams``: members whose role, or whose team (or a team above theirs), is listed
  in ``shared_with``; ``tenant``: everyone;
* shared and tenant-wide views are created and changed by owners, admins and managers
  (:data:`MANAGER_ROLES`), who also see every shared view; a private view only by its owner.

Built-in views (``all``, ``mine``, ``my_team``, ``recent``) are not stored. Each person may
choose a default view per object (:class:`ViewPreference`); without one, or when the chosen view
is gone, ``all`` opens. :func:`list_state` turns a view plus the overrides of a list URL into the
query the list page runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from werkzeug.datastructures import MultiDict

from custom_fields.definitions import ObjectSchema
from custom_fields.query import engine
from custom_fields.query import operators as ops
from custom_fields.query.engine import QuerySpec, Resolver, SortKey
from custom_fields.query.filters import Condition, Group, fail, parse_tree, parse_url
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import services
from saas.records.models import RecentRecord, SavedView, ViewPreference
from saas.records.visibility import MANAGER_ROLES as MANAGER_ROLES
from saas.records.visibility import VISIBILITIES as VISIBILITIES
from saas.records.visibility import clean_sharing, is_manager, reaches, team_and_above
from tenants import audit
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import Membership

LAYOUTS = ("list", "kanban")
BUILTIN_KEYS = ("all", "mine", "my_team", "recent")
BUILTIN_LABELS = {
    "all": _l("All records"),
    "mine": _l("My records"),
    "my_team": _l("My team's records"),
    "recent": _l("Recently viewed"),
}
BUILTIN_FILTERS: dict[str, dict[str, Any] | None] = {
    "all": None,
    "mine": {"field": "owner_id", "op": "is_me"},
    "my_team": {"field": "owner_id", "op": "in_my_team_and_below"},
    "recent": None,
}
DEFAULT_VIEW = "all"
MAX_NAME = 100
MIN_PAGE, MAX_PAGE, DEFAULT_PAGE = 10, 200, 50
MIN_WIDTH, MAX_WIDTH = 40, 2000
MAX_COLUMNS = 100
MAX_VIEWS = 500  # per object and person: a list beyond that helps nobody choose
#: Recently opened records kept per person and object.
RECENT_KEEP = 50
VIEW_KEYS = frozenset(
    {"name", "visibility", "shared_with", "columns", "filter", "sort", "page_size", "layout",
     "group_by"}
)  # fmt: skip


class ViewNotFound(DomainError):
    """No such view, or one the person may not see (both are 404)."""

    status = 404


@dataclass
class ViewDef:
    """A view as lists use it: a saved view or a built-in one."""

    key: str
    name: str
    builtin: bool
    filter: Any = None
    sort: list[dict[str, Any]] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = DEFAULT_PAGE
    layout: str = "list"
    group_by: str | None = None
    visibility: str = "tenant"
    shared_with: list[Any] = field(default_factory=list)
    owner_id: int | None = None
    can_edit: bool = False
    saved: SavedView | None = None

    @property
    def id(self) -> int | None:
        return self.saved.id if self.saved is not None else None


# ---- visibility --------------------------------------------------------------------------------


def can_see(view: SavedView, actor: Membership, teams: set[int] | None = None) -> bool:
    """Whether ``actor`` may see ``view`` (``teams``: the actor's team and those above it)."""
    return view.owner_id == actor.user_id or reaches(view, actor, teams)


def can_edit(view: SavedView, actor: Membership) -> bool:
    if view.visibility == "private":
        return view.owner_id == actor.user_id
    return is_manager(actor)


# ---- reading -----------------------------------------------------------------------------------


def _schema(object_key: str) -> ObjectSchema:
    return services.store(object_key).schema


def _saved_views(schema: ObjectSchema) -> list[SavedView]:
    return list(
        db.session.execute(
            select(SavedView)
            .where(SavedView.object_id == schema.id)
            .order_by(func.lower(SavedView.name), SavedView.id)
        ).scalars()
    )


def builtin(key: str, actor: Membership) -> ViewDef:
    return ViewDef(
        key=key, name=str(BUILTIN_LABELS[key]), builtin=True, filter=BUILTIN_FILTERS[key]
    )


def _view_def(view: SavedView, actor: Membership) -> ViewDef:
    return ViewDef(
        key=str(view.id),
        name=view.name,
        builtin=False,
        filter=view.filter,
        sort=list(view.sort or []),
        columns=list(view.columns or []),
        page_size=view.page_size,
        layout=view.layout,
        group_by=view.group_by,
        visibility=view.visibility,
        shared_with=list(view.shared_with or []),
        owner_id=view.owner_id,
        can_edit=can_edit(view, actor),
        saved=view,
    )


def list_views(actor: Membership, object_key: str) -> list[ViewDef]:
    """The built-in views, then the saved views ``actor`` may see (by name)."""
    schema = _schema(object_key)
    teams = team_and_above(actor.team_id)
    views = [builtin(key, actor) for key in BUILTIN_KEYS]
    views += [_view_def(v, actor) for v in _saved_views(schema) if can_see(v, actor, teams)]
    return views


def get_view(actor: Membership, object_key: str, view_id: int) -> SavedView:
    """A saved view of the object that ``actor`` may see; :class:`ViewNotFound` otherwise."""
    schema = _schema(object_key)
    view = db.session.execute(
        select(SavedView).where(SavedView.id == view_id, SavedView.object_id == schema.id)
    ).scalar_one_or_none()
    if view is None or not can_see(view, actor):
        raise ViewNotFound(_("There is no such view."))
    return view


def find_view(actor: Membership, object_key: str, key: str) -> ViewDef:
    """A built-in view by key or a saved one by id (as text)."""
    if key in BUILTIN_KEYS:
        return builtin(key, actor)
    if not key.isdigit() or not 0 < int(key) < 2**63:
        raise ViewNotFound(_("There is no such view."))
    return _view_def(get_view(actor, object_key, int(key)), actor)


# ---- validation --------------------------------------------------------------------------------


def _resolver(schema: ObjectSchema, actor: Membership) -> Resolver:
    return Resolver(schema, actor, engine.model_for(schema))


def _clean_name(raw: Any, errors: dict[str, list[str]]) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        errors["name"] = [_("Enter a name for the view.")]
        return None
    name = " ".join(raw.split())
    if len(name) > MAX_NAME:
        errors["name"] = [_("Use at most %(n)d characters.", n=MAX_NAME)]
        return None
    return name


def _check_key(resolver: Resolver, key: Any, where: str) -> engine.Resolved:
    if not isinstance(key, str) or not key or "." in key:
        raise fail(_("Name a field of this object."), where)
    try:
        return resolver.resolve(key[:130])
    except DomainError as exc:
        raise fail(exc.message, where) from exc


def clean_columns(raw: Any, resolver: Resolver) -> list[dict[str, Any]]:
    """``["name", {"key": "amount", "width": 120}, …]`` as ``[{"key", "width"}]``."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_COLUMNS:
        raise fail(_("List at most %(n)d columns.", n=MAX_COLUMNS), "columns")
    columns: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw:
        if isinstance(item, str):
            item = {"key": item}
        if not isinstance(item, Mapping) or set(item) - {"key", "width"}:
            raise fail(_('Write each column as {"key", "width"}.'), "columns")
        _check_key(resolver, item.get("key"), "columns")
        width = item.get("width")
        if width is not None and (
            isinstance(width, bool)
            or not isinstance(width, int)
            or not MIN_WIDTH <= width <= MAX_WIDTH
        ):
            raise fail(
                _("A column is %(low)d to %(high)d pixels wide.", low=MIN_WIDTH, high=MAX_WIDTH),
                "columns",
            )
        if item["key"] in seen:
            raise fail(_("“%(key)s” is listed twice.", key=item["key"]), "columns")
        seen.add(item["key"])
        columns.append({"key": item["key"], "width": width})
    return columns


def sort_json(keys: Sequence[SortKey]) -> list[dict[str, Any]]:
    result = []
    for key in keys:
        item: dict[str, Any] = {"field": key.field, "dir": "desc" if key.desc else "asc"}
        if key.nulls_first is not None:
            item["nulls"] = "first" if key.nulls_first else "last"
        result.append(item)
    return result


def check_sort(keys: Sequence[SortKey], resolver: Resolver) -> None:
    for key in keys:
        resolved = _check_key(resolver, key.field, "sort")
        if resolved.sort_expr is None:
            raise fail(_("Records cannot be sorted by “%(key)s”.", key=key.field), "sort")


def clean_sort(raw: Any, resolver: Resolver) -> list[dict[str, Any]]:
    keys = engine.parse_sort(raw if raw is not None else [])
    check_sort(keys, resolver)
    return sort_json(keys)


def check_filter(tree: Any, resolver: Resolver, actor: Membership) -> None:
    """Build the SQL of a parsed tree once: unknown fields, operators and values fail here."""
    timezone = services.context().timezone
    engine.build_filter(tree, resolver, engine.make_env(actor, timezone))


def clean_group_by(raw: Any, resolver: Resolver, where: str = "group_by") -> str | None:
    if raw is None or raw == "":
        return None
    resolved = _check_key(resolver, raw, where)
    if resolved.kind != "choice" or resolved.spec is None:
        raise fail(_("Group a board by a picklist field."), where)
    return resolved.key


def clean_page_size(raw: Any, where: str = "page_size") -> int:
    try:
        value = int(raw) if not isinstance(raw, bool) else 0
    except (TypeError, ValueError):
        value = 0
    if not MIN_PAGE <= value <= MAX_PAGE:
        raise fail(
            _("Show %(low)d to %(high)d records a page.", low=MIN_PAGE, high=MAX_PAGE), where
        )
    return value


def _clean(
    schema: ObjectSchema,
    actor: Membership,
    payload: Mapping[str, Any],
    current: SavedView | None,
) -> dict[str, Any]:
    """The checked values of a create (``current`` None) or a change; all errors at once."""
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(payload) - VIEW_KEYS)
    for key in unknown:
        errors[key[:40]] = [_("Unknown key “%(key)s”.", key=key[:40])]
    resolver = _resolver(schema, actor)
    values: dict[str, Any] = {}
    if current is None or "name" in payload:
        name = _clean_name(payload.get("name"), errors)
        if name is not None:
            values["name"] = name
    values.update(
        clean_sharing(
            payload,
            current,
            errors,
            unlisted=_("Only views shared with roles or teams list whom."),
            unnamed=_("List the roles or teams to share the view with."),
        )
    )
    steps = (
        ("columns", lambda raw: clean_columns(raw, resolver)),
        ("sort", lambda raw: clean_sort(raw, resolver)),
        ("page_size", clean_page_size),
        ("group_by", lambda raw: clean_group_by(raw, resolver)),
    )
    for key, clean in steps:
        if key in payload:
            try:
                values[key] = clean(payload[key])
            except ValidationFailed as exc:
                errors.setdefault(key, []).extend(m for ms in exc.errors.values() for m in ms)
    if "filter" in payload:
        raw = payload["filter"]
        try:
            check_filter(parse_tree(raw), resolver, actor)
            values["filter"] = raw
        except ValidationFailed as exc:
            for key, messages in exc.errors.items():
                errors.setdefault(key if key in ("filter", "logic") else "filter", []).extend(
                    messages
                )
    if "layout" in payload:
        if payload["layout"] not in LAYOUTS:
            errors["layout"] = [_("Choose list or kanban.")]
        else:
            values["layout"] = payload["layout"]
    layout = values.get("layout", current.layout if current is not None else "list")
    group_by = values.get("group_by", current.group_by if current is not None else None)
    if layout == "kanban" and group_by is None and "group_by" not in errors:
        errors["group_by"] = [_("A board needs a picklist field to group by.")]
    if errors:
        raise ValidationFailed(errors)
    return values


def _snapshot(view: SavedView) -> dict[str, Any]:
    return {
        "name": view.name,
        "visibility": view.visibility,
        "shared_with": list(view.shared_with or []),
        "columns": list(view.columns or []),
        "filter": view.filter,
        "sort": list(view.sort or []),
        "page_size": view.page_size,
        "layout": view.layout,
        "group_by": view.group_by,
    }


# ---- commands ----------------------------------------------------------------------------------


def create_view(actor: Membership, object_key: str, payload: Mapping[str, Any]) -> SavedView:
    """Save a new view; only managers and admins share one beyond themselves."""
    schema = _schema(object_key)
    values = _clean(schema, actor, payload, None)
    if values["visibility"] != "private" and not is_manager(actor):
        raise Forbidden(_("Only owners, administrators and managers share views."))
    owned = db.session.execute(
        select(func.count())
        .select_from(SavedView)
        .where(SavedView.object_id == schema.id, SavedView.owner_id == actor.user_id)
    ).scalar_one()
    if owned >= MAX_VIEWS:
        raise DomainError(
            _("You have too many views of this object; delete some first."), status=409
        )
    view = SavedView(
        object_id=schema.id,
        owner_id=actor.user_id,
        name=values["name"],
        visibility=values["visibility"],
        shared_with=values["shared_with"],
        columns=values.get("columns", []),
        filter=values.get("filter"),
        sort=values.get("sort", []),
        page_size=values.get("page_size", DEFAULT_PAGE),
        layout=values.get("layout", "list"),
        group_by=values.get("group_by"),
    )
    db.session.add(view)
    db.session.flush()
    audit.record(
        "view.created", "saved_view", view.id, after={"object": object_key, **_snapshot(view)}
    )
    db.session.commit()
    return view


def update_view(
    actor: Membership, object_key: str, view_id: int, payload: Mapping[str, Any]
) -> SavedView:
    """Change some properties of a view the actor may edit."""
    schema = _schema(object_key)
    view = get_view(actor, object_key, view_id)
    if not can_edit(view, actor):
        raise Forbidden(_("Only owners, administrators and managers change shared views."))
    values = _clean(schema, actor, payload, view)
    if values.get("visibility", view.visibility) != "private" and not is_manager(actor):
        raise Forbidden(_("Only owners, administrators and managers share views."))
    before = _snapshot(view)
    for key, value in values.items():
        setattr(view, key, value)
    if view.visibility == "private" and before["visibility"] != "private":
        view.owner_id = actor.user_id  # a view made private belongs to whoever did it
    after = _snapshot(view)
    changed = sorted(k for k in after if before[k] != after[k])
    if changed:
        view.updated_at = func.now()
        audit.record(
            "view.updated",
            "saved_view",
            view.id,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    db.session.commit()
    return view


def delete_view(actor: Membership, object_key: str, view_id: int) -> None:
    view = get_view(actor, object_key, view_id)
    if not can_edit(view, actor):
        raise Forbidden(_("Only owners, administrators and managers delete shared views."))
    audit.record(
        "view.deleted", "saved_view", view.id, before={"object": object_key, **_snapshot(view)}
    )
    db.session.delete(view)
    db.session.commit()


def default_view(actor: Membership, object_key: str) -> str:
    """The person's default view of the object (``all`` when none, or when it is gone)."""
    schema = _schema(object_key)
    chosen = db.session.execute(
        select(ViewPreference.default_view).where(
            ViewPreference.user_id == actor.user_id, ViewPreference.object_id == schema.id
        )
    ).scalar_one_or_none()
    if chosen is None:
        return DEFAULT_VIEW
    try:
        find_view(actor, object_key, chosen)
    except ViewNotFound:
        return DEFAULT_VIEW
    return chosen


def set_default(actor: Membership, object_key: str, key: Any) -> str:
    """Make a view the person's default (a built-in key or a saved view's id)."""
    schema = _schema(object_key)
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key:
        raise ValidationFailed({"view": [_("Name a view: all, mine, my_team, recent or an id.")]})
    try:
        found = find_view(actor, object_key, key.strip())
    except ViewNotFound as exc:
        raise ValidationFailed({"view": [exc.message]}) from exc
    stmt = insert(ViewPreference).values(
        tenant_id=current_tenant_id(),
        user_id=actor.user_id,
        object_id=schema.id,
        default_view=found.key,
    )
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "user_id", "object_id"],
            set_={"default_view": stmt.excluded.default_view},
        )
    )
    db.session.commit()
    return found.key


def note_recent(actor: Membership, object_key: str, record_id: int) -> None:
    """Remember that ``actor`` opened a record; only the last :data:`RECENT_KEEP` are kept."""
    schema = _schema(object_key)
    stmt = insert(RecentRecord).values(
        tenant_id=current_tenant_id(),
        user_id=actor.user_id,
        object_id=schema.id,
        record_id=record_id,
        viewed_at=func.now(),
    )
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "user_id", "object_id", "record_id"],
            set_={"viewed_at": func.now()},
        )
    )
    mine = (RecentRecord.user_id == actor.user_id, RecentRecord.object_id == schema.id)
    kept = (
        select(RecentRecord.record_id)
        .where(*mine)
        .order_by(RecentRecord.viewed_at.desc(), RecentRecord.record_id.desc())
        .limit(RECENT_KEEP)
    )
    db.session.execute(
        delete(RecentRecord)
        .where(*mine, RecentRecord.record_id.not_in(kept.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def recent_ids(actor: Membership, object_key: str) -> list[int]:
    """Ids of the records ``actor`` opened, newest first."""
    schema = _schema(object_key)
    return list(
        db.session.execute(
            select(RecentRecord.record_id)
            .where(RecentRecord.user_id == actor.user_id, RecentRecord.object_id == schema.id)
            .order_by(RecentRecord.viewed_at.desc(), RecentRecord.record_id.desc())
            .limit(RECENT_KEEP)
        ).scalars()
    )


# ---- filter trees as JSON and as numbered conditions ------------------------------------------


def tree_json(node: Any) -> Any:
    """A parsed filter tree back as the JSON tree (``None`` for no filter)."""
    if node is None:
        return None
    if isinstance(node, Group):
        if node.op == "not":
            return {"not": tree_json(node.children[0])}
        if len(node.children) == 1:
            return tree_json(node.children[0])  # one condition needs no group
        return {node.op: [tree_json(child) for child in node.children]}
    assert isinstance(node, Condition)
    result: dict[str, Any] = {"field": node.field, "op": node.op}
    if node.value is not None:
        result["value"] = node.value
    return result


def numbered(node: Any) -> tuple[list[Condition], str | None]:
    """The conditions of a tree in order and the logic text joining them (``None`` when they
    are simply all required)."""
    conditions: list[Condition] = []

    def text(item: Any, top: bool) -> str:
        if isinstance(item, Condition):
            conditions.append(item)
            return str(len(conditions))
        if item.op == "not":
            return "NOT " + text(item.children[0], False)
        inner = f" {item.op.upper()} ".join(text(c, False) for c in item.children)
        return inner if top or len(item.children) < 2 else f"({inner})"

    if node is None:
        return [], None
    logic = text(node, True)
    if isinstance(node, Condition) or (
        isinstance(node, Group)
        and node.op == "and"
        and all(isinstance(c, Condition) for c in node.children)
    ):
        return conditions, None
    return conditions, logic


def without(node: Any, index: int) -> Any:
    """The tree without its ``index``-th condition (0-based, in order); empty groups vanish."""
    counter = [0]

    def walk(item: Any) -> Any:
        if isinstance(item, Condition):
            position = counter[0]
            counter[0] += 1
            return None if position == index else item
        children = tuple(c for c in (walk(child) for child in item.children) if c is not None)
        if not children:
            return None
        if item.op != "not" and len(children) == 1:
            return children[0]
        return Group(item.op, children)

    return walk(node) if node is not None else None


def _url_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_escape(str(v)) for v in value)
    return _escape(str(value))


def _escape(text: str) -> str:
    """The URL form's escapes: a backslash doubled first, then commas."""
    return text.replace("\\", "\\\\").replace(",", "\\,")


def url_filter(node: Any) -> list[tuple[str, str]]:
    """A tree as URL parameters: ``f=field:op:value`` (numbered) and ``logic``."""
    conditions, logic = numbered(node)
    params = []
    for cond in conditions:
        value = _url_value(cond.value)
        params.append(("f", f"{cond.field}:{cond.op}" + ("" if value is None else f":{value}")))
    if logic:
        params.append(("logic", logic))
    return params


# ---- a list: a view and the overrides of its URL ---------------------------------------------


@dataclass
class ListState:
    """What a list page shows: the view, the filter (the view's or the URL's), sort, columns,
    layout and the query that runs."""

    view: ViewDef
    tree: Any
    sort: list[SortKey]
    columns: list[dict[str, Any]]
    layout: str
    group_by: str | None
    page_size: int
    search: str | None
    cursor: str | None
    #: Keys of the URL that differ from the view (filter, sort, columns, …).
    overrides: set[str]
    #: For "recently viewed": the ids, newest first.
    recent: list[int] | None = None

    def spec(self, **changes: Any) -> QuerySpec:
        spec = QuerySpec(
            filter=self.tree,
            sort=list(self.sort),
            limit=self.page_size,
            cursor=self.cursor,
            search=self.search,
        )
        if self.recent is not None:
            spec.ids = list(self.recent)
            if not self.sort:
                spec.limit = RECENT_KEEP  # all of them, in the order they were opened
                spec.cursor = None
        for key, value in changes.items():
            setattr(spec, key, value)
        return spec

    def effective_filter(self) -> Any:
        """The filter as one JSON tree, the recent records included (for export and bulk)."""
        tree = tree_json(self.tree)
        if self.recent is None:
            return tree
        if self.recent:
            ids: dict[str, Any] = {"field": "id", "op": "in", "value": list(self.recent)}
        else:
            ids = {"field": "id", "op": "lt", "value": 1}  # nothing opened yet: no record
        return ids if tree is None else {"and": [ids, tree]}

    def view_payload(self) -> dict[str, Any]:
        """What saving this list into a view stores."""
        return {
            "columns": self.columns,
            "filter": tree_json(self.tree),
            "sort": sort_json(self.sort),
            "page_size": self.page_size,
            "layout": self.layout,
            "group_by": self.group_by,
        }


def _url_columns(raw: str) -> list[dict[str, Any]]:
    """``name,amount:120`` (a width after a colon)."""
    columns = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        key, _sep, width = part.partition(":")
        if width:
            try:
                columns.append({"key": key, "width": int(width)})
            except ValueError as exc:
                raise fail(_("Write a column as key or key:width."), "columns") from exc
        else:
            columns.append({"key": key, "width": None})
    return columns


def list_state(actor: Membership, object_key: str, args: MultiDict) -> ListState:
    """The view named by ``view`` (else the default) with the URL's overrides: ``f`` + ``logic``
    or ``filter`` (JSON), ``sort``, ``q``, ``columns``, ``limit``, ``cursor``, ``layout``,
    ``group_by``. Raises :class:`ValidationFailed` for anything that does not fit."""
    schema = _schema(object_key)
    key = (args.get("view") or "").strip() or default_view(actor, object_key)
    view = find_view(actor, object_key, key)
    resolver = _resolver(schema, actor)
    overrides: set[str] = set()
    errors: dict[str, list[str]] = {}

    def attempt(name: str, fn, fallback):
        try:
            return fn()
        except ValidationFailed as exc:
            for k, messages in exc.errors.items():
                errors.setdefault(k, []).extend(messages)
            return fallback

    def read_filter():
        if "filter" in args:
            raw = args.get("filter") or ""
            if not raw.strip():
                return None
            try:
                return parse_tree(json.loads(raw))
            except json.JSONDecodeError as exc:
                raise fail(_("The filter is not valid JSON: %(error)s", error=exc.msg)) from exc
        return parse_url(args.getlist("f"), args.get("logic"))

    if "filter" in args or "f" in args:
        overrides.add("filter")
        tree = attempt("filter", read_filter, None)
    else:
        tree = attempt("filter", lambda: parse_tree(view.filter), None)
    if tree is not None and "filter" not in errors and "logic" not in errors:
        attempt("filter", lambda: check_filter(tree, resolver, actor), None)
    if "sort" in args:
        overrides.add("sort")
        sort = attempt("sort", lambda: engine.parse_sort(args.get("sort")), [])
    else:
        sort = attempt("sort", lambda: engine.parse_sort(view.sort), [])
    attempt("sort", lambda: check_sort(sort, resolver), None)
    if "columns" in args:
        overrides.add("columns")
        columns = attempt(
            "columns", lambda: clean_columns(_url_columns(args.get("columns", "")), resolver), []
        )
    else:
        columns = attempt("columns", lambda: clean_columns(view.columns, resolver), [])
    page_size = view.page_size
    if "limit" in args:
        overrides.add("limit")
        page_size = attempt("limit", lambda: clean_page_size(args.get("limit"), "limit"), page_size)
    layout = view.layout
    if "layout" in args:
        overrides.add("layout")
        layout = args.get("layout")
        if layout not in LAYOUTS:
            errors["layout"] = [_("Choose list or kanban.")]
            layout = "list"
    group_by = view.group_by
    if "group_by" in args:
        overrides.add("group_by")
        group_by = attempt("group_by", lambda: clean_group_by(args.get("group_by"), resolver), None)
    elif group_by is not None:
        group_by = attempt("group_by", lambda: clean_group_by(group_by, resolver), None)
    search = args.get("q", "").strip() or None
    if search is not None and len(search) > 100:
        errors["q"] = [_("Search for at most 100 characters of text.")]
        search = None
    if layout == "kanban" and group_by is None and "group_by" not in errors:
        errors["group_by"] = [_("A board needs a picklist field to group by.")]
    if errors:
        raise ValidationFailed(errors)
    return ListState(
        view=view,
        tree=tree,
        sort=sort,
        columns=columns,
        layout=layout,
        group_by=group_by,
        page_size=page_size,
        search=search,
        cursor=(args.get("cursor") or None),
        overrides=overrides,
        recent=recent_ids(actor, object_key) if view.key == "recent" else None,
    )


# ---- what the filter builder offers --------------------------------------------------------


def _operator_json(name: str) -> dict[str, Any]:
    operator = ops.OPERATORS[name]
    return {"op": name, "label": str(operator.label), "arity": operator.arity}


def query_fields(actor: Membership, object_key: str, locale: str) -> list[dict[str, Any]]:
    """Every field ``actor`` may filter, sort or show: key, label, type, kind, operators (with
    labels and arity), sortable, and picklist choices."""
    schema = _schema(object_key)
    resolver = _resolver(schema, actor)
    zh = locale.startswith("zh")
    result = []
    system = [
        (key, (zh_label if zh else en_label), kind)
        for key, (kind, _c, en_label, zh_label) in engine.SYSTEM_FIELDS.items()
    ]
    entries: list[tuple[str, str, str | None]] = [(k, label, None) for k, label, _kind in system]
    entries += [(f.key, f.spec.label(locale), f.type) for f in schema.fields]
    for key, label, type_name in entries:
        try:
            resolved = resolver.resolve(key)
        except DomainError:
            continue  # hidden from this role
        item: dict[str, Any] = {
            "key": key,
            "label": label,
            "type": type_name or resolved.kind,
            "kind": resolved.kind,
            "system": type_name is None,
            "sortable": resolved.sort_expr is not None,
            "operators": [_operator_json(op) for op in resolved.operators if op in ops.OPERATORS],
        }
        if resolved.spec is not None and resolved.kind in ("choice", "choices"):
            item["choices"] = [
                {"code": c.code, "label": c.label(locale), "active": c.active}
                for c in resolved.spec.choices
            ]
        if type_name is not None:
            info = schema.field(key)
            item["editable"] = bool(
                info is not None
                and info.access_for(actor.role_key) == "editable"
                and type_name not in ("formula", "auto_number")
            )
        result.append(item)
    return result


def describe(view: ViewDef, actor: Membership, default_key: str) -> dict[str, Any]:
    """A view as the API shows it."""
    saved = view.saved
    return {
        "id": view.id,
        "key": view.key,
        "name": view.name,
        "builtin": view.builtin,
        "owner_id": view.owner_id,
        "visibility": view.visibility,
        "shared_with": view.shared_with,
        "columns": view.columns,
        "filter": view.filter,
        "sort": view.sort,
        "page_size": view.page_size,
        "layout": view.layout,
        "group_by": view.group_by,
        "can_edit": view.can_edit,
        "is_default": view.key == default_key,
        "created_at": saved.created_at.isoformat()
        if saved is not None and saved.created_at
        else None,
        "updated_at": saved.updated_at.isoformat()
        if saved is not None and hasattr(saved.updated_at, "isoformat")
        else None,
    }
