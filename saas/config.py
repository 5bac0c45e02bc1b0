"""Configuration read from environment variables (documented in the README)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("KEHU_DATA_DIR", ROOT / ".data"))


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one kept in the data folder across restarts."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def app_database_url(owner_url: str, app_role: str, app_password: str) -> str:
    """The URL the web app uses: same server and database as the owner URL, but the app role."""
    url = make_url(owner_url).set(username=app_role, password=app_password)
    return url.render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    """Force the psycopg 3 driver whatever scheme the operator wrote."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@dataclass
class Settings:
    """Everything the app reads from the environment, resolved once."""

    database_url: str
    redis_url: str
    app_db_role: str = "kehu_app"
    app_db_password: str = "kehu_app"  # noqa: S105 (dev default; set APP_DB_PASSWORD)
    app_database_url: str | None = None
    #: Record lists read through a role without row-level security (see docs/architecture.md,
    #: "Reads for lists"): its own login, SELECT on record tables only.
    list_reader: bool = True
    reader_db_role: str = "kehu_reader"
    reader_db_password: str = "kehu_reader"  # noqa: S105 (dev default; set READER_DB_PASSWORD)
    reader_database_url: str | None = None
    secret_key: str = field(default_factory=_secret_key)
    base_url: str = "http://localhost:8000"
    secure_cookies: bool = False
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = True
    mail_from: str = "Kehu <no-reply@example.com>"
    signup_rate_limit: str = "10 per hour"
    login_rate_limit: str = "20 per 5 minutes"
    statement_timeout_ms: int = 15000
    log_json: bool = True
    queue_prefix: str = "kehu"
    password_hash_profile: str = "rfc9106-low-memory"  # noqa: S105 (a profile name)
    proxy_hops: int = 0
    session_idle_days: int = 14
    session_max_days: int = 30

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": os.environ.get("DATABASE_URL", ""),
            "redis_url": os.environ.get("REDIS_URL", ""),
            "app_db_role": os.environ.get("APP_DB_ROLE", "kehu_app"),
            "app_db_password": os.environ.get("APP_DB_PASSWORD", "kehu_app"),
            "app_database_url": os.environ.get("APP_DATABASE_URL") or None,
            "list_reader": _bool("LIST_READER", True),
            "reader_db_role": os.environ.get("READER_DB_ROLE", "kehu_reader"),
            "reader_db_password": os.environ.get("READER_DB_PASSWORD", "kehu_reader"),
            "reader_database_url": os.environ.get("READER_DATABASE_URL") or None,
            "base_url": os.environ.get("BASE_URL", "http://localhost:8000").rstrip("/"),
            "secure_cookies": _bool("SECURE_COOKIES", False),
            "smtp_host": os.environ.get("SMTP_HOST") or None,
            "smtp_port": int(os.environ.get("SMTP_PORT", "587")),
            "smtp_user": os.environ.get("SMTP_USER") or None,
            "smtp_password": os.environ.get("SMTP_PASSWORD") or None,
            "smtp_tls": _bool("SMTP_TLS", True),
            "mail_from": os.environ.get("MAIL_FROM", "Kehu <no-reply@example.com>"),
            "signup_rate_limit": os.environ.get("SIGNUP_RATE_LIMIT", "10 per hour"),
            "login_rate_limit": os.environ.get("LOGIN_RATE_LIMIT", "20 per 5 minutes"),
            "statement_timeout_ms": int(os.environ.get("STATEMENT_TIMEOUT_MS", "15000")),
            "log_json": _bool("LOG_JSON", True),
            "queue_prefix": os.environ.get("QUEUE_PREFIX", "kehu"),
            "password_hash_profile": os.environ.get("PASSWORD_HASH_PROFILE", "rfc9106-low-memory"),
            "proxy_hops": int(os.environ.get("PROXY_HOPS", "0")),
            "session_idle_days": int(os.environ.get("SESSION_IDLE_DAYS", "14")),
            "session_max_days": int(os.environ.get("SESSION_MAX_DAYS", "30")),
        }
        values.update(overrides)
        if not values["database_url"]:
            raise RuntimeError(
                "DATABASE_URL is not set: start the product with `./dev run`, which provides one"
            )
        if not values["redis_url"]:
            raise RuntimeError("REDIS_URL is not set: start the product with `./dev run`")
        return cls(**values)

    @property
    def runtime_database_url(self) -> str:
        url = self.app_database_url or app_database_url(
            self.database_url, self.app_db_role, self.app_db_password
        )
        return sqlalchemy_url(url)

    @property
    def reader_runtime_url(self) -> str | None:
        """The list reader's URL: given, or made from the owner URL when Kehu provisions roles
        itself; none when lists must read through the app role."""
        if not self.list_reader:
            return None
        if self.reader_database_url:
            return sqlalchemy_url(self.reader_database_url)
        if self.app_database_url:
            return None  # the operator provisions roles: no reader unless one is given
        return sqlalchemy_url(
            app_database_url(self.database_url, self.reader_db_role, self.reader_db_password)
        )

    @property
    def owner_database_url(self) -> str:
        return sqlalchemy_url(self.database_url)

    def flask_config(self) -> dict[str, Any]:
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.runtime_database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_pre_ping": True,
                "connect_args": {
                    "options": f"-c statement_timeout={self.statement_timeout_ms}",
                    "application_name": "kehu",
                },
            },
            "SESSION_COOKIE_SECURE": self.secure_cookies,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_NAME": "kehu_session",
            "REMEMBER_COOKIE_SECURE": self.secure_cookies,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "PERMANENT_SESSION_LIFETIME": 60 * 60 * 24 * self.session_idle_days,
            "WTF_CSRF_TIME_LIMIT": None,
            "BABEL_DEFAULT_LOCALE": "en",
            "BABEL_DEFAULT_TIMEZONE": "UTC",
            "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
            "API_TITLE": "Kehu API",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
            "RATELIMIT_STORAGE_URI": self.redis_url,
            "RATELIMIT_KEY_PREFIX": f"{self.queue_prefix}-rl",
            "RATELIMIT_HEADERS_ENABLED": True,
            # A Redis outage must not turn every limited route into a 500.
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "PASSWORD_HASH_PROFILE": self.password_hash_profile,
            "KEHU_SETTINGS": self,
            "QUERY_TIMEOUT_MS": int(os.environ.get("QUERY_TIMEOUT_MS", "10000")),
            # The largest file attached to a record or uploaded as an asset (20 MiB). There is
            # no global MAX_CONTENT_LENGTH: upload routes set their own limit per request.
            "FILES_MAX_BYTES": int(os.environ.get("FILES_MAX_BYTES", str(20 * 1024 * 1024))),
        }
