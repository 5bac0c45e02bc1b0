"""Sharing a record with a member or a team beyond their data scope.

Decisions:

- **Who shares**: owners and administrators; the record's owner; and members whose role edits
  the object and whose own data scope (not a share) covers the record — a manager shares their
  team's customers. A share never passes on: being shared a record does not let you share it.
- **What a share gives**: ``read`` opens the record (lists, record page, lookups, the 360°
  page); ``edit`` also lets the member change it, when their role edits the object. A share
  does not give rights the role lacks: a role without view on the object still sees nothing.
- **Teams**: a share with a team reaches the members of that team and of every team below it.
- One share per record and member (or team); sharing again changes its access. Every share and
  unshare is audited; a member given a record is notified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from custom_fields.query.scope import owner_clause
from saas.accounts.models import User
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import services
from saas.records.models import RecordColumns, RecordShare
from tenants import audit, notifications, permissions
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, DataScope, Membership, MembershipStatus, Team

ACCESS = ("read", "edit")
#: More shares on one record than this is a sign a team share (or another data scope) is due.
MAX_SHARES = 100

notifications.register(
    "record.shared",
    lambda p: _(
        "%(actor)s shared “%(name)s” with you.",
        actor=notifications.actor_name(p),
        name=p.get("name") or _("a record"),
    ),
)


@dataclass(frozen=True)
class Share:
    """One share as pages and the API show it."""

    id: int
    kind: str  # "user" or "team"
    target_id: int
    target_name: str
    access: str
    created_by: str | None
    created_at: datetime


def may_share(actor: Membership, object_key: str, record: RecordColumns) -> bool:
    """Whether ``actor`` may share ``record`` (see the module's decisions)."""
    if actor.role_key in ADMIN_ROLES or record.owner_id == actor.user_id:
        return True
    if not permissions.allowed(actor, object_key, "edit"):
        return False
    scope = permissions.object_scope(actor.role_key, object_key)
    if scope == DataScope.ALL:
        return True
    model = services.store(object_key, None).model
    clause = owner_clause(model.owner_id, actor, scope)
    return (
        db.session.execute(select(model.id).where(model.id == record.id, clause)).first()
        is not None
    )


def _record(actor: Membership, object_key: str, record_id: int) -> RecordColumns:
    record = services.get_record(object_key, record_id)  # 404 outside the actor's scope
    if not may_share(actor, object_key, record):
        raise Forbidden(_("Only the owner, their managers and administrators can share it."))
    return record


def list_shares(actor: Membership, object_key: str, record_id: int) -> list[Share]:
    """The record's shares, newest first (to those who may share it)."""
    _record(actor, object_key, record_id)
    creator = User.__table__.alias("creator")
    rows = db.session.execute(
        select(RecordShare, User, Team, creator.c.name, creator.c.email)
        .outerjoin(User, User.id == RecordShare.user_id)
        .outerjoin(Team, Team.id == RecordShare.team_id)
        .outerjoin(creator, creator.c.id == RecordShare.created_by)
        .where(RecordShare.object_key == object_key, RecordShare.record_id == record_id)
        .order_by(RecordShare.id.desc())
    ).all()
    return [
        Share(
            id=share.id,
            kind="user" if share.user_id is not None else "team",
            target_id=share.user_id if share.user_id is not None else share.team_id,
            target_name=user.display_name if user is not None else team.name,
            access=share.access,
            created_by=(creator_name or creator_email),
            created_at=share.created_at,
        )
        for share, user, team, creator_name, creator_email in rows
    ]


def _check_target(
    record: RecordColumns, user_id: object, team_id: object, access: object
) -> tuple[int | None, int | None, str, dict[str, str]]:
    errors: dict[str, list[str]] = {}
    if access not in ACCESS:
        errors["access"] = [_("Choose read or edit.")]
    if (user_id is None) == (team_id is None):
        errors["user_id"] = [_("Choose one member or one team.")]
        raise ValidationFailed(errors)
    names: dict[str, str] = {}
    if user_id is not None:
        member = None
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            member = db.session.execute(
                select(Membership).where(
                    Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE
                )
            ).scalar_one_or_none()
        if member is None:
            errors["user_id"] = [_("Choose an active member of this company.")]
        elif member.user_id == record.owner_id:
            errors["user_id"] = [_("The owner already has this record.")]
        else:
            names["target"] = member.user.display_name
    if team_id is not None:
        team = None
        if isinstance(team_id, int) and not isinstance(team_id, bool):
            team = db.session.execute(select(Team).where(Team.id == team_id)).scalar_one_or_none()
        if team is None:
            errors["team_id"] = [_("Choose a team of this company.")]
        else:
            names["target"] = team.name
    if errors:
        raise ValidationFailed(errors)
    return user_id, team_id, str(access), names  # type: ignore[return-value]


def share(
    actor: Membership,
    object_key: str,
    record_id: int,
    *,
    user_id: object = None,
    team_id: object = None,
    access: object = "read",
) -> Share:
    """Share the record with a member or a team (again: change the access)."""
    record = _record(actor, object_key, record_id)
    user, team, level, names = _check_target(record, user_id, team_id, access)
    count = len(list_shares(actor, object_key, record_id))
    target = RecordShare.user_id == user if user is not None else RecordShare.team_id == team
    existing = db.session.execute(
        select(RecordShare).where(
            RecordShare.object_key == object_key, RecordShare.record_id == record_id, target
        )
    ).scalar_one_or_none()
    if existing is None and count >= MAX_SHARES:
        raise DomainError(
            _("A record can be shared at most %(n)d times; share it with a team.", n=MAX_SHARES),
            status=409,
        )
    before = {"access": existing.access} if existing is not None else None
    stmt = insert(RecordShare).values(
        tenant_id=current_tenant_id(),  # a core insert: the ORM's tenant default does not apply
        object_key=object_key,
        record_id=record_id,
        user_id=user,
        team_id=team,
        access=level,
        created_by=actor.user_id,
    )
    index = ["tenant_id", "object_key", "user_id" if user is not None else "team_id", "record_id"]
    where = (
        RecordShare.user_id.is_not(None) if user is not None else RecordShare.team_id.is_not(None)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=index, index_where=where, set_={"access": level}
    ).returning(RecordShare.id)
    share_id = db.session.execute(stmt).scalar_one()
    if before is None or before["access"] != level:
        audit.record(
            "record.shared",
            object_key,
            record_id,
            before=before,
            after={
                "user_id": user,
                "team_id": team,
                "target": names.get("target"),
                "access": level,
            },
        )
    if user is not None and before is None and _may_view(user, object_key):
        # Told only when their role views the object: the notice names the record.
        notifications.notify(
            user,
            "record.shared",
            object_key=object_key,
            record_id=record_id,
            params={"name": record.name, "actor": actor.user.display_name},
        )
    db.session.commit()
    return next(s for s in list_shares(actor, object_key, record_id) if s.id == share_id)


def _may_view(user_id: int, object_key: str) -> bool:
    member = db.session.execute(
        select(Membership).where(Membership.user_id == user_id)
    ).scalar_one_or_none()
    return member is not None and permissions.allowed(member, object_key, "view")


def unshare(actor: Membership, object_key: str, record_id: int, share_id: int) -> None:
    """Stop sharing (audited); the member or team keeps what their data scope gives them."""
    _record(actor, object_key, record_id)
    row = db.session.execute(
        select(RecordShare).where(
            RecordShare.id == share_id,
            RecordShare.object_key == object_key,
            RecordShare.record_id == record_id,
        )
    ).scalar_one_or_none()
    if row is None:
        raise DomainError(_("There is no such share."), status=404)
    audit.record(
        "record.unshared",
        object_key,
        record_id,
        before={"user_id": row.user_id, "team_id": row.team_id, "access": row.access},
    )
    db.session.delete(row)
    db.session.commit()
