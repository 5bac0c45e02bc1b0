"""The REST API under ``/api/v1`` with its OpenAPI document at ``/api/v1/openapi.json``."""

from __future__ import annotations

from flask import Flask

from saas.extensions import api, csrf


def register_api(app: Flask) -> None:
    from saas.api.imports import bp as imports_bp
    from saas.api.list_actions import bp as list_actions_bp
    from saas.api.metadata import bp as metadata_bp
    from saas.api.public import bp as public_bp
    from saas.api.records import bp as records_bp
    from saas.api.teams import bp as teams_bp
    from saas.api.tenant import bp as tenant_bp
    from saas.api.views import bp as views_bp

    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "A tenant API token."}
    )
    csrf.exempt(public_bp)  # token-authenticated or anonymous: no cookies, no CSRF
    csrf.exempt(tenant_bp)
    csrf.exempt(metadata_bp)
    csrf.exempt(records_bp)
    csrf.exempt(imports_bp)
    csrf.exempt(list_actions_bp)
    csrf.exempt(teams_bp)
    csrf.exempt(views_bp)
    api.register_blueprint(public_bp, url_prefix="/api/v1")
    api.register_blueprint(tenant_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(metadata_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(records_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(imports_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(list_actions_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(teams_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(views_bp, url_prefix="/api/v1/t/<slug>")
