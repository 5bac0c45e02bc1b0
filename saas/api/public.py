"""Anonymous API: signup."""

from __future__ import annotations

from saas.api.blueprint import ApiBlueprint as Blueprint
from saas.api.schemas import SignupIn, SignupOut
from saas.extensions import limiter
from tenants import services

bp = Blueprint("api_public", __name__, description="Signup")


def _signup_limit() -> str:
    from flask import current_app

    return current_app.config["KEHU_SETTINGS"].signup_rate_limit


@bp.post("/signup")
@limiter.limit(_signup_limit)
@bp.arguments(SignupIn)
@bp.response(201, SignupOut)
def signup(body: dict):
    """Create a company account: tenant, owner, default roles and metadata, owner API token."""
    result = services.signup(
        body["company"], body["slug"], body["email"], body["password"], body.get("locale", "zh_CN")
    )
    return {"tenant": result.tenant, "token": result.token}
