"""Customer ownership and the public pool (公海).

Whoever registers a customer owns it and works it alone. A customer without an owner is in the
public pool, where any salesperson may claim it (up to the company's cap on owned customers, and
not straight back after giving it up). An owner, or a manager over the owner's data, releases a
customer to the pool with a reason; managers and admins assign pool customers to people. Every
day the sweep (:func:`sweep`) returns to the pool each owned customer with no activity for the
company's ``pool_return_days`` (unless its lifecycle stage is exempt), and flags for review each
one owned for ``pool_review_days`` without a deal. Activities linked to a customer keep its clock
running (:func:`on_save`).

Each command is one transaction, permission-checked, audited and written to ``pool_events``;
the customer's row is locked (``SELECT … FOR UPDATE``), so of two people claiming the same
customer at once one wins and the other gets a 409. Owners who lose a customer to someone else's
action are notified (``tenants.notifications``). ``now`` is a parameter everywhere (UTC by
default), so the rules can be checked with a moving clock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    Text,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from custom_fields.definitions import schemas
from custom_fields.query.scope import scope_clause, team_members
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job, queue_daily_per_tenant
from saas.records.errors import RecordNotFound
from saas.records.models import Account, RecordColumns
from tenants import audit, notifications, permissions
from tenants.context import TenantScoped, current_tenant_id, tenant_context
from tenants.errors import Forbidden
from tenants.models import (
    ADMIN_ROLES,
    WRITE_ROLES,
    DataScope,
    Membership,
    MembershipStatus,
    RoleKey,
    Tenant,
)

_log = logging.getLogger("kehu.pool")

#: Customers handled per transaction by the sweep (a company may have millions).
BATCH = 1000
#: Lifecycle stages that count as a deal: a development window ending in one is not flagged.
DEAL_STAGES = ("customer", "renewal")
MAX_REASON = 500
KINDS = ("claim", "release", "return", "assign", "transfer")
#: Roles that assign pool customers and release other people's customers.
MANAGER_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER})
#: The settings and their upper bounds (all are whole numbers from 0).
SETTING_LIMITS = {
    "pool_return_days": 3650,
    "pool_owner_cap": 100_000,
    "pool_review_days": 3650,
    "pool_reclaim_days": 365,
}


def utcnow() -> datetime:
    """The clock the rules read when no ``now`` is given."""
    return datetime.now(UTC)


class PoolEvent(TenantScoped, db.Model):
    """One change of a customer's owner through the pool's rules: ``claim``, ``release`` (with
    its reason), ``return`` (by the daily sweep: no ``user_id``), ``assign`` or ``transfer``."""

    __tablename__ = "pool_events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["accounts.tenant_id", "accounts.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint(
            "kind IN ('claim', 'release', 'return', 'assign', 'transfer')", name="kind"
        ),
        Index("ix_pool_events_account", "tenant_id", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    #: Who acted; ``None`` for the scheduler.
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    from_owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    to_owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# ---------------------------------------------------------------- the company's rules


@dataclass(frozen=True)
class Rules:
    """The company's pool settings (``tenants.pool_*``)."""

    return_days: int = 60
    owner_cap: int = 0
    review_days: int = 180
    exempt_stages: tuple[str, ...] = ("customer", "renewal")
    reclaim_days: int = 0

    @classmethod
    def of(cls, tenant: Tenant) -> Rules:
        return cls(
            return_days=tenant.pool_return_days,
            owner_cap=tenant.pool_owner_cap,
            review_days=tenant.pool_review_days,
            exempt_stages=tuple(tenant.pool_exempt_stages or ()),
            reclaim_days=tenant.pool_reclaim_days,
        )


def current_rules() -> Rules:
    return Rules.of(db.session.get(Tenant, current_tenant_id()))


def settings_of(tenant: Tenant) -> dict[str, Any]:
    """The pool settings as the settings API and the audit trail show them."""
    return {
        "pool_return_days": tenant.pool_return_days,
        "pool_owner_cap": tenant.pool_owner_cap,
        "pool_review_days": tenant.pool_review_days,
        "pool_exempt_stages": list(tenant.pool_exempt_stages or ()),
        "pool_reclaim_days": tenant.pool_reclaim_days,
    }


def stage_choices(locale: str) -> list[tuple[str, str]]:
    """(code, label) of the customers' lifecycle stages, for the settings page."""
    account = schemas(current_tenant_id()).get("account")
    info = account.field("lifecycle_stage") if account is not None else None
    if info is None:
        return [(code, code) for code in ("potential", "intent", *DEAL_STAGES, "lost")]
    return [(c.code, c.label(locale)) for c in info.spec.choices]


def apply_settings(tenant: Tenant, values: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    """Check and set the pool settings given (``None``: unchanged), collecting errors by field
    (``tenants.services.update_settings`` calls this in its transaction)."""
    for key, maximum in SETTING_LIMITS.items():
        raw = values.get(key)
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= maximum:
            errors[key] = [_("Enter a whole number from 0 to %(max)d.", max=maximum)]
        else:
            setattr(tenant, key, raw)
    stages = values.get("pool_exempt_stages")
    if stages is None:
        return
    if not isinstance(stages, (list, tuple)) or not all(isinstance(s, str) for s in stages):
        errors["pool_exempt_stages"] = [_("Choose lifecycle stages.")]
        return
    known = {code for code, _label in stage_choices("en")}
    unknown = [s for s in stages if s not in known]
    if unknown:
        errors["pool_exempt_stages"] = [
            _("There is no lifecycle stage “%(code)s”.", code=unknown[0][:40])
        ]
    else:
        tenant.pool_exempt_stages = list(dict.fromkeys(stages))


# ---------------------------------------------------------------- notifications


def _name(params: Mapping[str, Any]) -> str:
    return params.get("name") or _("a customer")


def _pool_link(row: notifications.Notification) -> str | None:
    # The customer is in the pool now: its former owner may no longer open its page.
    return url_for("pool.index", q=(row.params or {}).get("name") or None)


notifications.register(
    "pool.released",
    lambda p: _(
        "%(actor)s released your customer “%(name)s” to the public pool: %(reason)s",
        actor=notifications.actor_name(p),
        name=_name(p),
        reason=p.get("reason", ""),
    ),
    _pool_link,
)
notifications.register(
    "pool.returned",
    lambda p: _(
        "Your customer “%(name)s” went back to the public pool after %(days)d days without "
        "activity.",
        name=_name(p),
        days=int(p.get("days", 0)),
    ),
    _pool_link,
)
notifications.register(
    "pool.assigned",
    lambda p: _(
        "%(actor)s assigned the customer “%(name)s” to you from the public pool.",
        actor=notifications.actor_name(p),
        name=_name(p),
    ),
)
notifications.register(
    "pool.transferred",
    lambda p: _(
        "%(actor)s made you the owner of the customer “%(name)s”.",
        actor=notifications.actor_name(p),
        name=_name(p),
    ),
)
notifications.register(
    "pool.review",
    lambda p: _(
        "You have owned the customer “%(name)s” for %(days)d days without a deal: it is due "
        "for review.",
        name=_name(p),
        days=int(p.get("days", 0)),
    ),
)


# ---------------------------------------------------------------- helpers


@contextmanager
def _command() -> Iterator[None]:
    """A command's transaction: a refusal rolls back (releasing the row locks) and re-raises."""
    try:
        yield
    except DomainError:
        db.session.rollback()
        raise


def _actor_name(actor: Membership) -> str:
    return actor.user.display_name


def _require_writer(actor: Membership) -> None:
    from saas.records.services import require_writer  # imports this module

    require_writer(actor, _("Your role does not allow working customers."))
    permissions.require(actor, "account", "edit", _("Your role does not allow working customers."))


def _not_found() -> RecordNotFound:
    return RecordNotFound(_("There is no such customer."))


def _lock_account(account_id: int) -> Account:
    account = db.session.execute(
        select(Account)
        .where(Account.id == account_id, Account.deleted_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if account is None:
        raise _not_found()
    return account


def _exists(account_id: int) -> bool:
    stmt = select(Account.id).where(Account.id == account_id, Account.deleted_at.is_(None))
    return db.session.execute(stmt).first() is not None


def _lock_member(user_id: int) -> None:
    """Lock a member's row: one person's claims and assignments then run one at a time, so
    the cap on owned customers holds under concurrency."""
    db.session.execute(
        select(Membership.user_id).where(Membership.user_id == user_id).with_for_update()
    )


def _may_see(actor: Membership, account: Account) -> bool:
    """Whether the account is within the actor's data scope (pool customers are not)."""
    scope = scope_clause(Account, actor, "account")
    if scope is None:
        return True
    stmt = select(Account.id).where(Account.id == account.id, scope)
    return db.session.execute(stmt).first() is not None


def owned_count(user_id: int) -> int:
    """Customers the person owns, outside the recycle bin (what the cap counts)."""
    stmt = select(func.count()).where(Account.owner_id == user_id, Account.deleted_at.is_(None))
    return db.session.execute(stmt).scalar_one()


def _check_cap(user_id: int, rules: Rules, *, own: bool) -> None:
    if not rules.owner_cap:
        return
    count = owned_count(user_id)
    if count < rules.owner_cap:
        return
    if own:
        message = _(
            "You already own %(count)d customers, the most the company allows (%(cap)d). "
            "Release one first.",
            count=count,
            cap=rules.owner_cap,
        )
    else:
        message = _(
            "This person already owns %(count)d customers, the most the company allows (%(cap)d).",
            count=count,
            cap=rules.owner_cap,
        )
    raise DomainError(message, field="pool_owner_cap", status=409)


def _check_cooldown(account: Account, user_id: int, rules: Rules, now: datetime) -> None:
    if not rules.reclaim_days:
        return
    lost = db.session.execute(
        select(func.max(PoolEvent.created_at)).where(
            PoolEvent.account_id == account.id,
            PoolEvent.from_owner_id == user_id,
            PoolEvent.kind.in_(("release", "return")),
        )
    ).scalar_one()
    if lost is None:
        return
    until = lost + timedelta(days=rules.reclaim_days)
    if now < until:
        raise DomainError(
            _(
                "You gave up this customer recently: you may claim it again from %(when)s.",
                when=format_datetime(until, "short"),
            ),
            field="pool_reclaim_days",
            status=409,
        )


def _take(account: Account, user_id: int, actor_id: int | None, now: datetime) -> None:
    """Give the customer a new owner and a fresh window."""
    account.owner_id = user_id
    account.owned_since = now
    account.last_activity_at = now
    account.pool_since = None
    account.review_flagged_at = None
    account.updated_at = func.now()
    if actor_id is not None:
        account.updated_by = actor_id


def _event(
    account_id: int,
    kind: str,
    actor_id: int | None,
    now: datetime,
    *,
    from_owner: int | None = None,
    to_owner: int | None = None,
    reason: str | None = None,
) -> None:
    db.session.add(
        PoolEvent(
            account_id=account_id,
            kind=kind,
            user_id=actor_id,
            from_owner_id=from_owner,
            to_owner_id=to_owner,
            reason=reason,
            created_at=now,
        )
    )


def _audit(action: str, account: Account, before: int | None, after: int | None, **extra: Any):
    audit.record(
        action,
        "account",
        account.id,
        before={"owner_id": before},
        after={"owner_id": after, **extra},
    )


def clean_reason(raw: Any) -> str:
    """A release reason: 1–500 characters of text."""
    reason = raw.strip() if isinstance(raw, str) else ""
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(
            {"reason": [_("Give a reason of 1 to %(n)d characters.", n=MAX_REASON)]}
        )
    return reason


# ---------------------------------------------------------------- commands


def claim(actor: Membership, account_id: int, *, now: datetime | None = None) -> Account:
    """Take a customer from the pool: the actor becomes its owner with a fresh window."""
    _require_writer(actor)
    now = now or utcnow()
    with _command():
        rules = current_rules()
        _lock_member(actor.user_id)
        account = _lock_account(account_id)
        if account.owner_id == actor.user_id:
            raise DomainError(_("You own this customer already."), status=409)
        if account.owner_id is not None:
            raise DomainError(
                _("Someone else has just taken this customer: it is no longer in the pool."),
                status=409,
            )
        _check_cooldown(account, actor.user_id, rules, now)
        _check_cap(actor.user_id, rules, own=True)
        _take(account, actor.user_id, actor.user_id, now)
        _event(account.id, "claim", actor.user_id, now, to_owner=actor.user_id)
        _audit("pool.claimed", account, None, actor.user_id)
    db.session.commit()
    return account


def release(
    actor: Membership, account_id: int, reason: Any, *, now: datetime | None = None
) -> Account:
    """Put an owned customer back into the pool with a reason: its owner, or a manager or
    admin whose data scope covers it. The owner is told when someone else did it."""
    _require_writer(actor)
    now = now or utcnow()
    with _command():
        account = _lock_account(account_id)
        reason = clean_reason(reason)
        if account.owner_id is None:
            raise DomainError(_("This customer is in the public pool already."), status=409)
        owner = account.owner_id
        if owner != actor.user_id:
            if not _may_see(actor, account):
                raise _not_found()
            if actor.role_key not in MANAGER_ROLES:
                raise Forbidden(_("Only the owner or a manager can release this customer."))
            from saas.records import services as records  # imports this module

            records.require_change(actor, "account", account)  # not through a read share
        account.owner_id = None
        account.pool_since = now
        account.owned_since = None
        account.review_flagged_at = None
        account.updated_at = func.now()
        account.updated_by = actor.user_id
        _event(account.id, "release", actor.user_id, now, from_owner=owner, reason=reason)
        _audit("pool.released", account, owner, None, reason=reason)
        if owner != actor.user_id:
            notifications.notify(
                owner,
                "pool.released",
                object_key="account",
                record_id=account.id,
                params={"name": account.name, "actor": _actor_name(actor), "reason": reason},
            )
    db.session.commit()
    return account


def _scope_members(actor: Membership) -> set[int] | None:
    """The people a manager may give customers to (``None``: anyone; owners and admins)."""
    if actor.role_key in ADMIN_ROLES:
        return None
    scope = permissions.object_scope(actor.role_key, "account")
    if scope == DataScope.OWN:
        return {actor.user_id}
    if scope in (DataScope.TEAM, DataScope.TEAM_AND_BELOW):
        return set(team_members(actor, below=scope == DataScope.TEAM_AND_BELOW))
    return None


def assignable_members(actor: Membership) -> list[tuple[int, str]]:
    """(user id, name) of the members ``actor`` may assign pool customers to, by name."""
    if actor.role_key not in MANAGER_ROLES:
        return []
    allowed = _scope_members(actor)
    members = db.session.execute(
        select(Membership).where(
            Membership.status == MembershipStatus.ACTIVE, Membership.role_key.in_(WRITE_ROLES)
        )
    ).scalars()
    found = [
        (m.user_id, m.user.display_name) for m in members if allowed is None or m.user_id in allowed
    ]
    return sorted(found, key=lambda item: item[1].casefold())


def _assignable(actor: Membership, user_id: Any) -> int:
    """The member a manager or admin may give customers to (active, with a role that works
    customers, and within a manager's own data scope)."""
    message = _("Choose an active member who works customers.")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id < 2**63:
        raise ValidationFailed({"user_id": [message]})
    member = db.session.execute(
        select(Membership).where(Membership.user_id == user_id)
    ).scalar_one_or_none()
    if member is None or member.status != MembershipStatus.ACTIVE:
        raise ValidationFailed({"user_id": [message]})
    if member.role_key not in WRITE_ROLES:
        raise ValidationFailed({"user_id": [message]})
    allowed = _scope_members(actor)
    if allowed is not None and user_id not in allowed:
        raise ValidationFailed({"user_id": [_("Choose a member whose customers you see.")]})
    return user_id


def assign(
    actor: Membership,
    account_id: int,
    user_id: Any,
    *,
    override_cap: bool = False,
    now: datetime | None = None,
) -> Account:
    """Give a pool customer to a member (managers and admins). The cap applies unless an
    owner or admin overrides it."""
    if actor.role_key not in MANAGER_ROLES:
        raise Forbidden(_("Only managers and administrators can assign customers."))
    if override_cap and actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators may exceed the limit."))
    now = now or utcnow()
    with _command():
        rules = current_rules()
        if not _exists(account_id):  # an unknown customer is a 404 whatever else is wrong
            raise _not_found()
        target = _assignable(actor, user_id)
        _lock_member(target)
        account = _lock_account(account_id)
        if account.owner_id is not None:
            raise DomainError(
                _("Someone else has just taken this customer: it is no longer in the pool."),
                status=409,
            )
        if not override_cap:
            _check_cap(target, rules, own=target == actor.user_id)
        _take(account, target, actor.user_id, now)
        _event(account.id, "assign", actor.user_id, now, to_owner=target)
        _audit("pool.assigned", account, None, target, override_cap=override_cap or None)
        if target != actor.user_id:
            notifications.notify(
                target,
                "pool.assigned",
                object_key="account",
                record_id=account.id,
                params={"name": account.name, "actor": _actor_name(actor)},
            )
    db.session.commit()
    return account


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class PoolPage:
    rows: list[Account]
    next_cursor: str | None
    count: int
    count_exact: bool


#: The pool list's filters: picklist fields of customers.
POOL_FILTERS = ("grade", "region", "industry", "lifecycle_stage")
COUNT_LIMIT = 10_000


def pool_page(
    actor: Membership,
    *,
    cursor: str | None = None,
    limit: int = 50,
    filters: Mapping[str, str | None] | None = None,
    search: str | None = None,
) -> PoolPage:
    """Customers in the pool, most recently added to the company first (keyset on ``id``).
    Every member sees the pool whatever their data scope; a filter on a field hidden from the
    member's role is refused."""
    limit = max(1, min(limit, 200))
    stmt = select(Account).where(Account.owner_id.is_(None), Account.deleted_at.is_(None))
    account = schemas(current_tenant_id()).get("account")
    for key, value in (filters or {}).items():
        if not value:
            continue
        info = account.field(key) if account is not None else None
        if key not in POOL_FILTERS or info is None or info.access_for(actor.role_key) == "hidden":
            raise ValidationFailed({key: [_("There is no field “%(key)s”.", key=key[:40])]})
        stmt = stmt.where(Account.data[key].astext == value)
    if search:
        from saas.records.search import search_clause

        stmt = stmt.where(search_clause(Account, search))
    capped = stmt.with_only_columns(Account.id).limit(COUNT_LIMIT + 1).subquery()
    count = db.session.execute(select(func.count()).select_from(capped)).scalar_one()
    if cursor:
        try:
            before = int(cursor)
        except ValueError:
            raise ValidationFailed(
                {"cursor": [_("This cursor is not valid; start from the first page.")]}
            ) from None
        stmt = stmt.where(Account.id < before)
    rows = list(db.session.execute(stmt.order_by(Account.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return PoolPage(
        rows,
        str(rows[-1].id) if more else None,
        min(count, COUNT_LIMIT),
        count <= COUNT_LIMIT,
    )


def pool_values(actor: Membership, account: Account, locale: str) -> dict[str, str | None]:
    """The pool list's picklist values of a customer as labels (hidden fields left out)."""
    schema = schemas(current_tenant_id()).get("account")
    values: dict[str, str | None] = {}
    for key in POOL_FILTERS:
        info = schema.field(key) if schema is not None else None
        if info is None or info.access_for(actor.role_key) == "hidden":
            continue
        code = (account.data or {}).get(key)
        choice = info.spec.choice(code) if code is not None else None
        values[key] = choice.label(locale) if choice else code
    return values


def pool_codes(actor: Membership, account: Account) -> dict[str, Any]:
    """The pool list's picklist codes of a customer (hidden fields left out), for the API."""
    schema = schemas(current_tenant_id()).get("account")
    codes = {}
    for key in POOL_FILTERS:
        info = schema.field(key) if schema is not None else None
        if info is not None and info.access_for(actor.role_key) != "hidden":
            codes[key] = (account.data or {}).get(key)
    return codes


def filter_choices(actor: Membership, locale: str) -> dict[str, list[tuple[str, str]]]:
    """The pool list's filters the member may use, with their (code, label) choices."""
    schema = schemas(current_tenant_id()).get("account")
    found: dict[str, list[tuple[str, str]]] = {}
    for key in POOL_FILTERS:
        info = schema.field(key) if schema is not None else None
        if info is None or info.access_for(actor.role_key) == "hidden":
            continue
        found[key] = [(c.code, c.label(locale)) for c in info.spec.choices if c.active]
    return found


def filter_label(key: str, locale: str) -> str:
    schema = schemas(current_tenant_id()).get("account")
    info = schema.field(key) if schema is not None else None
    return info.spec.label(locale) if info is not None else key


def ownership(actor: Membership, account_id: int, *, history: int = 50) -> tuple[Account, list]:
    """A customer's ownership dates and its latest pool events (if the member may see it:
    their own data scope, or the pool)."""
    account = db.session.execute(
        select(Account).where(Account.id == account_id, Account.deleted_at.is_(None))
    ).scalar_one_or_none()
    if account is None or (account.owner_id is not None and not _may_see(actor, account)):
        raise _not_found()
    events = list(
        db.session.execute(
            select(PoolEvent)
            .where(PoolEvent.account_id == account.id)
            .order_by(PoolEvent.id.desc())
            .limit(history)
        ).scalars()
    )
    return account, events


# ---------------------------------------------------------------- record hooks


def starts_in_pool(object_key: str, actor: Membership, raw: Any, *, creating: bool) -> bool:
    """Whether an ``owner_id`` sent with a new record means "into the pool": owners and admins
    may create a customer without owner (``null``, or ``"pool"`` from the record form)."""
    return (
        creating
        and object_key == "account"
        and raw in (None, "pool")
        and actor.role_key in ADMIN_ROLES
    )


def on_save(
    object_key: str,
    record: RecordColumns,
    actor: Membership,
    before: tuple[int | None, Mapping[str, Any]] | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Keep ownership dates and activity clocks as a record is created (``before=None``) or
    updated (``before`` = its owner and data before the change); called before the flush."""
    if object_key == "account":
        _account_saved(record, actor, before, now or utcnow())  # type: ignore[arg-type]
    elif object_key == "activity":
        _activity_saved(record, before, now or utcnow())


def _account_saved(
    account: Account,
    actor: Membership,
    before: tuple[int | None, Mapping[str, Any]] | None,
    now: datetime,
) -> None:
    if before is None:
        if account.owner_id is None:
            account.pool_since = now
        else:
            account.owned_since = now
        return
    previous = before[0]
    if account.owner_id == previous or account.owner_id is None:
        return
    if previous is None:
        # Taking a pool customer through an edit is an assignment: the same rules hold.
        if actor.role_key not in MANAGER_ROLES:
            raise Forbidden(_("Claim this customer from the public pool instead."))
        if actor.role_key not in ADMIN_ROLES:
            _check_cap(account.owner_id, current_rules(), own=account.owner_id == actor.user_id)
    kind = "assign" if previous is None else "transfer"
    _take(account, account.owner_id, None, now)
    _event(account.id, kind, actor.user_id, now, from_owner=previous, to_owner=account.owner_id)
    if account.owner_id != actor.user_id:
        notifications.notify(
            account.owner_id,
            "pool.assigned" if previous is None else "pool.transferred",
            object_key="account",
            record_id=account.id,
            params={"name": account.name, "actor": _actor_name(actor)},
        )


def _as_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _activity_saved(
    activity: RecordColumns, before: tuple[int | None, Mapping[str, Any]] | None, now: datetime
) -> None:
    data = activity.data or {}
    account_id = data.get("account")
    if isinstance(account_id, bool) or not isinstance(account_id, int):
        return
    done = data.get("status") == "done"
    if before is not None:
        old = before[1]
        newly_done = done and (old.get("status") != "done" or old.get("account") != account_id)
        if not newly_done:
            return
    at = now
    if done:
        # A follow-up logged late counts from when it happened; one dated ahead counts now.
        done_at = _as_time(data.get("done_at"))
        if done_at is not None:
            at = min(done_at, now)
    touch(account_id, at)


def after_import(
    object_key: str,
    creates: Iterable[Any],
    updates: Iterable[Any],
    *,
    now: datetime | None = None,
) -> int:
    """:func:`on_save`'s activity clocks for a batch of imported activities, once they are
    written: each customer named by an activity created, or by one the import marked done (or
    moved to it while done), moves its ``last_activity_at`` forward (never back) to the latest
    such activity's time — its ``done_at`` for a done one (a future one counts as now), else
    now — in one ``UPDATE … FROM`` for the batch. The rows are the import's outcomes
    (``saas.records.imports.Outcome``: ``data``, and for updates ``before_data``). Answers how
    many customers were looked at."""
    if object_key != "activity":
        return 0
    now = now or utcnow()
    latest: dict[int, datetime] = {}
    written = [(o, None) for o in creates] + [(o, o.before_data or {}) for o in updates]
    for outcome, before in written:
        data = outcome.data or {}
        account_id = data.get("account")
        if isinstance(account_id, bool) or not isinstance(account_id, int):
            continue
        done = data.get("status") == "done"
        if before is not None:
            moved = before.get("status") != "done" or before.get("account") != account_id
            if not (done and moved):
                continue
        at = now
        if done:
            done_at = _as_time(data.get("done_at"))
            if done_at is not None:
                at = min(done_at, now)
        if account_id not in latest or at > latest[account_id]:
            latest[account_id] = at
    if latest:
        rows = [{"id": k, "at": v.isoformat()} for k, v in sorted(latest.items())]
        db.session.execute(
            text(_TOUCH_MANY),
            {"tenant": current_tenant_id(), "rows": json.dumps(rows)},
        )
    return len(latest)


_TOUCH_MANY = """
UPDATE accounts AS a
SET last_activity_at = greatest(a.last_activity_at, r.at)
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, at timestamptz)
WHERE a.tenant_id = :tenant AND a.id = r.id
"""


def touch(account_id: int, at: datetime) -> None:
    """Move a customer's last activity forward to ``at`` (never back). Not a change of the
    record's values, so its version stays."""
    db.session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(last_activity_at=func.greatest(Account.last_activity_at, at))
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- the daily sweep


@dataclass
class SweepResult:
    """What one sweep did: customers returned to the pool, and flagged for review."""

    returned: int = 0
    flagged: int = 0


def _stage_not_in(stages: tuple[str, ...]):
    stage = Account.data["lifecycle_stage"].astext
    if not stages:
        return None
    return or_(stage.is_(None), stage.not_in(stages))


def sweep(tenant_id: int, now: datetime | None = None, *, batch: int | None = None) -> SweepResult:
    """Return inactive owned customers to the pool and flag overdue development windows, a
    batch per transaction; running it again the same day changes nothing. Audited as the
    system; each owner gets one notification per customer."""
    now = now or utcnow()
    batch = batch or BATCH
    result = SweepResult()
    with tenant_context(tenant_id, db.session):
        rules = current_rules()
        db.session.commit()
        if rules.return_days:
            threshold = now - timedelta(days=rules.return_days)
            while True:
                done = _return_batch(threshold, rules, now, batch)
                result.returned += done
                if done < batch:
                    break
        if rules.review_days:
            threshold = now - timedelta(days=rules.review_days)
            while True:
                done = _flag_batch(threshold, rules, now, batch)
                result.flagged += done
                if done < batch:
                    break
    if result.returned or result.flagged:
        _log.info("pool sweep", extra={"sweep_tenant_id": tenant_id, **asdict(result)})
    return result


def _return_batch(threshold: datetime, rules: Rules, now: datetime, batch: int) -> int:
    clock = func.coalesce(Account.last_activity_at, Account.owned_since, Account.created_at)
    stmt = select(Account.id, Account.owner_id, Account.name).where(
        Account.owner_id.is_not(None), Account.deleted_at.is_(None), clock < threshold
    )
    exempt = _stage_not_in(rules.exempt_stages)
    if exempt is not None:
        stmt = stmt.where(exempt)
    # Rows someone is changing right now are left for tomorrow rather than waited for.
    rows = db.session.execute(stmt.limit(batch).with_for_update(skip_locked=True)).all()
    if not rows:
        db.session.commit()
        return 0
    ids = [r.id for r in rows]
    db.session.execute(
        update(Account)
        .where(Account.id.in_(ids))
        .values(
            owner_id=None,
            owned_since=None,
            pool_since=now,
            review_flagged_at=None,
            version=Account.version + 1,
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )
    tenant_id = current_tenant_id()
    db.session.execute(
        insert(PoolEvent),
        [
            {
                "tenant_id": tenant_id,
                "account_id": r.id,
                "kind": "return",
                "from_owner_id": r.owner_id,
                "reason": None,
                "created_at": now,
            }
            for r in rows
        ],
    )
    for r in rows:
        audit.record(
            "pool.returned",
            "account",
            r.id,
            before={"owner_id": r.owner_id},
            after={"owner_id": None, "days": rules.return_days},
        )
    notifications.notify_many(
        {
            "user_id": r.owner_id,
            "kind": "pool.returned",
            "object_key": "account",
            "record_id": r.id,
            "params": {"name": r.name, "days": rules.return_days},
        }
        for r in rows
    )
    db.session.commit()
    return len(rows)


def _flag_batch(threshold: datetime, rules: Rules, now: datetime, batch: int) -> int:
    window = func.coalesce(Account.owned_since, Account.created_at)
    stmt = select(Account.id, Account.owner_id, Account.name).where(
        Account.owner_id.is_not(None),
        Account.deleted_at.is_(None),
        Account.review_flagged_at.is_(None),
        window < threshold,
        _stage_not_in(DEAL_STAGES),
    )
    rows = db.session.execute(stmt.limit(batch).with_for_update(skip_locked=True)).all()
    if not rows:
        db.session.commit()
        return 0
    db.session.execute(
        update(Account)
        .where(Account.id.in_([r.id for r in rows]))
        .values(review_flagged_at=now)
        .execution_options(synchronize_session=False)
    )
    for r in rows:
        audit.record(
            "pool.review_flagged",
            "account",
            r.id,
            after={"owner_id": r.owner_id, "days": rules.review_days},
        )
    notifications.notify_many(
        {
            "user_id": r.owner_id,
            "kind": "pool.review",
            "object_key": "account",
            "record_id": r.id,
            "params": {"name": r.name, "days": rules.review_days},
        }
        for r in rows
    )
    db.session.commit()
    return len(rows)


@job
def run_sweep() -> dict[str, int]:
    """The daily sweep of the company in context (queued by :func:`schedule_sweeps`)."""
    return asdict(sweep(current_tenant_id()))


@job
def schedule_sweeps(day: str | None = None) -> int:
    """Queue today's sweep for every company that has not had it queued today. Runs on the
    worker's schedule (``saas.jobs.PERIODIC``) every hour: a Redis key per company and day makes
    it once a day however many workers run the schedule, and an hour's delay at most after a
    restart. Returns how many sweeps it queued."""
    return queue_daily_per_tenant("pool-sweep", run_sweep, day or utcnow().date().isoformat())
