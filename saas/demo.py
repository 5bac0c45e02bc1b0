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
            _demo_customers(result.user.id)
        return True


#: The demo's own fields; grade and industry are system fields (custom_fields/system_fields.py).
DEMO_FIELDS = (
    {
        "key": "annual_budget",
        "type": "currency",
        "label": {"en": "Annual budget", "zh": "年度预算"},
    },
    {"key": "hotline", "type": "phone", "label": {"en": "Hotline", "zh": "服务热线"}},
    {
        "key": "customer_no",
        "type": "auto_number",
        "label": {"en": "Customer No.", "zh": "客户编号"},
        "pattern": "KH-{YYYY}-{0000}",
        "reset": "yearly",
    },
)
DEMO_CUSTOMERS = (
    ("上海明远精密制造有限公司", "A", "manufacturing", "2800000", "021-6888 1234"),
    ("杭州云栈科技有限公司", "A", "it", "1200000", "0571-8765 4321"),
    ("北京华康医疗器械有限公司", "B", "healthcare", "950000", "010-6543 2100"),
    ("深圳前海优选零售有限公司", "B", "retail", "600000", "0755-2233 4455"),
    ("苏州吴中新材料股份有限公司", "C", "manufacturing", "350000", "0512-6677 8899"),
    ("成都天府数码有限公司", "C", "it", "220000", "028-8555 6666"),
    ("Northwind Trading Co., Ltd.", "B", "retail", "480000", "+1 206 555 0100"),
    ("Contoso Health GmbH", "C", "healthcare", "300000", "+49 30 1234567"),
    ("广州南沙港务物流有限公司", "D", "manufacturing", "80000", "020-3456 7890"),
    ("Fabrikam Software Ltd.", "A", "it", "1500000", "+44 20 7946 0000"),
)


def _demo_customers(owner_id: int) -> None:
    """A few custom fields and customers so the demo company is not empty (grade and industry
    are system fields every company has)."""
    from custom_fields.services import create_field
    from saas.records.services import create_record
    from tenants.services import members, membership

    owner = membership(owner_id)
    for field in DEMO_FIELDS:
        create_field(owner, "account", field)
    sellers = [m for m in members() if m.role_key in ("owner", "manager", "member")]
    for index, (name, grade, industry, budget, phone) in enumerate(DEMO_CUSTOMERS):
        create_record(
            owner,
            "account",
            {
                "name": name,
                "grade": grade,
                "industry": industry,
                "annual_budget": {"amount": budget, "currency": "CNY"},
                "hotline": phone,
                "owner_id": sellers[index % len(sellers)].user_id,
                "tags": DEMO_TAGS.get(grade, []),
            },
        )
    _demo_teams_and_views(owner)
    from saas.demo_data import populate

    populate(owner, sellers)


DEMO_TAGS = {"A": ["重点跟进"], "D": ["信用风险"]}


def _demo_teams_and_views(owner) -> None:
    """A sales department with a regional team under it, and two views everyone sees."""
    from saas.records.views import create_view
    from tenants.services import members
    from tenants.teams import create_team, set_member_team

    department = create_team(owner, "销售部")
    east = create_team(owner, "华东区", department.id)
    for member in members():
        if member.role_key == "manager":
            set_member_team(owner, member.user_id, department.id)
        elif member.role_key == "member":
            set_member_team(owner, member.user_id, east.id)
    create_view(
        owner,
        "account",
        {
            "name": "A 级客户",
            "visibility": "tenant",
            "filter": {"field": "grade", "op": "eq", "value": "A"},
            "sort": [{"field": "annual_budget", "dir": "desc"}, {"field": "name"}],
            "columns": [
                {"key": "name"},
                {"key": "annual_budget"},
                {"key": "industry"},
                {"key": "owner_id"},
            ],
        },
    )
    create_view(
        owner,
        "account",
        {
            "name": "按等级看板",
            "visibility": "tenant",
            "layout": "kanban",
            "group_by": "grade",
            "sort": [{"field": "annual_budget", "dir": "desc"}],
        },
    )
