"""Password policy (OWASP ASVS L2) and Argon2id hashing."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

from saas.errors import DomainError

MIN_LENGTH = 8
MAX_LENGTH = 128  # ASVS: at least 64 must be allowed

# argon2-cffi's defaults are the RFC 9106 low-memory profile of Argon2id. The "test" profile is
# still Argon2id, with parameters small enough for a test suite that logs in thousands of times.
PROFILES = {
    "rfc9106-low-memory": PasswordHasher(),
    "test": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
}


def _hasher() -> PasswordHasher:
    profile = current_app.config.get("PASSWORD_HASH_PROFILE") if has_app_context() else None
    return PROFILES[profile or "rfc9106-low-memory"]


@lru_cache(maxsize=len(PROFILES))
def _dummy_hash(profile: int) -> str:
    """A hash to verify against when the account does not exist, so timing does not reveal it."""
    return _hasher().hash("not-a-real-password-kehu")


class WeakPassword(DomainError):
    status = 400
    field = "password"


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def normalise(password: str) -> str:
    """NFKC so that the same password typed on different keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, *, email: str | None = None, company: str | None = None) -> None:
    """Raise :class:`WeakPassword` with a user-facing message; no composition rules (ASVS 2.1.9)."""
    password = normalise(password or "")
    if len(password) < MIN_LENGTH:
        raise WeakPassword(str(_l("Password must be at least %(n)d characters.", n=MIN_LENGTH)))
    if len(password) > MAX_LENGTH:
        raise WeakPassword(str(_l("Password must be at most %(n)d characters.", n=MAX_LENGTH)))
    lowered = password.lower()
    if lowered in _common_passwords():
        raise WeakPassword(str(_l("This password is too common. Choose another one.")))
    contextual = {
        (email or "").lower(),
        (email or "").split("@")[0].lower(),
        (company or "").lower(),
    }
    if lowered in contextual - {""}:
        raise WeakPassword(str(_l("Password must not be your email or company name.")))


def hash_password(password: str) -> str:
    return _hasher().hash(normalise(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time check; a missing account still spends the same hashing work."""
    try:
        hasher = _hasher()
        return hasher.verify(
            password_hash or _dummy_hash(id(hasher)), normalise(password)
        ) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)
