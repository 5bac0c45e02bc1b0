"""Account commands: log in and out, revocable sessions, password reset and change, profile."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import available_timezones

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update

from saas import mail
from saas.accounts.models import User, UserSession
from saas.accounts.passwords import check_policy, hash_password, needs_rehash, verify_password
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from tenants.context import tenant_context

RESET_MAX_AGE = 60 * 60  # one hour
_SEEN_EVERY = timedelta(minutes=5)


class LoginFailed(DomainError):
    status = 400
    field = "password"


def _find_user(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email == canonical_email(email))
    ).scalar_one_or_none()


def canonical_email(raw: str) -> str:
    """The form emails are stored in (as signup normalises them), for look-ups by address."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(raw or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return (raw or "").strip().lower()


def authenticate(email: str, password: str) -> User:
    """The user with these credentials, or one message whichever part was wrong."""
    user = _find_user(email)
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None or not user.is_active:
        raise LoginFailed(_("Email or password is incorrect."))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def open_session(user: User, user_agent: str, ip: str) -> str:
    """Record a new browser session and return its id (kept in the signed cookie)."""
    session_id = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            id=session_id, user_id=user.id, user_agent=(user_agent or "")[:300], ip=(ip or "")[:64]
        )
    )
    db.session.commit()
    return session_id


def load_session(session_id: str) -> User | None:
    """The user behind a live session id; ``None`` when revoked, expired, unknown or disabled.

    A session ends after ``session_idle_days`` without use and ``session_max_days`` after login,
    whatever the cookie says.
    """
    row = db.session.get(UserSession, session_id)
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    now = datetime.now(UTC)
    settings = current_app.config["KEHU_SETTINGS"]
    if now - row.last_seen_at > timedelta(
        days=settings.session_idle_days
    ) or now - row.created_at > timedelta(days=settings.session_max_days):
        return None
    if now - row.last_seen_at > _SEEN_EVERY:
        row.last_seen_at = now
        db.session.commit()
    user = row.user
    user.current_session_id = session_id
    return user


def revoke_session(session_id: str) -> None:
    db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    db.session.commit()


def revoke_all_sessions(user_id: int, *, keep: str | None = None) -> None:
    stmt = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep:
        stmt = stmt.where(UserSession.id != keep)
    db.session.execute(stmt.values(revoked_at=datetime.now(UTC)))


def active_sessions(user_id: int) -> list[UserSession]:
    """The user's sessions that still work (not revoked, not expired)."""
    settings = current_app.config["KEHU_SETTINGS"]
    now = datetime.now(UTC)
    return list(
        db.session.execute(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                UserSession.last_seen_at > now - timedelta(days=settings.session_idle_days),
                UserSession.created_at > now - timedelta(days=settings.session_max_days),
            )
            .order_by(UserSession.last_seen_at.desc())
        ).scalars()
    )


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kehu-password-reset")


def _fingerprint(user: User) -> str:
    # Changes whenever the password does, which makes every reset link single-use.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def request_password_reset(email: str, base_url: str) -> None:
    """Mail a reset link if the account exists; say nothing either way."""
    user = _find_user(email)
    if user is None or not user.is_active:
        return
    token = _serializer().dumps({"u": user.id, "f": _fingerprint(user)})
    from tenants.services import memberships_of

    memberships = memberships_of(user.id)
    # Without SMTP the mail lands in the outbox of the person's first company.
    outbox_tenant = memberships[0].tenant_id if memberships else None
    with tenant_context(outbox_tenant, db.session, user_id=user.id):
        mail.send(
            to=user.email,
            subject=_("Reset your Kehu password"),
            body=_(
                "Someone asked to reset the password of your Kehu account.\n\n"
                "Choose a new password: %(link)s\n\n"
                "The link works once and expires in one hour. "
                "If you did not ask for it, ignore this email.",
                link=f"{base_url}/password/reset/{token}",
            ),
            kind="password_reset",
        )
        db.session.commit()


def user_for_reset_token(token: str) -> User:
    try:
        data = _serializer().loads(token, max_age=RESET_MAX_AGE)
    except (BadSignature, SignatureExpired) as exc:
        raise DomainError(_("This reset link is invalid or has expired."), status=400) from exc
    user = db.session.get(User, int(data.get("u", 0)))
    if user is None or not user.is_active or data.get("f") != _fingerprint(user):
        raise DomainError(_("This reset link is invalid or has expired."), status=400)
    return user


def reset_password(token: str, new_password: str) -> User:
    user = user_for_reset_token(token)
    check_policy(new_password, email=user.email)
    _set_password(user, new_password)
    revoke_all_sessions(user.id)
    db.session.commit()
    return user


def _set_password(user: User, new_password: str) -> None:
    user.password_hash = hash_password(new_password)
    user.password_changed_at = datetime.now(UTC)


def change_password(user: User, current: str, new_password: str, keep_session: str | None) -> None:
    """Change the password and end every other session of the user."""
    if not verify_password(user.password_hash, current or ""):
        raise DomainError(_("Your current password is incorrect."), field="current_password")
    check_policy(new_password, email=user.email)
    _set_password(user, new_password)
    revoke_all_sessions(user.id, keep=keep_session)
    db.session.commit()


def update_profile(
    user: User, *, name: str | None = None, locale: str | None = None, timezone: str | None = None
) -> User:
    from tenants.services import SUPPORTED_LOCALES

    errors: dict[str, list[str]] = {}
    if name is not None:
        if len(name.strip()) > 200:
            errors["name"] = [_("Use at most 200 characters.")]
        else:
            user.name = name.strip()
    if locale is not None:
        if locale and locale not in SUPPORTED_LOCALES:
            errors["locale"] = [_("Choose a supported language.")]
        else:
            user.locale = locale or None
    if timezone is not None:
        if timezone and timezone not in available_timezones():
            errors["timezone"] = [_("Choose a valid time zone.")]
        else:
            user.timezone = timezone or None
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    db.session.commit()
    return user
