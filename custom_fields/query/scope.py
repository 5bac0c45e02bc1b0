"""Data scope (which records a role sees, by owner) and the team membership it rests on.

Teams are few per tenant, so the tree is walked in Python once per request and cached on ``g``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import g, has_request_context
from sqlalchemy import ColumnElement, false, select

from saas.extensions import db
from tenants.models import DataScope, Membership, MembershipStatus, Role, Team


def _cached(key: str, build):
    if not has_request_context():
        return build()
    store = g.setdefault("kehu_scope_cache", {})
    if key not in store:
        store[key] = build()
    return store[key]


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


def _teams_below(team_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for tid, parent in db.session.execute(select(Team.id, Team.parent_id)):
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


#: Tables every member reads whatever the role's data scope: the product catalogue belongs to
#: the company, not to the salesperson who typed it in.
UNSCOPED_TABLES = frozenset({"products"})


def _table_name(column: Any) -> str | None:
    table = getattr(column, "table", None)
    table = getattr(table, "element", table)  # an aliased table (a lookup's join)
    return getattr(table, "name", None)


def scope_clause(owner_column: Any, actor: Membership | None) -> ColumnElement[bool] | None:
    """The condition on a record's owner for ``actor``'s role (``None``: everything)."""
    if actor is None or _table_name(owner_column) in UNSCOPED_TABLES:
        return None
    scope = data_scope(actor.role_key)
    if scope == DataScope.OWN:
        return owner_column == actor.user_id
    if scope in (DataScope.TEAM, DataScope.TEAM_AND_BELOW):
        members = team_members(actor, below=scope == DataScope.TEAM_AND_BELOW)
        return owner_column.in_(members) if members else false()
    return None
