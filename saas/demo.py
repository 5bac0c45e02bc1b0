"""The demo company the run command creates so that a fresh checkout has something to log in to."""

from __future__ import annotations

from sqlalchemy import select

from saas.accounts.models import User
from saas.accounts.passwords import hash_password
from saas.extensions import db
from tenants import services
from tenants.context import tenant_context
from tenants.models import Membership, RoleKey

DEMO_COLLEAGUES = (
    ("manager@example.com", "王经理", RoleKey.MANAGER),
    ("sales@example.com", "张三", RoleKey.MEMBER),
    ("viewer@example.com", "Lisa Chen", RoleKey.READ_ONLY),
)


def ensure_demo_tenant(slug: str, email: str, password: str) -> bool:
    """Create the demo company (idempotent). Returns whether anything was created."""
    from saas.app import create_app

    app = create_app()
    with app.app_context(), app.test_request_context():
        if services.tenant_by_slug(slug) is not None:
            return False
        result = services.signup("Kehu 演示公司", slug, email, password, locale="zh_CN")
        with tenant_context(result.tenant.id, db.session, user_id=result.user.id):
            for colleague_email, name, role in DEMO_COLLEAGUES:
                user = db.session.execute(
                    select(User).where(User.email == colleague_email)
                ).scalar_one_or_none()
                if user is None:
                    user = User(
                        email=colleague_email, name=name, password_hash=hash_password(password)
                    )
                    db.session.add(user)
                    db.session.flush()
                db.session.add(Membership(user_id=user.id, role_key=role))
            db.session.commit()
        return True
