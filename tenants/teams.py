"""Teams (a tree per tenant), members' teams and each role's data scope.

Reads are open to every member; commands are for owners and administrators. Each command is
one audited transaction that commits. Tree changes lock the tenant's team rows first, so two
concurrent moves cannot build a cycle between them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from tenants import audit
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, DataScope, Membership, MembershipStatus, Role, Team

MAX_NAME = 100
MAX_POSITION = 60
MAX_TEAMS = 1000  # the data scope walks the tree in Python once per request


class Keep(enum.Enum):
    """Sentinel type: "leave this value as it is" (``None`` means "no team")."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP
TeamChoice = int | None | Literal[Keep.KEEP]


@dataclass
class TeamNode:
    """A team in the tree: its active member count, depth and sub-teams (sorted by name)."""

    id: int
    name: str
    parent_id: int | None
    created_at: datetime
    member_count: int
    depth: int = 0
    path: tuple[str, ...] = ()
    children: list[TeamNode] = field(default_factory=list)

    @property
    def path_label(self) -> str:
        return " / ".join(self.path)


@dataclass(frozen=True)
class DeleteImpact:
    """What deleting a team changes: members left without a team, sub-teams moved up."""

    team: TeamNode
    members: int
    sub_teams: int
    new_parent: TeamNode | None


def _require_admin(actor: Membership) -> None:
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can do this."))


def _not_found() -> DomainError:
    return DomainError(_("There is no such team."), status=404)


# ---------------------------------------------------------------- reads


def _member_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(Membership.team_id, func.count())
        .where(Membership.team_id.is_not(None), Membership.status == MembershipStatus.ACTIVE)
        .group_by(Membership.team_id)
    )
    return {team_id: count for team_id, count in rows}


def _key(node: TeamNode) -> tuple[str, int]:
    return (node.name.casefold(), node.id)


def team_tree() -> list[TeamNode]:
    """Root teams with their sub-teams, by name; each node counts its active members."""
    counts = _member_counts()
    nodes = {
        t.id: TeamNode(t.id, t.name, t.parent_id, t.created_at, counts.get(t.id, 0))
        for t in db.session.execute(select(Team)).scalars()
    }
    roots: list[TeamNode] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        (parent.children if parent is not None else roots).append(node)
    placed: set[int] = set()

    def place(node: TeamNode, depth: int, path: tuple[str, ...]) -> None:
        placed.add(node.id)
        node.depth, node.path = depth, (*path, node.name)
        node.children.sort(key=_key)
        for child in node.children:
            if child.id not in placed:
                place(child, depth + 1, node.path)

    roots.sort(key=_key)
    for root in roots:
        place(root, 0, ())
    # The service refuses cycles; should one exist anyway, its teams still show, as roots.
    for node in sorted(nodes.values(), key=_key):
        if node.id not in placed:
            node.children = [c for c in node.children if c.id not in placed]
            roots.append(node)
            place(node, 0, ())
    return roots


def flatten(tree: list[TeamNode]) -> list[TeamNode]:
    """The tree's nodes depth-first, in display order."""
    out: list[TeamNode] = []

    def walk(nodes: list[TeamNode]) -> None:
        for node in nodes:
            out.append(node)
            walk(node.children)

    walk(tree)
    return out


def list_teams() -> list[TeamNode]:
    """Every team depth-first (parents before their sub-teams), with depth and path."""
    return flatten(team_tree())


def get_team(team_id: int) -> TeamNode:
    """One team of the tenant in context (404 otherwise)."""
    for node in list_teams():
        if node.id == team_id:
            return node
    raise _not_found()


def delete_impact(team_id: int) -> DeleteImpact:
    """What :func:`delete_team` would do, for the confirmation."""
    nodes = {n.id: n for n in list_teams()}
    node = nodes.get(team_id)
    if node is None:
        raise _not_found()
    members = db.session.execute(
        select(func.count()).select_from(Membership).where(Membership.team_id == team_id)
    ).scalar_one()
    parent = nodes.get(node.parent_id) if node.parent_id is not None else None
    return DeleteImpact(node, members, len(node.children), parent)


def team_names() -> dict[int, str]:
    """Team id → path label ("Sales / North"), for showing members' teams."""
    return {n.id: n.path_label for n in list_teams()}


# ---------------------------------------------------------------- commands


def _lock_teams() -> dict[int, Team]:
    """Every team row of the tenant, locked until the transaction ends."""
    rows = db.session.execute(select(Team).order_by(Team.id).with_for_update()).scalars()
    return {t.id: t for t in rows}


def _clean_name(raw: str | None, errors: dict[str, list[str]]) -> str:
    name = " ".join((raw or "").split())
    if not name:
        errors["name"] = [_("Enter a team name.")]
    elif len(name) > MAX_NAME:
        errors["name"] = [_("Use at most %(max)d characters.", max=MAX_NAME)]
    return name


def _name_taken(teams: dict[int, Team], name: str, except_id: int | None = None) -> bool:
    folded = name.casefold()
    return any(t.name.casefold() == folded and t.id != except_id for t in teams.values())


def _taken() -> DomainError:
    return DomainError(_("There is already a team with this name."), field="name", status=409)


def _descendants(teams: dict[int, Team], team_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for t in teams.values():
        children.setdefault(t.parent_id, []).append(t.id)
    found: set[int] = set()
    todo = [team_id]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children.get(current, ()))
    return found


def _commit_team_change() -> None:
    """Commit; a concurrent insert of the same name (the unique key) becomes a 409."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if "uq_teams_tenant_id_name" in str(exc.orig):
            raise _taken() from exc
        raise DomainError(_("Choose a valid parent team."), field="parent_id") from exc


def _state(team: Team) -> dict[str, object]:
    return {"name": team.name, "parent_id": team.parent_id}


def create_team(actor: Membership, name: str | None, parent_id: int | None = None) -> TeamNode:
    """A new team, at the top or under ``parent_id``."""
    _require_admin(actor)
    teams = _lock_teams()
    errors: dict[str, list[str]] = {}
    name = _clean_name(name, errors)
    if parent_id is not None and parent_id not in teams:
        errors["parent_id"] = [_("Choose a valid parent team.")]
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    if len(teams) >= MAX_TEAMS:
        db.session.rollback()
        raise DomainError(_("A company can have at most %(max)d teams.", max=MAX_TEAMS), status=409)
    if _name_taken(teams, name):
        db.session.rollback()
        raise _taken()
    team = Team(name=name, parent_id=parent_id)
    db.session.add(team)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise _taken() from exc
    audit.record("team.created", "team", team.id, after=_state(team))
    team_id = team.id
    _commit_team_change()
    return get_team(team_id)


def update_team(
    actor: Membership,
    team_id: int,
    *,
    name: str | None = None,
    parent_id: TeamChoice = KEEP,
) -> TeamNode:
    """Rename a team and/or move it under another parent (``None``: to the top level).

    A team cannot move under itself or one of its own sub-teams."""
    _require_admin(actor)
    teams = _lock_teams()
    team = teams.get(team_id)
    if team is None:
        db.session.rollback()
        raise _not_found()
    before = _state(team)
    errors: dict[str, list[str]] = {}
    if name is not None:
        name = _clean_name(name, errors)
    if parent_id is not KEEP and parent_id is not None:
        if parent_id == team.id:
            errors["parent_id"] = [_("A team cannot be its own parent.")]
        elif parent_id not in teams:
            errors["parent_id"] = [_("Choose a valid parent team.")]
        elif parent_id in _descendants(teams, team.id):
            errors["parent_id"] = [
                _(
                    "“%(team)s” cannot go under “%(parent)s”: that team is one of its own "
                    "sub-teams.",
                    team=team.name,
                    parent=teams[parent_id].name,
                )
            ]
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    if name is not None and _name_taken(teams, name, except_id=team.id):
        db.session.rollback()
        raise _taken()
    if name is not None:
        team.name = name
    if parent_id is not KEEP:
        team.parent_id = parent_id
    after = _state(team)
    if after != before:
        changed = [k for k in after if after[k] != before[k]]
        audit.record(
            "team.updated",
            "team",
            team.id,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    _commit_team_change()
    return get_team(team_id)


def rename_team(actor: Membership, team_id: int, name: str) -> TeamNode:
    return update_team(actor, team_id, name=name)


def move_team(actor: Membership, team_id: int, parent_id: int | None) -> TeamNode:
    return update_team(actor, team_id, parent_id=parent_id)


def delete_team(actor: Membership, team_id: int) -> DeleteImpact:
    """Delete a team: its members are left without a team and its sub-teams move up to its
    parent, all in one transaction. Returns what changed."""
    _require_admin(actor)
    impact = delete_impact(team_id)
    teams = _lock_teams()
    team = teams.get(team_id)
    if team is None:
        db.session.rollback()
        raise _not_found()
    members = list(
        db.session.execute(
            select(Membership.user_id).where(Membership.team_id == team.id).order_by("user_id")
        ).scalars()
    )
    sub_teams = sorted(t.id for t in teams.values() if t.parent_id == team.id)
    db.session.execute(
        update(Membership).where(Membership.team_id == team.id).values(team_id=None),
        execution_options={"synchronize_session": "fetch"},
    )
    db.session.execute(
        update(Team).where(Team.parent_id == team.id).values(parent_id=team.parent_id),
        execution_options={"synchronize_session": "fetch"},
    )
    unshared = _forget_team_in_shares(team.id)
    audit.record(
        "team.deleted",
        "team",
        team.id,
        before={**_state(team), "members": members, "sub_teams": sub_teams},
        after={
            "members_detached": len(members),
            "sub_teams_moved_to": team.parent_id,
            **({"unshared": unshared} if unshared else {}),
        },
    )
    db.session.delete(team)
    db.session.commit()
    return DeleteImpact(impact.team, len(members), len(sub_teams), impact.new_parent)


def _forget_team_in_shares(team_id: int) -> dict[str, int]:
    """Saved views, reports and dashboards shared with the team lose it; one shared with it
    alone becomes private to its owner (a later team could otherwise get the same id's rights).
    Records shared with the team lose their shares through the foreign key. Returns counts."""
    from saas.records.models import SavedView
    from saas.reports.models import Dashboard, ReportDefinition

    counts: dict[str, int] = {}
    for model in (SavedView, ReportDefinition, Dashboard):
        rows = db.session.execute(
            select(model).where(model.visibility == "teams", model.shared_with.contains([team_id]))
        ).scalars()
        for row in rows:
            left = [t for t in row.shared_with if t != team_id]
            row.shared_with = left
            if not left:
                row.visibility = "private"
            counts[model.__tablename__] = counts.get(model.__tablename__, 0) + 1
    return counts


def apply_team(member: Membership, team_id: int | None) -> None:
    """Put ``member`` in a team (``None``: no team), audited; the caller commits."""
    if team_id is not None:
        found = db.session.execute(
            select(Team.id).where(Team.id == team_id).with_for_update(key_share=True)
        ).first()
        if found is None:
            raise DomainError(_("Choose a valid team."), field="team_id")
    if member.team_id == team_id:
        return
    before = {"team_id": member.team_id}
    member.team_id = team_id
    audit.record(
        "membership.team_changed", "user", member.user_id, before=before, after={"team_id": team_id}
    )


def clean_position(raw: object) -> str | None:
    """A position as entered: spaces trimmed and collapsed, 1–60 characters; empty is none."""
    if raw is not None and not isinstance(raw, str):
        raise DomainError(_("Enter the position as text."), field="position")
    position = " ".join((raw or "").split())
    if len(position) > MAX_POSITION:
        raise DomainError(_("Use at most %(max)d characters.", max=MAX_POSITION), field="position")
    return position or None


def apply_position(member: Membership, raw: object) -> None:
    """Set ``member``'s position in their team (empty: none), audited; the caller commits."""
    position = clean_position(raw)
    if member.position == position:
        return
    before = {"position": member.position}
    member.position = position
    audit.record(
        "membership.position_changed",
        "user",
        member.user_id,
        before=before,
        after={"position": position},
    )


def set_member_team(
    actor: Membership,
    user_id: int,
    team_id: TeamChoice,
    position: str | Keep | None = KEEP,
) -> Membership:
    """Put a member in a team, or in none (``KEEP``: leave it), and/or set their position."""
    _require_admin(actor)
    member = db.session.execute(
        select(Membership).where(Membership.user_id == user_id)
    ).scalar_one_or_none()
    if member is None:
        raise DomainError(_("No such member."), status=404)
    try:
        if position is not KEEP:
            apply_position(member, position)
        if team_id is not KEEP:
            apply_team(member, team_id)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return member


def members_by_team() -> dict[int, list[tuple[str, str | None]]]:
    """Team id → its active members (name or email, position), by name."""
    found: dict[int, list[tuple[str, str | None]]] = {}
    rows = db.session.execute(
        select(Membership).where(
            Membership.team_id.is_not(None), Membership.status == MembershipStatus.ACTIVE
        )
    ).scalars()
    for member in rows:
        name = member.user.name or member.user.email
        found.setdefault(member.team_id, []).append((name, member.position))
    for people in found.values():
        people.sort(key=lambda p: p[0].casefold())
    return found


# ---------------------------------------------------------------- data scope


def list_roles() -> list[Role]:
    return list(db.session.execute(select(Role).order_by(Role.rank, Role.key)).scalars())


def get_role(role_key: str) -> Role:
    role = db.session.execute(select(Role).where(Role.key == role_key)).scalar_one_or_none()
    if role is None:
        raise DomainError(_("There is no such role."), status=404)
    return role


def scope_editable(role_key: str) -> bool:
    """Owners and administrators always see every record."""
    return role_key not in ADMIN_ROLES


def set_data_scope(actor: Membership, role_key: str, scope: str) -> Role:
    """Which records members of a role see: all, their team and below, their team, their own."""
    return set_data_scopes(actor, {role_key: scope})[0]


def set_data_scopes(actor: Membership, scopes: dict[str, str]) -> list[Role]:
    """Set the data scope of several roles in one transaction: all of them or none.

    Owners and administrators always keep ``all``."""
    _require_admin(actor)
    roles = [get_role(key) for key in scopes]
    errors: dict[str, list[str]] = {}
    valid = {s.value for s in DataScope}
    for role in roles:
        scope = scopes[role.key]
        if scope not in valid:
            errors.setdefault("data_scope", []).append(_("Choose a valid data scope."))
        elif not scope_editable(role.key) and scope != DataScope.ALL:
            errors.setdefault("data_scope", []).append(
                _("Owners and administrators always see all records.")
            )
    if errors:
        raise ValidationFailed(errors)
    for role in roles:
        scope = scopes[role.key]
        if role.data_scope != scope:
            before = {"data_scope": role.data_scope}
            role.data_scope = scope
            audit.record(
                "role.data_scope_changed",
                "role",
                role.key,
                before=before,
                after={"data_scope": scope},
            )
    db.session.commit()
    return roles
