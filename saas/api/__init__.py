"""The REST API under ``/api/v1`` with its OpenAPI document at ``/api/v1/openapi.json``."""

from __future__ import annotations

from flask import Flask

from saas.extensions import api, csrf


def register_api(app: Flask) -> None:
    from saas.api.activities import bp as activities_bp
    from saas.api.contracts import bp as contracts_bp
    from saas.api.duplicates import bp as duplicates_bp
    from saas.api.files import bp as files_bp
    from saas.api.history import bp as history_bp
    from saas.api.imports import bp as imports_bp
    from saas.api.leads import bp as leads_bp
    from saas.api.list_actions import bp as list_actions_bp
    from saas.api.merge import bp as merge_bp
    from saas.api.metadata import bp as metadata_bp
    from saas.api.pipeline import bp as pipeline_bp
    from saas.api.pool import bp as pool_bp
    from saas.api.price_lists import bp as price_lists_bp
    from saas.api.print_templates import bp as print_bp
    from saas.api.public import bp as public_bp
    from saas.api.quotes import bp as quotes_bp
    from saas.api.records import bp as records_bp
    from saas.api.related import bp as related_bp
    from saas.api.report_runs import bp as report_runs_bp
    from saas.api.reports import bp as reports_bp
    from saas.api.sharing import bp as sharing_bp
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
    csrf.exempt(duplicates_bp)
    csrf.exempt(pool_bp)
    csrf.exempt(activities_bp)
    csrf.exempt(contracts_bp)
    csrf.exempt(quotes_bp)
    csrf.exempt(leads_bp)
    csrf.exempt(pipeline_bp)
    csrf.exempt(related_bp)
    csrf.exempt(history_bp)
    csrf.exempt(merge_bp)
    csrf.exempt(price_lists_bp)
    csrf.exempt(print_bp)
    csrf.exempt(files_bp)
    csrf.exempt(sharing_bp)
    csrf.exempt(reports_bp)
    csrf.exempt(report_runs_bp)
    api.register_blueprint(public_bp, url_prefix="/api/v1")
    api.register_blueprint(tenant_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(metadata_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(records_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(imports_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(list_actions_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(teams_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(views_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(duplicates_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(pool_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(activities_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(contracts_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(quotes_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(leads_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(pipeline_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(related_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(history_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(merge_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(price_lists_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(print_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(files_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(report_runs_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(sharing_bp, url_prefix="/api/v1/t/<slug>")
    api.register_blueprint(reports_bp, url_prefix="/api/v1/t/<slug>")
