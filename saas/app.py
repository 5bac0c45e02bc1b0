"""The application factory."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from babel import Locale
from flask import Flask, g, has_request_context, request, session
from flask.json.provider import DefaultJSONProvider
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from saas.config import Settings
from saas.errors import register_error_handlers
from saas.extensions import babel, csrf, db, limiter, login_manager, migrate
from saas.logging import configure_logging
from tenants.context import clear

LOCALES = ("zh_CN", "en")


def _select_locale() -> str:
    if not has_request_context():
        return _job_locale()
    if current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    member = g.get("membership")  # an API token's person
    if member is not None and member.user.locale in LOCALES:
        return member.user.locale
    if session.get("locale") in LOCALES:
        return session["locale"]
    tenant = g.get("tenant")
    if tenant is not None and tenant.default_locale in LOCALES:
        return tenant.default_locale
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return "zh_CN" if best and best.startswith("zh") else "en"


def _job_locale() -> str:
    """Outside a request (a worker's job) messages speak the tenant's default language."""
    from saas.extensions import db
    from tenants.context import peek_tenant_id
    from tenants.models import Tenant

    tenant_id = peek_tenant_id()
    tenant = db.session.get(Tenant, tenant_id) if tenant_id is not None else None
    return tenant.default_locale if tenant is not None else "en"


@lru_cache(maxsize=16)
def _parsed_locale(identifier: str) -> Locale:
    return Locale.parse(identifier)


def _babel_locale() -> Locale:
    """The selected locale, parsed once per process (Flask-Babel would parse the name on every
    request, and Babel's parse scans every locale name it knows)."""
    return _parsed_locale(_select_locale())


def _select_timezone() -> str:
    if not has_request_context():
        return "UTC"
    if current_user.is_authenticated and current_user.timezone:
        return current_user.timezone
    member = g.get("membership")
    if member is not None and member.user.timezone:
        return member.user.timezone
    tenant = g.get("tenant")
    return tenant.timezone if tenant is not None else "Asia/Shanghai"


class BigIntIdConverter(IntegerConverter):
    """``<int:…>`` limited to positive 64-bit ids."""

    def __init__(
        self,
        url_map,
        fixed_digits: int = 0,
        min: int = 1,
        max: int = 2**63 - 1,
        signed: bool = False,
    ) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class _JsonProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply for Python's parser is malformed JSON
    (``request.get_json`` answers 400) rather than a RecursionError (500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("The JSON body is nested too deeply.") from None


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build a Kehu app. ``settings`` defaults to the environment; ``overrides`` go to config."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = _JsonProvider(app)
    app.config.update(settings.flask_config())
    app.config.update(overrides)

    if settings.proxy_hops:
        # Behind N trusted proxies, take the client address and scheme from X-Forwarded-*.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_hops,
            x_proto=settings.proxy_hops,
            x_host=settings.proxy_hops,
        )
    configure_logging(app, settings.log_json)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_babel_locale, timezone_selector=_select_timezone)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"

    from saas.accounts.models import User  # noqa: F401  (register models)
    from saas.accounts.services import load_session

    @login_manager.user_loader
    def _load(session_id: str):
        return load_session(session_id)

    import custom_fields.models  # noqa: F401
    import saas.records.models
    import saas.tracked  # noqa: F401
    import tenants.models  # noqa: F401

    # Ids in URLs are BIGINTs: larger numbers are no route (404), never a database error.
    app.url_map.converters["int"] = BigIntIdConverter
    _register_blueprints(app)
    register_error_handlers(app)  # after the API, so these handlers replace flask-smorest's
    _register_template_helpers(app)

    @app.teardown_request
    def _leave_tenant(exc: BaseException | None) -> None:
        clear()

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        return response

    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).parent / "migrations"


def _register_blueprints(app: Flask) -> None:
    from saas.api import register_api
    from saas.health import bp as health_bp
    from saas.web.accounts import bp as accounts_bp
    from saas.web.activities import bp as activities_bp
    from saas.web.admin import bp as admin_bp
    from saas.web.contracts import bp as contracts_bp
    from saas.web.files import bp as files_bp
    from saas.web.imports import bp as imports_bp
    from saas.web.leads import bp as leads_bp
    from saas.web.list_actions import bp as list_actions_bp
    from saas.web.lookups import bp as lookups_bp
    from saas.web.merge import bp as merge_bp
    from saas.web.pipeline import bp as pipeline_bp
    from saas.web.pool import bp as pool_bp
    from saas.web.price_lists import bp as price_lists_bp
    from saas.web.print_templates import bp as print_templates_bp
    from saas.web.quotes import bp as quotes_bp
    from saas.web.records import bp as records_bp
    from saas.web.related import bp as related_bp
    from saas.web.reports import bp as reports_bp
    from saas.web.sharing import bp as sharing_bp
    from saas.web.teams import bp as teams_bp
    from saas.web.tenant import bp as tenant_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(tenant_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(records_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(list_actions_bp)
    app.register_blueprint(teams_bp)
    app.register_blueprint(lookups_bp)
    app.register_blueprint(pool_bp)
    app.register_blueprint(activities_bp)
    app.register_blueprint(contracts_bp)
    app.register_blueprint(quotes_bp)
    app.register_blueprint(leads_bp)
    app.register_blueprint(pipeline_bp)
    app.register_blueprint(merge_bp)
    app.register_blueprint(related_bp)
    app.register_blueprint(price_lists_bp)
    app.register_blueprint(print_templates_bp)
    app.register_blueprint(files_bp)
    app.register_blueprint(sharing_bp)
    app.register_blueprint(reports_bp)
    register_api(app)


def _register_template_helpers(app: Flask) -> None:
    from flask_babel import get_locale

    from tenants.models import ADMIN_ROLES, role_label

    app.jinja_env.globals["role_label"] = role_label

    def may(action: str, object_key: str) -> bool:
        """Whether the signed-in member's role may ``action`` records of ``object_key``."""
        from tenants import permissions

        member = g.get("membership")
        return member is not None and permissions.allowed(member, object_key, action)

    app.jinja_env.globals["may"] = may
    from saas.records.search import search_terms

    # Options carry their pinyin so typing ``zs`` in a dropdown finds 张三.
    app.jinja_env.filters["search_terms"] = search_terms
    from saas.reports.chart_svg import image as report_chart_image

    # A report's chart as an image the width of the paper (the print preview prints it).
    app.jinja_env.globals["report_chart_image"] = report_chart_image

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        # Babel names the Chinese locale zh_Hans_CN; pages and forms speak of zh_CN.
        locale = "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"
        member = g.get("membership")
        return {
            "current_locale": locale,
            "html_lang": "zh-CN" if locale == "zh_CN" else "en",
            "tenant": g.get("tenant"),
            "membership": member,
            "is_admin": member is not None and member.role_key in ADMIN_ROLES,
        }


@lru_cache(maxsize=1)
def worker_app() -> Flask:
    """The app a worker process uses for its jobs (built once per process)."""
    return create_app()
