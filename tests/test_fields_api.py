"""Custom fields through the API: every type, validation, lifecycle, access, limits, caching."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from saas.extensions import db
from tenants.context import tenant_context
from tenants.models import AuditEvent

ONE_OF_EACH = [
    {
        "key": "nickname",
        "type": "text",
        "label": {"en": "Nickname", "zh": "昵称"},
        "max_length": 40,
    },
    {"key": "notes", "type": "long_text", "label": "Notes"},
    {"key": "employees", "type": "integer", "label": "Employees", "min": 0},
    {"key": "score", "type": "decimal", "label": "Score", "precision": 6, "scale": 3},
    {"key": "budget", "type": "currency", "label": "Budget", "currency": "USD"},
    {"key": "discount", "type": "percent", "label": "Discount", "max": "100"},
    {"key": "founded", "type": "date", "label": "Founded"},
    {"key": "next_call", "type": "datetime", "label": "Next call"},
    {"key": "vip", "type": "boolean", "label": "VIP", "default": False},
    {
        "key": "tier",
        "type": "picklist",
        "label": "Tier",
        "values": [
            {"code": "A", "label": {"en": "Key", "zh": "重点"}, "colour": "#d62728"},
            {"code": "B", "label": "Normal"},
        ],
        "default": "B",
    },
    {
        "key": "channels",
        "type": "multi_picklist",
        "label": "Channels",
        "values": ["web", "phone", "fair"],
    },
    {"key": "billing_email", "type": "email", "label": "Billing email"},
    {"key": "hotline", "type": "phone", "label": "Hotline", "region": "CN"},
    {"key": "homepage", "type": "url", "label": "Homepage"},
    {"key": "partner", "type": "lookup", "label": "Partner", "target": "account"},
    {
        "key": "customer_no",
        "type": "auto_number",
        "label": "Customer No.",
        "pattern": "C-{YYYY}-{00000}",
    },
    {
        "key": "budget_per_head",
        "type": "formula",
        "label": "Budget per head",
        "expression": "budget / employees",
    },
]


@pytest.fixture
def company(make_company):
    return make_company()


def base(company) -> str:
    return f"/api/v1/t/{company.slug}/objects/account/fields"


def own(fields: list[dict]) -> list[dict]:
    """The company's own fields, leaving out the system fields every company has."""
    return [f for f in fields if not f["is_system"]]


def test_one_field_of_every_type(company, api):
    client = api(company.token)
    for payload in ONE_OF_EACH:
        response = client.post(base(company), json=payload)
        assert response.status_code == 201, (payload["key"], response.get_json())
        body = response.get_json()
        assert (body["key"], body["type"]) == (payload["key"], payload["type"])
    listed = own(client.get(base(company)).get_json())
    assert [f["key"] for f in listed] == [p["key"] for p in ONE_OF_EACH]
    by_key = {f["key"]: f for f in listed}
    assert (by_key["nickname"]["label_en"], by_key["nickname"]["label_zh"]) == ("Nickname", "昵称")
    assert by_key["nickname"]["options"]["max_length"] == 40
    assert by_key["score"]["options"] == {"precision": 6, "scale": 3, "min": None, "max": None}
    assert by_key["tier"]["default"] == "B"
    assert [v["code"] for v in by_key["tier"]["values"]] == ["A", "B"]
    assert by_key["tier"]["values"][0]["label_zh"] == "重点"
    assert by_key["channels"]["values"][1] == {
        "code": "phone",
        "label_en": "phone",
        "label_zh": "phone",
        "colour": None,
        "active": True,
        "is_system": False,
    }
    assert by_key["vip"]["default"] is False
    assert by_key["customer_no"]["options"]["pattern"] == "C-{YYYY}-{00000}"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"key": "Bad Key", "type": "text", "label": "x"}, "key"),
        ({"key": "id", "type": "text", "label": "x"}, "key"),
        ({"key": "ok_key", "type": "colour", "label": "x"}, "type"),
        ({"key": "ok_key", "type": "text"}, "label"),
        ({"key": "ok_key", "type": "text", "label": "x", "max_length": 5000}, "max_length"),
        ({"key": "ok_key", "type": "text", "label": "x", "shade": "red"}, "shade"),
        ({"key": "ok_key", "type": "integer", "label": "x", "default": "many"}, "default"),
        ({"key": "ok_key", "type": "picklist", "label": "x"}, "values"),
        (
            {"key": "ok_key", "type": "picklist", "label": "x", "values": ["a", "a"]},
            "values.1.code",
        ),
        (
            {
                "key": "ok_key",
                "type": "picklist",
                "label": "x",
                "values": [{"code": "a", "colour": "red"}],
            },
            "values.0.colour",
        ),
        ({"key": "ok_key", "type": "lookup", "label": "x", "target": "spaceship"}, "target"),
        ({"key": "ok_key", "type": "lookup", "label": "x"}, "target"),
        ({"key": "ok_key", "type": "auto_number", "label": "x", "required": True}, "required"),
        ({"key": "ok_key", "type": "formula", "label": "x", "expression": "1 +"}, "expression"),
        (
            {"key": "ok_key", "type": "formula", "label": "x", "expression": "nope * 2"},
            "expression",
        ),
        ({"key": "ok_key", "type": "long_text", "label": "x", "unique": True}, "unique"),
        ({"key": "ok_key", "type": "text", "label": "x", "required": "yes"}, "required"),
    ],
)
def test_invalid_fields_are_400_naming_the_property(company, api, payload, field):
    response = api(company.token).post(base(company), json=payload)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()


def test_duplicate_key_conflicts_even_with_a_deleted_field(company, api):
    client = api(company.token)
    assert (
        client.post(
            base(company), json={"key": "region_code", "type": "text", "label": "Region"}
        ).status_code
        == 201
    )
    again = client.post(base(company), json={"key": "region_code", "type": "integer", "label": "x"})
    assert again.status_code == 409 and "key" in again.get_json()["errors"]
    assert client.delete(f"{base(company)}/region_code").status_code == 204
    assert (
        client.post(
            base(company), json={"key": "region_code", "type": "text", "label": "x"}
        ).status_code
        == 409
    )


def test_unknown_object_is_404(company, api):
    response = api(company.token).get(f"/api/v1/t/{company.slug}/objects/spaceship/fields")
    assert response.status_code == 404


def test_only_admins_change_fields(company, api, add_member, login):
    import re

    member = login(add_member(company, "manager").email)
    page = member.post(f"/t/{company.slug}/tokens", data={"name": "m"}).get_data(as_text=True)
    token = re.search(r'data-testid="new-token">([^<]+)<', page).group(1)
    response = api(token).post(base(company), json={"key": "x_field", "type": "text", "label": "x"})
    assert response.status_code == 403
    assert api(token).get(base(company)).status_code == 200


def test_rename_keeps_the_key_and_is_audited(app, company, api):
    client = api(company.token)
    client.post(base(company), json={"key": "level", "type": "text", "label": "Level"})
    response = client.patch(
        f"{base(company)}/level",
        json={"label": {"en": "Rank", "zh": "级别"}, "help": "How big they are"},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["key"], body["label_en"], body["label_zh"], body["help_zh"]) == (
        "level",
        "Rank",
        "级别",
        "How big they are",
    )
    assert client.patch(f"{base(company)}/level", json={"key": "rank"}).status_code == 400
    assert client.patch(f"{base(company)}/level", json={"type": "integer"}).status_code == 400
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "field.updated")
        ).scalar_one()
        assert event.before["label_en"] == "Level" and event.after["label_en"] == "Rank"
        assert event.target_id == "account.level"


def test_picklist_values_reorder_and_removed_ones_are_deactivated(company, api):
    client = api(company.token)
    client.post(
        base(company),
        json={
            "key": "stage",
            "type": "picklist",
            "label": "Stage",
            "values": ["new", "won", "lost"],
        },
    )
    response = client.patch(
        f"{base(company)}/stage",
        json={
            "values": [
                {"code": "lost", "label": "Lost"},
                {"code": "new", "label": {"en": "New", "zh": "新建"}},
                {"code": "dormant", "label": "Dormant", "colour": "#999999"},
            ]
        },
    )
    assert response.status_code == 200
    values = response.get_json()["values"]
    assert [(v["code"], v["active"]) for v in values] == [
        ("lost", True),
        ("new", True),
        ("dormant", True),
        ("won", False),
    ]
    assert values[1]["label_zh"] == "新建"


def test_reorder_fields(company, api):
    client = api(company.token)
    for key in ("f_one", "f_two", "f_three"):
        client.post(base(company), json={"key": key, "type": "text", "label": key})
    system = [f["key"] for f in client.get(base(company)).get_json() if f["is_system"]]
    order = ["f_three", "f_one", "f_two"]
    response = client.put(f"{base(company)}/order", json={"keys": [*order, *system]})
    assert response.status_code == 200
    assert [f["key"] for f in client.get(base(company)).get_json()] == [*order, *system]
    assert client.put(f"{base(company)}/order", json={"keys": ["f_one"]}).status_code == 400


def test_delete_and_restore(company, api):
    client = api(company.token)
    client.post(base(company), json={"key": "fax", "type": "phone", "label": "Fax"})
    assert client.delete(f"{base(company)}/fax").status_code == 204
    assert [f["key"] for f in own(client.get(base(company)).get_json())] == []
    deleted = client.get(f"{base(company)}?deleted=true").get_json()
    assert [f["key"] for f in deleted] == ["fax"] and deleted[0]["deleted_at"]
    assert client.patch(f"{base(company)}/fax", json={"label": "x"}).status_code == 409
    assert client.delete(f"{base(company)}/fax").status_code == 404
    restored = client.post(f"{base(company)}/fax/restore")
    assert restored.status_code == 200 and restored.get_json()["deleted_at"] is None
    assert [f["key"] for f in own(client.get(base(company)).get_json())] == ["fax"]


def test_a_field_used_by_a_formula_cannot_be_deleted(company, api):
    client = api(company.token)
    client.post(base(company), json={"key": "qty", "type": "integer", "label": "Qty"})
    client.post(
        base(company),
        json={"key": "double_qty", "type": "formula", "label": "2x", "expression": "qty * 2"},
    )
    response = client.delete(f"{base(company)}/qty")
    assert response.status_code == 409 and "double_qty" in response.get_json()["message"]


def test_field_access_per_role(company, api):
    client = api(company.token)
    client.post(base(company), json={"key": "margin", "type": "percent", "label": "Margin"})
    response = client.put(
        f"{base(company)}/margin/access", json={"member": "read_only", "read_only": "hidden"}
    )
    assert response.get_json()["access"] == {"member": "read_only", "read_only": "hidden"}
    response = client.put(f"{base(company)}/margin/access", json={"member": "editable"})
    assert response.get_json()["access"] == {"read_only": "hidden"}
    bad = client.put(
        f"{base(company)}/margin/access",
        json={"admin": "hidden", "wizard": "hidden", "member": "secret"},
    )
    assert set(bad.get_json()["errors"]) == {"admin", "wizard", "member"}


def test_plan_limit_has_a_clear_error(company, api, monkeypatch):
    from custom_fields import services

    monkeypatch.setattr(services, "MAX_FIELDS_PER_OBJECT", 2)
    client = api(company.token)
    for key in ("l_one", "l_two"):
        assert (
            client.post(base(company), json={"key": key, "type": "text", "label": key}).status_code
            == 201
        )
    response = client.post(base(company), json={"key": "l_three", "type": "text", "label": "x"})
    assert response.status_code == 409
    assert "at most 2 custom fields" in response.get_json()["message"]


def test_definitions_cache_follows_changes_from_other_processes(app, company, settings):
    """A change committed by another process is seen by this one's next request."""
    import json
    import os
    import subprocess
    import sys

    from custom_fields.definitions import schemas
    from tenants.services import tenant_by_slug

    def fields_now() -> list[str]:
        with app.test_request_context(), tenant_context(company.tenant_id, db.session):
            tenant = tenant_by_slug(company.slug)
            return [f.key for f in schemas(tenant)["account"].fields]

    system = fields_now()  # the system fields every company has
    assert "from_elsewhere" not in system
    assert fields_now() == system  # served from this process's cache
    script = (
        "import sys, json\n"
        "from saas.app import create_app\n"
        "from saas.config import Settings\n"
        "from custom_fields.services import create_field\n"
        "from tenants.context import tenant_context\n"
        "from tenants import services\n"
        "from saas.extensions import db\n"
        "args = json.loads(sys.argv[1])\n"
        "app = create_app(Settings.from_env(database_url=args['db'], redis_url=args['redis'],"
        " log_json=False))\n"
        "with app.test_request_context(), tenant_context(args['tenant'], db.session):\n"
        "    create_field(services.membership(args['owner']), 'account',"
        " {'key': 'from_elsewhere', 'type': 'text', 'label': 'x'})\n"
    )
    args = json.dumps(
        {
            "db": settings.database_url,
            "redis": settings.redis_url,
            "tenant": company.tenant_id,
            "owner": company.owner_id,
        }
    )
    subprocess.run(
        [sys.executable, "-c", script, args], check=True, env=os.environ.copy(), capture_output=True
    )
    assert fields_now() == [*system, "from_elsewhere"]
