"""Data scope (which records a role sees, by owner), records shared beyond it, and the team
membership both rest on.

A member sees a record of an object when their role may view the object
(``tenants.permissions``) and the record's owner is within the role's data scope for that
object, or the record is shared with them, with their team or with a team above theirs
(``record_shares``). Editing through a share needs an ``edit`` share.

Teams are few per tenant, so the tree is walked in Python once per request and cached on ``g``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import g, has_request_context
from sqlalchemy import ColumnElement, false, or_, select

from saas.extensions import db
from tenants.models import DataScope, Membership, MembershipStatus, Role, Team


def cached(key: str, build):
    """``build()`` once per request (every time outside one)."""
    if not has_request_context():
        return build()
    store = g.setdefault("kehu_scope_cache", {})
    if key not in store:
        store[key] = build()
    return store[key]


def forget(key: str) -> None:
    """Drop a cached value of this request (after the service changed it)."""
    if has_request_context():
        g.setdefault("kehu_scope_cache", {}).pop(key, None)


_cached = cached


def data_scope(role_key: str) -> str:
    return _cached(
        f"scope:{role_key}",
        lambda: (
            db.session.execute(select(Role.data_scope).where(Role.key == role_key)).scalar()
            or DataScope.ALL
        ),
    )


def remember_data_scope(role_key: str, scope: str | None) -> None:
    """The role's data scope read along with the request's member (API authentication), so
    that :func:`data_scope` need not read it again in this request."""
    if has_request_context():
        g.setdefault("kehu_scope_cache", {})[f"scope:{role_key}"] = scope or DataScope.ALL


def _team_parents() -> dict[int, int | None]:
    return cached(
        "team_parents",
        lambda: {
            tid: parent for tid, parent in db.session.execute(select(Team.id, Team.parent_id))
        },
    )


def _teams_below(team_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for tid, parent in _team_parents().items():
        children.setdefault(parent, []).append(tid)
    found, todo = set(), [team_id]
    while todo:
        current = todo.pop()
        if current in found:
            continue  # a cycle would otherwise loop (the service refuses them, this is defence)
        found.add(current)
        todo.extend(children.get(current, ()))
    return found


def team_members(actor: Membership, *, below: bool) -> Sequence[int]:
    """User ids in the actor's team (and the teams below); the actor alone without a team."""

    def build() -> list[int]:
        if actor.team_id is None:
            return [actor.user_id]
        teams = _teams_below(actor.team_id) if below else {actor.team_id}
        ids = db.session.execute(
            select(Membership.user_id).where(
                Membership.team_id.in_(teams), Membership.status == MembershipStatus.ACTIVE
            )
        ).scalars()
        return sorted(set(ids) | {actor.user_id})

    return _cached(f"team:{actor.user_id}:{below}", build)


def teams_above(actor: Membership) -> list[int]:
    """The actor's team and every team above it: a share with a team reaches its sub-teams."""
    parents = _team_parents()
    found: list[int] = []
    current = actor.team_id
    while current is not None and current not in found:
        found.append(current)
        current = parents.get(current)
    return found


#: Tables every member reads whatever the role's data scope: the product catalogue belongs to
#: the company, not to the salesperson who typed it in.
UNSCOPED_TABLES = frozenset({"products"})


def _table_name(column: Any) -> str | None:
    table = getattr(column, "table", None)
    table = getattr(table, "element", table)  # an aliased table (a lookup's join)
    return getattr(table, "name", None)


#: Shared records inlined as a list of ids; more than this many are read by a subquery.
MAX_INLINE_SHARES = 5_000


def _shared(
    entity: Any, actor: Membership, object_key: str, edit: bool
) -> ColumnElement[bool] | None:
    """The records of the object shared with ``actor`` (``None``: none). All of the member's
    shares are read once per request, whatever the object, and inlined as ids, so that "owned
    by me OR shared with me" stays two index reads (a correlated subquery in the OR would make
    the planner scan the company's rows); past :data:`MAX_INLINE_SHARES` a subquery is used."""
    from saas.records.models import RecordShare

    targets = [RecordShare.user_id == actor.user_id]
    teams = teams_above(actor)
    if teams:
        targets.append(RecordShare.team_id.in_(teams))

    def build() -> dict[tuple[str, bool], set[int]] | None:
        rows = db.session.execute(
            select(RecordShare.object_key, RecordShare.record_id, RecordShare.access)
            .where(or_(*targets))
            .limit(MAX_INLINE_SHARES + 1)
        ).all()
        if len(rows) > MAX_INLINE_SHARES:
            return None
        found: dict[tuple[str, bool], set[int]] = {}
        for key, record_id, access in rows:
            found.setdefault((key, False), set()).add(record_id)
            if access == "edit":
                found.setdefault((key, True), set()).add(record_id)
        return found

    shared = cached(f"shared:{actor.user_id}", build)
    if shared is None:
        shares = select(RecordShare.record_id).where(
            RecordShare.object_key == object_key, or_(*targets)
        )
        if edit:
            shares = shares.where(RecordShare.access == "edit")
        return entity.id.in_(shares)
    ids = shared.get((object_key, edit))
    return entity.id.in_(sorted(ids)) if ids else None


def owner_clause(owner_column: Any, actor: Membership, scope: str) -> ColumnElement[bool] | None:
    """The condition on a record's owner for a data scope (``None``: everything)."""
    if scope == DataScope.OWN:
        return owner_column == actor.user_id
    if scope in (DataScope.TEAM, DataScope.TEAM_AND_BELOW):
        members = team_members(actor, below=scope == DataScope.TEAM_AND_BELOW)
        return owner_column.in_(members) if members else false()
    return None


def scope_clause(
    entity: Any, actor: Membership | None, object_key: str, *, edit: bool = False
) -> ColumnElement[bool] | None:
    """The records of ``object_key`` (rows of ``entity``, a model or an alias of one) that
    ``actor`` may open (``edit=True``: change); ``None``: every record."""
    from tenants import permissions

    if actor is None:
        return None
    if not permissions.allowed(actor, object_key, "view"):
        return false()
    if _table_name(entity.owner_id) in UNSCOPED_TABLES:
        return None
    owned = owner_clause(
        entity.owner_id, actor, permissions.object_scope(actor.role_key, object_key)
    )
    if owned is None:
        return None
    shared = _shared(entity, actor, object_key, edit)
    return owned if shared is None else or_(owned, shared)


def restricted(actor: Membership | None, object_key: str) -> bool:
    """Whether ``actor`` sees only part of the object's records."""
    from tenants import permissions

    if actor is None:
        return False
    if not permissions.allowed(actor, object_key, "view"):
        return True
    return permissions.object_scope(actor.role_key, object_key) != DataScope.ALL
