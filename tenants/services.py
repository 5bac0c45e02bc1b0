"""Tenant commands: signup, invitations, roles, deactivation, API tokens, settings.

Each public function is one unit of work and commits its own transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import String, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, lazyload

from custom_fields import system_fields
from custom_fields.standard import standard_object_definitions
from saas import mail
from saas.accounts.models import User
from saas.accounts.passwords import check_policy, hash_password, verify_password
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from tenants import audit
from tenants.context import (
    CROSS_TENANT_OPTION,
    applied,
    current_tenant_id,
    current_user_id,
    guc_columns,
    peek_tenant_id,
    set_tenant,
    set_user,
    tenant_context,
)
from tenants.errors import Forbidden, InvitationInvalid, LastOwner, SlugTaken
from tenants.models import (
    ADMIN_ROLES,
    BUILTIN_ROLES,
    ApiToken,
    AuditEvent,
    Invitation,
    Membership,
    MembershipStatus,
    OutboxMessage,
    Role,
    RoleKey,
    Tenant,
    role_label,
)
from tenants.slugs import validate_slug
from tenants.teams import KEEP, TeamChoice, apply_team

SUPPORTED_LOCALES = ("zh_CN", "en")
SUPPORTED_CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "TWD", "SGD")
INVITATION_DAYS = 7
TOKEN_PREFIX = "kehu_"  # noqa: S105 (a public prefix, not a secret)


def _role_names(key: RoleKey) -> tuple[str, str]:
    """English and Chinese names stored with a built-in role (custom roles will set their own)."""
    with force_locale("en"):
        english = role_label(key)
    with force_locale("zh_CN"):
        chinese = role_label(key)
    return english, chinese


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def normalise_email(raw: str, field: str = "email") -> str:
    try:
        return validate_email(raw or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise DomainError(_("Enter a valid email address."), field=field) from exc


@dataclass
class SignupResult:
    tenant: Tenant
    user: User
    token: str


def _new_api_token(tenant_id: int, user_id: int, name: str) -> tuple[ApiToken, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        tenant_id=tenant_id, user_id=user_id, name=name, prefix=raw[:12], token_hash=hash_token(raw)
    )
    return token, raw


def signup(
    company: str, slug: str, email: str, password: str, locale: str = "zh_CN"
) -> SignupResult:
    """Create a tenant, its owner, default roles and metadata, and an owner API token at once."""
    errors: dict[str, list[str]] = {}
    company = (company or "").strip()
    if not company:
        errors["company"] = [_("Enter your company name.")]
    elif len(company) > 200:
        errors["company"] = [_("Use at most 200 characters.")]
    for field, check in (
        ("slug", lambda: validate_slug(slug)),
        ("email", lambda: normalise_email(email)),
    ):
        try:
            check()
        except DomainError as err:
            errors[field] = [err.message]
    # The policy applies whether or not the email has an account, so its messages reveal nothing.
    try:
        check_policy(password, email=email, company=company)
    except DomainError as err:
        errors["password"] = [err.message]
    if errors:
        raise ValidationFailed(errors)
    slug = validate_slug(slug)
    email = normalise_email(email)
    locale = locale if locale in SUPPORTED_LOCALES else "zh_CN"
    if db.session.execute(select(Tenant.id).where(Tenant.slug == slug)).first():
        raise SlugTaken(_("This address is already taken. Choose another one."))

    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(email=email, password_hash=hash_password(password), locale=locale)
        db.session.add(user)
    elif not verify_password(user.password_hash, password):
        # Same wording whatever the reason, so the response does not confirm the account exists.
        raise DomainError(
            _("These sign-up details cannot be used. Check them and try again."), field="password"
        )

    tenant = Tenant(slug=slug, name=company, default_locale=locale)
    db.session.add(tenant)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise SlugTaken(_("This address is already taken. Choose another one.")) from exc

    set_tenant(tenant.id, db.session)
    set_user(user.id, db.session)
    for rank, key in enumerate(BUILTIN_ROLES):
        name_en, name_zh = _role_names(key)
        db.session.add(Role(key=key, name_en=name_en, name_zh=name_zh, builtin=True, rank=rank))
    db.session.flush()
    db.session.add(Membership(user_id=user.id, role_key=RoleKey.OWNER))
    objects = standard_object_definitions()
    db.session.add_all(objects)
    db.session.flush()
    system_fields.install(db.session.connection(), tenant.id, {o.key: o.id for o in objects})
    from saas.crm.activities import install_default_targets  # tenants sits below saas.crm

    install_default_targets(db.session.connection(), tenant.id)
    from print_templates.services import install_starters  # quote and contract templates

    install_starters(db.session.connection(), tenant.id, user.id)
    from saas.crm.pipeline import default_stages

    db.session.add_all(default_stages())  # probability and kind of the opportunity stages
    db.session.flush()
    from saas.reports.services import install_builtins  # built for the stages just added

    install_builtins(db.session.connection(), tenant.id, user.id)
    token, raw = _new_api_token(tenant.id, user.id, "signup")
    db.session.add(token)
    audit.record(
        "tenant.created",
        "tenant",
        tenant.id,
        after={"slug": slug, "name": company},
        actor_user_id=user.id,
    )
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise SlugTaken(_("This address is already taken. Choose another one.")) from exc
    return SignupResult(tenant=tenant, user=user, token=raw)


def tenant_by_slug(slug: str, *, enter: bool = False) -> Tenant | None:
    """The tenant of a slug; ``enter``: the same statement also sets ``app.tenant_id`` for the
    rest of the transaction (call :func:`tenants.context.set_tenant` next, which then has
    nothing left to send)."""
    if not enter:
        return db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    user_id = current_user_id()
    row = db.session.execute(
        select(Tenant, *guc_columns(Tenant.id, user_id)).where(Tenant.slug == slug)
    ).first()
    if row is None:
        return None
    applied(db.session, row[0].id, user_id)
    return row[0]


def memberships_of(user_id: int) -> list[Membership]:
    """A user's active memberships across tenants (row-level security allows own rows)."""
    stmt = (
        select(Membership)
        .where(Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE)
        .execution_options(**{CROSS_TENANT_OPTION: True})
    )
    with tenant_context(peek_tenant_id(), db.session, user_id=user_id):
        rows = db.session.execute(stmt).scalars().all()
    return sorted(rows, key=lambda m: m.tenant.name.lower())


def membership(user_id: int) -> Membership | None:
    """The user's membership in the tenant in context."""
    return db.session.execute(
        select(Membership).where(Membership.user_id == user_id)
    ).scalar_one_or_none()


def roles() -> list[Role]:
    return list(db.session.execute(select(Role).order_by(Role.rank)).scalars())


def _role_exists(key: str) -> bool:
    return db.session.execute(select(Role.key).where(Role.key == key)).first() is not None


def require_admin(actor: Membership) -> None:
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can do this."))


def invite(actor: Membership, email: str, role_key: str, base_url: str) -> Invitation:
    """Invite an email address to the tenant in context; the link goes out by mail."""
    require_admin(actor)
    email = normalise_email(email)
    if not _role_exists(role_key):
        raise DomainError(_("Choose a valid role."), field="role")
    if role_key == RoleKey.OWNER and actor.role_key != RoleKey.OWNER:
        raise Forbidden(_("Only an owner can invite another owner."), field="role")
    existing_member = db.session.execute(
        select(Membership).join(User, User.id == Membership.user_id).where(User.email == email)
    ).scalar_one_or_none()
    if existing_member is not None and existing_member.is_active:
        raise DomainError(_("This person is already a member."), field="email")
    raw = secrets.token_urlsafe(32)
    invitation = Invitation(
        email=email,
        role_key=role_key,
        token_hash=hash_token(raw),
        invited_by_id=actor.user_id,
        expires_at=datetime.now(UTC) + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    db.session.flush()
    tenant = db.session.get(Tenant, actor.tenant_id)
    link = f"{base_url}/t/{tenant.slug}/invite/{raw}"
    # The invitee has no language yet: write to them in the company's default language.
    with force_locale(tenant.default_locale):
        mail.send(
            to=email,
            subject=_("You are invited to %(company)s on Kehu", company=tenant.name),
            body=_(
                "%(inviter)s invited you to join %(company)s on Kehu as %(role)s.\n\n"
                "Accept the invitation: %(link)s\n\nThe link expires in %(days)d days.",
                inviter=actor.user.display_name,
                company=tenant.name,
                role=role_label(role_key),
                link=link,
                days=INVITATION_DAYS,
            ),
            kind="invitation",
        )
    audit.record(
        "invitation.created", "invitation", invitation.id, after={"email": email, "role": role_key}
    )
    db.session.commit()
    return invitation


def pending_invitations() -> list[Invitation]:
    now = datetime.now(UTC)
    return list(
        db.session.execute(
            select(Invitation)
            .where(
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
            .order_by(Invitation.created_at.desc())
        ).scalars()
    )


def revoke_invitation(actor: Membership, invitation_id: int) -> None:
    require_admin(actor)
    invitation = db.session.execute(
        select(Invitation).where(Invitation.id == invitation_id)
    ).scalar_one_or_none()
    if invitation is None or not invitation.is_pending:
        raise InvitationInvalid(_("This invitation does not exist or is no longer pending."))
    invitation.revoked_at = datetime.now(UTC)
    audit.record(
        "invitation.revoked", "invitation", invitation.id, before={"email": invitation.email}
    )
    db.session.commit()


def find_invitation(raw_token: str) -> Invitation:
    invitation = db.session.execute(
        select(Invitation).where(Invitation.token_hash == hash_token(raw_token or ""))
    ).scalar_one_or_none()
    if (
        invitation is None
        or not invitation.is_pending
        or invitation.expires_at <= datetime.now(UTC)
    ):
        raise InvitationInvalid(_("This invitation link is invalid or has expired."))
    return invitation


def accept_invitation(
    raw_token: str, user: User | None, *, password: str | None = None, name: str = ""
) -> User:
    """Join the tenant in context. A new person sets a password; a known one must be logged in."""
    invitation = find_invitation(raw_token)
    if user is None:
        existing = db.session.execute(
            select(User).where(User.email == invitation.email)
        ).scalar_one_or_none()
        if existing is not None:
            raise Forbidden(
                _("Log in as %(email)s to accept this invitation.", email=invitation.email)
            )
        check_policy(password or "", email=invitation.email)
        user = User(
            email=invitation.email,
            name=name.strip()[:200],
            password_hash=hash_password(password or ""),
        )
        db.session.add(user)
        db.session.flush()
    elif user.email != invitation.email:
        raise Forbidden(
            _(
                "This invitation was sent to %(email)s. Log in with that address to accept it.",
                email=invitation.email,
            )
        )
    member = membership(user.id)
    if member is None:
        db.session.add(Membership(user_id=user.id, role_key=invitation.role_key))
    else:
        member.role_key = invitation.role_key
        member.status = MembershipStatus.ACTIVE
    invitation.accepted_at = datetime.now(UTC)
    audit.record(
        "membership.joined",
        "user",
        user.id,
        after={"email": user.email, "role": invitation.role_key},
        actor_user_id=user.id,
    )
    db.session.commit()
    return user


def members() -> list[Membership]:
    return list(
        db.session.execute(
            select(Membership).join(User, User.id == Membership.user_id).order_by(User.email)
        ).scalars()
    )


def _owner_count() -> int:
    return db.session.execute(
        select(func.count())
        .select_from(Membership)
        .where(Membership.role_key == RoleKey.OWNER, Membership.status == MembershipStatus.ACTIVE)
    ).scalar_one()


def _member_or_404(user_id: int) -> Membership:
    member = membership(user_id)
    if member is None:
        raise DomainError(_("No such member."), status=404)
    return member


def update_member(
    actor: Membership,
    user_id: int,
    *,
    role: str | None = None,
    active: bool | None = None,
    team_id: TeamChoice = KEEP,
) -> Membership:
    """Change a member's role, status and/or team (``None``: no team) in one transaction: all
    of it or nothing."""
    require_admin(actor)
    member = _member_or_404(user_id)
    if role is not None:
        _apply_role(actor, member, role)
    if active is not None:
        _apply_status(actor, member, active)
    if team_id is not KEEP:
        apply_team(member, team_id)
    db.session.commit()
    return member


def change_role(actor: Membership, user_id: int, role_key: str) -> Membership:
    return update_member(actor, user_id, role=role_key)


def set_member_status(actor: Membership, user_id: int, active: bool) -> Membership:
    return update_member(actor, user_id, active=active)


def _apply_role(actor: Membership, member: Membership, role_key: str) -> None:
    if not _role_exists(role_key):
        raise DomainError(_("Choose a valid role."), field="role")
    touches_owner = RoleKey.OWNER in (role_key, member.role_key)
    if touches_owner and actor.role_key != RoleKey.OWNER:
        raise Forbidden(_("Only an owner can grant or remove the owner role."), field="role")
    if member.role_key == RoleKey.OWNER and role_key != RoleKey.OWNER and _owner_count() <= 1:
        raise LastOwner(_("A company needs at least one owner."))
    if role_key == member.role_key:
        return
    before = {"role": member.role_key}
    member.role_key = role_key
    audit.record(
        "membership.role_changed", "user", member.user_id, before=before, after={"role": role_key}
    )


def _apply_status(actor: Membership, member: Membership, active: bool) -> None:
    if member.user_id == actor.user_id and not active:
        raise DomainError(_("You cannot deactivate yourself."), field="status")
    if member.role_key == RoleKey.OWNER and actor.role_key != RoleKey.OWNER:
        raise Forbidden(_("Only an owner can deactivate an owner."))
    if member.role_key == RoleKey.OWNER and not active and _owner_count() <= 1:
        raise LastOwner(_("A company needs at least one owner."))
    status = MembershipStatus.ACTIVE if active else MembershipStatus.DEACTIVATED
    if status == member.status:
        return
    before = {"status": member.status}
    member.status = status
    if not active:
        # A deactivated member's tokens stop working at once.
        for token in db.session.execute(
            select(ApiToken).where(
                ApiToken.user_id == member.user_id, ApiToken.revoked_at.is_(None)
            )
        ).scalars():
            token.revoked_at = datetime.now(UTC)
    audit.record(
        "membership.status_changed",
        "user",
        member.user_id,
        before=before,
        after={"status": status},
    )


def create_token(actor: Membership, name: str) -> tuple[ApiToken, str]:
    """A new API token for the actor in the tenant in context; the raw value is shown once."""
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Give the token a name."), field="name")
    if len(name) > 100:
        raise DomainError(_("Use at most 100 characters."), field="name")
    token, raw = _new_api_token(actor.tenant_id, actor.user_id, name)
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.created", "api_token", token.id, after={"name": name})
    db.session.commit()
    return token, raw


def tokens_visible_to(actor: Membership) -> list[ApiToken]:
    """Admins see every token of the tenant; others their own."""
    stmt = (
        select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.created_at.desc())
    )
    if actor.role_key not in ADMIN_ROLES:
        stmt = stmt.where(ApiToken.user_id == actor.user_id)
    return list(db.session.execute(stmt).scalars())


def revoke_token(actor: Membership, token_id: int) -> None:
    token = db.session.execute(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if token is None or (token.user_id != actor.user_id and actor.role_key not in ADMIN_ROLES):
        raise DomainError(_("No such token."), status=404)
    token.revoked_at = datetime.now(UTC)
    audit.record("api_token.revoked", "api_token", token.id, before={"name": token.name})
    db.session.commit()


def authenticate_token(raw: str) -> tuple[ApiToken, Membership, str] | None:
    """The live token, the active membership behind a bearer value and its role's data scope,
    in the tenant in context. The one statement that finds them also sets ``app.user_id`` to
    the token's user for the rest of the transaction (call ``set_user`` next)."""
    found = _caller(raw)
    return None if found is None else found[1:]


def authenticate_api(
    slug: str, raw: str, tenant_ids: MutableMapping[str, int]
) -> tuple[Tenant | None, tuple[ApiToken, Membership, str] | None]:
    """The tenant of ``slug`` (entered, ``None`` when there is none) and the caller behind a
    bearer token of it (``None`` when the token is not live, its member not active).

    ``tenant_ids`` remembers each slug's tenant id in this process. With it, a single statement
    reads the tenant — checking that this id still has this slug —, the token, its membership,
    user and role; the tenant id reaches the database as the transaction begins. Slugs and ids
    never change while a tenant exists, and any miss reads the tenant by its slug as usual."""
    cached = tenant_ids.get(slug)
    if cached is not None:
        set_tenant(cached, db.session)
        found = _caller(raw, slug=slug)
        if found is not None:
            return found[0], found[1:]
    tenant = tenant_by_slug(slug, enter=True)
    if tenant is None:
        tenant_ids.pop(slug, None)
        set_tenant(None, db.session)
        return None, None
    tenant_ids[slug] = tenant.id
    set_tenant(tenant.id, db.session)
    if tenant.id == cached:
        return tenant, None  # the tenant was right: the token is what failed
    return tenant, authenticate_token(raw)


@cache
def _caller_statement(with_tenant: bool):
    """The token lookup, built once (its values are bound parameters): the token's row with its
    membership, user and role, and with ``with_tenant`` the tenant if its id and slug match;
    it sets both GUCs from what it finds."""
    stmt = (
        select(
            ApiToken,
            Membership,
            Role.data_scope,
            *guc_columns(bindparam("guc_tenant_id", type_=String), Membership.user_id),
        )
        .join(Membership, Membership.user_id == ApiToken.user_id)
        .join(User, User.id == Membership.user_id)
        .join(Role, Role.key == Membership.role_key)
        .where(
            ApiToken.token_hash == bindparam("token_hash"),
            ApiToken.revoked_at.is_(None),
            Membership.status == MembershipStatus.ACTIVE,
            User.is_active.is_(True),
        )
        .options(
            contains_eager(Membership.user),
            lazyload(Membership.tenant),  # g.tenant: found in the identity map when used
            lazyload(ApiToken.user),  # the member's user, likewise
        )
    )
    if with_tenant:
        stmt = stmt.add_columns(Tenant).join(Tenant, Tenant.id == ApiToken.tenant_id)
        stmt = stmt.where(Tenant.id == bindparam("tenant_id"), Tenant.slug == bindparam("slug"))
    return stmt


def _caller(
    raw: str, *, slug: str | None = None
) -> tuple[Tenant | None, ApiToken, Membership, str] | None:
    """The token's row with its membership, user and role (and with ``slug``, the tenant in
    context if that is its slug); the same statement sets ``app.user_id``. The ORM adds the
    tenant criteria to every tenant table of it, as to any query."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    tenant_id = current_tenant_id()
    values = {"token_hash": hash_token(raw), "guc_tenant_id": str(tenant_id)}
    if slug is not None:
        values.update(tenant_id=tenant_id, slug=slug)
    row = db.session.execute(_caller_statement(slug is not None), values).first()
    if row is None:
        return None
    token, member, scope = row.ApiToken, row.Membership, row.data_scope
    tenant = row.Tenant if slug is not None else None
    applied(db.session, tenant_id, member.user_id)
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        token.last_used_at = now  # written at most every few minutes to spare the database
        db.session.commit()
    return tenant, token, member, scope


#: What saving a possible duplicate customer, contact or lead does (``saas.crm.duplicates``).
DUPLICATE_POLICIES = ("warn", "block")


def _quote_threshold(raw: Decimal | str | int) -> Decimal | None:
    """A discount threshold in percent (0–100, two decimals), or ``None`` when it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, (Decimal, str, int)):
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or not 0 <= value <= 100 or value != value.quantize(Decimal("0.01")):
        return None
    return value.quantize(Decimal("0.01"))


def update_settings(
    actor: Membership,
    *,
    name: str | None = None,
    default_locale: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
    duplicate_policy: str | None = None,
    pool_return_days: int | None = None,
    pool_owner_cap: int | None = None,
    pool_review_days: int | None = None,
    pool_exempt_stages: list[str] | None = None,
    pool_reclaim_days: int | None = None,
    quote_discount_threshold: Decimal | str | int | None = None,
    recycle_days: int | None = None,
) -> Tenant:
    from saas.crm import pool  # the public pool's rules are checked where they are applied

    require_admin(actor)
    tenant = db.session.get(Tenant, actor.tenant_id)
    errors: dict[str, list[str]] = {}
    before = {
        "name": tenant.name,
        "default_locale": tenant.default_locale,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "duplicate_policy": tenant.duplicate_policy,
        **pool.settings_of(tenant),
        "quote_discount_threshold": str(tenant.quote_discount_threshold),
        "recycle_days": tenant.recycle_days,
    }
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            errors["name"] = [_("Enter a company name of at most 200 characters.")]
        else:
            tenant.name = name
    if default_locale is not None:
        if default_locale not in SUPPORTED_LOCALES:
            errors["default_locale"] = [_("Choose a supported language.")]
        else:
            tenant.default_locale = default_locale
    if timezone is not None:
        if timezone not in available_timezones():
            errors["timezone"] = [_("Choose a valid time zone.")]
        else:
            tenant.timezone = timezone
    if currency is not None:
        if currency not in SUPPORTED_CURRENCIES:
            errors["currency"] = [_("Choose a supported currency.")]
        else:
            tenant.currency = currency
    if duplicate_policy is not None:
        if duplicate_policy not in DUPLICATE_POLICIES:
            errors["duplicate_policy"] = [_("Choose warn or block.")]
        else:
            tenant.duplicate_policy = duplicate_policy
    pool.apply_settings(
        tenant,
        {
            "pool_return_days": pool_return_days,
            "pool_owner_cap": pool_owner_cap,
            "pool_review_days": pool_review_days,
            "pool_exempt_stages": pool_exempt_stages,
            "pool_reclaim_days": pool_reclaim_days,
        },
        errors,
    )
    if quote_discount_threshold is not None:
        threshold = _quote_threshold(quote_discount_threshold)
        if threshold is None:
            errors["quote_discount_threshold"] = [
                _("Enter a percent from 0 to 100 with at most two decimals.")
            ]
        else:
            tenant.quote_discount_threshold = threshold
    if recycle_days is not None:
        valid = isinstance(recycle_days, int) and not isinstance(recycle_days, bool)
        if not valid or not 0 <= recycle_days <= 3650:
            errors["recycle_days"] = [_("Enter a whole number of days from 0 to 3650.")]
        else:
            tenant.recycle_days = recycle_days
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    after = {
        "name": tenant.name,
        "default_locale": tenant.default_locale,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "duplicate_policy": tenant.duplicate_policy,
        **pool.settings_of(tenant),
        "quote_discount_threshold": str(tenant.quote_discount_threshold),
        "recycle_days": tenant.recycle_days,
    }
    if after != before:
        audit.record("tenant.settings_changed", "tenant", tenant.id, before=before, after=after)
    db.session.commit()
    return tenant


@dataclass
class Page:
    """One page of a list shown with page numbers."""

    items: list
    page: int
    pages: int
    total: int


def _paged(model, order, page: int, size: int) -> Page:
    total = db.session.execute(select(func.count()).select_from(model)).scalar_one()
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    items = list(
        db.session.execute(
            select(model).order_by(order).limit(size).offset((page - 1) * size)
        ).scalars()
    )
    return Page(items, page, pages, total)


def outbox_page(page: int, size: int = 50) -> Page:
    """The tenant's development outbox, newest first."""
    return _paged(OutboxMessage, OutboxMessage.id.desc(), page, size)


def audit_page(page: int, size: int = 50) -> Page:
    """The tenant's audit trail, newest first."""
    return _paged(AuditEvent, AuditEvent.id.desc(), page, size)


def audit_before(before_id: int | None, limit: int) -> list[AuditEvent]:
    """Audit events older than ``before_id`` (cursor paging for the API)."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditEvent.id < before_id)
    return list(db.session.execute(stmt).scalars())
