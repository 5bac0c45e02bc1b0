"""System fields: the catalogue every company gets on the standard objects, the changes they
refuse (409 ``system_field``) and allow, the admin pages, the plan limit, and the backfill that
migration 0008 runs for companies that existed before."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from custom_fields.system_fields import CATALOGUE, backfill

SYSTEM_KEYS = {object_key: [f.key for f in fields] for object_key, fields in CATALOGUE.items()}


@pytest.fixture
def company(make_company):
    return make_company()


def fields_url(company, object_key: str = "account") -> str:
    return f"/api/v1/t/{company.slug}/objects/{object_key}/fields"


def listed(client, company, object_key: str) -> dict[str, dict]:
    response = client.get(fields_url(company, object_key))
    assert response.status_code == 200, response.get_json()
    return {f["key"]: f for f in response.get_json()}


def refused(response, field: str, *properties: str) -> dict:
    """A 409 ``system_field`` answer naming ``field`` and each property."""
    body = response.get_json()
    assert response.status_code == 409, body
    assert body["error"] == "system_field" and body["field"] == field, body
    assert set(properties) <= set(body["errors"]), body
    return body


def test_a_new_company_has_every_catalogue_field(company, api):
    client = api(company.token)
    for object_key, entries in CATALOGUE.items():
        fields = listed(client, company, object_key)
        assert list(fields) == SYSTEM_KEYS[object_key], object_key
        for entry in entries:
            field = fields[entry.key]
            where = f"{object_key}.{entry.key}"
            assert field["is_system"] is True, where
            assert field["type"] == entry.type, where
            assert (field["label_en"], field["label_zh"]) == (entry.en, entry.zh), where
            assert field["required"] is entry.required, where
            assert field["active"] is True and field["deleted_at"] is None, where
            if entry.type == "lookup":
                assert field["options"]["target"] == entry.options["target"], where
            if entry.type == "picklist":
                assert [v["code"] for v in field["values"]] == [v.code for v in entry.values]
                assert [v["is_system"] for v in field["values"]] == [
                    v.protected for v in entry.values
                ], where
                assert all(v["active"] for v in field["values"]), where
            else:
                assert field["values"] is None, where
    account = listed(client, company, "account")
    assert account["grade"]["values"][0]["label_zh"] == "A 重点"
    assert account["grade"]["default"] == "C"
    assert account["lifecycle_stage"]["default"] == "potential"
    assert account["website"]["type"] == "url" and account["parent_account"]["type"] == "lookup"
    assert listed(client, company, "product")["tax_rate"]["default"] == "13.00"
    assert listed(client, company, "quote")["revision"]["default"] == 1
    number = listed(client, company, "contract")["number"]
    assert number["options"]["pattern"] == "HT-{YYYY}-{0000}"
    assert number["options"]["reset"] == "yearly"

    # Records use them at once: defaults, required fields, auto-numbers.
    records = f"/api/v1/t/{company.slug}/records"
    customer = client.post(f"{records}/account", json={"name": "Acme", "region": "east"})
    assert customer.status_code == 201, customer.get_json()
    body = customer.get_json()
    assert (body["grade"], body["lifecycle_stage"], body["region"]) == ("C", "potential", "east")
    product = client.post(f"{records}/product", json={"name": "Widget"})
    assert product.status_code == 400 and "code" in product.get_json()["errors"]
    contract = client.post(f"{records}/contract", json={"name": "Deal", "account": body["id"]})
    assert contract.status_code == 201, contract.get_json()
    assert re.fullmatch(r"HT-\d{4}-0001", contract.get_json()["number"])


def test_the_catalogue_passes_the_checks_of_an_admin_request(company, api):
    """Each entry, sent as an admin's create request on a custom object, is accepted and stored
    as the system field is."""
    client = api(company.token)
    objects = f"/api/v1/t/{company.slug}/objects"
    for object_key, entries in CATALOGUE.items():
        probe = f"probe_{object_key}"
        assert client.post(objects, json={"key": probe, "label": probe}).status_code == 201
        system = listed(client, company, object_key)
        for entry in entries:
            response = client.post(fields_url(company, probe), json=entry.payload())
            assert response.status_code == 201, (object_key, entry.key, response.get_json())
            made, kept = response.get_json(), system[entry.key]
            for name in ("type", "label_en", "label_zh", "required", "searchable", "default"):
                assert made[name] == kept[name], (object_key, entry.key, name)
            assert made["options"] == kept["options"], (object_key, entry.key)
            assert made["is_system"] is False


def test_system_fields_cannot_be_deleted_purged_converted_or_rekeyed(company, api):
    client = api(company.token)
    grade = f"{fields_url(company)}/grade"
    body = refused(client.delete(grade), "account.grade", "grade")
    assert "system field" in body["message"]
    refused(client.post(f"{grade}/purge"), "account.grade", "grade")
    refused(client.post(f"{grade}/conversion", json={"type": "text"}), "account.grade")
    refused(client.post(f"{grade}/conversion/preview", json={"type": "text"}), "account.grade")
    refused(client.patch(grade, json={"key": "rank"}), "account.grade", "key")
    refused(client.patch(grade, json={"type": "text"}), "account.grade", "type")
    refused(client.patch(grade, json={"required": True}), "account.grade", "required")
    refused(client.patch(grade, json={"active": False}), "account.grade", "active")
    code = f"{fields_url(company, 'product')}/code"
    refused(client.patch(code, json={"required": False}), "product.code", "required")
    parent = f"{fields_url(company)}/parent_account"
    refused(client.patch(parent, json={"target": "contact"}), "account.parent_account", "target")
    # Several at once are named together; nothing changed.
    body = refused(
        client.patch(grade, json={"key": "x_grade", "required": True, "label": "Rank"}),
        "account.grade",
        "key",
        "required",
    )
    field = listed(client, company, "account")["grade"]
    assert (field["key"], field["type"], field["label_en"]) == ("grade", "picklist", "Grade")
    assert field["required"] is False and field["deleted_at"] is None
    # Sending what the field already has is fine.
    same = client.patch(grade, json={"required": False, "active": True, "label": "Grade"})
    assert same.status_code == 200, same.get_json()


def test_admins_relabel_and_extend_system_picklists(company, api):
    client = api(company.token)
    grade = f"{fields_url(company)}/grade"
    response = client.patch(
        grade,
        json={
            "label": {"en": "Customer grade", "zh": "客户分级"},
            "help": "Reviewed every year",
            "indexed": True,
            "searchable": True,
            "default": "B",
            "values": [
                {"code": "B", "label": {"en": "B — important", "zh": "B 重要"}},
                {
                    "code": "A",
                    "label": {"en": "A — strategic", "zh": "A 战略"},
                    "colour": "#000000",
                },
                {"code": "C", "label": "C"},
                {"code": "D", "label": "D"},
                {"code": "E", "label": {"en": "E — dormant", "zh": "E 休眠"}, "colour": "#aaaaaa"},
            ],
        },
    )
    assert response.status_code == 200, response.get_json()
    field = response.get_json()
    assert (field["label_en"], field["label_zh"], field["help_en"]) == (
        "Customer grade",
        "客户分级",
        "Reviewed every year",
    )
    assert field["indexed"] and field["searchable"] and field["default"] == "B"
    assert [v["code"] for v in field["values"]] == ["B", "A", "C", "D", "E"]
    assert field["values"][1]["label_zh"] == "A 战略" and field["values"][1]["colour"] == "#000000"
    assert [v["is_system"] for v in field["values"]] == [True, True, True, True, False]
    # A value the company added may be retired; one the CRM relies on may not.
    values = [{"code": v["code"], "label": v["label_en"]} for v in field["values"]]
    retired = client.patch(grade, json={"values": [*values[:4], {**values[4], "active": False}]})
    assert retired.status_code == 200, retired.get_json()
    body = refused(
        client.patch(grade, json={"values": [{**values[0], "active": False}, *values[1:]]}),
        "account.grade",
        "values.0.active",
    )
    assert "“B”" in body["errors"]["values.0.active"][0]
    body = refused(client.patch(grade, json={"values": values[1:]}), "account.grade", "values")
    assert "“B”" in body["errors"]["values"][0]
    assert all(v["active"] for v in listed(client, company, "account")["grade"]["values"][:4])

    # Sources protect nothing; opportunity stages protect won and lost only.
    source = listed(client, company, "account")["source"]
    kept = [{"code": v["code"], "label": v["label_en"]} for v in source["values"][:-1]]
    assert client.patch(f"{fields_url(company)}/source", json={"values": kept}).status_code == 200
    assert listed(client, company, "account")["source"]["values"][-1]["active"] is False
    stages = listed(client, company, "opportunity")["stage"]["values"]
    stage = f"{fields_url(company, 'opportunity')}/stage"
    without = [
        {"code": v["code"], "label": v["label_en"]} for v in stages if v["code"] != "proposal"
    ]
    assert client.patch(stage, json={"values": without}).status_code == 200
    without_won = [v for v in without if v["code"] != "won"]
    refused(client.patch(stage, json={"values": without_won}), "opportunity.stage", "values")

    # Order and access work as for any field.
    keys = list(listed(client, company, "account"))
    order = client.put(f"{fields_url(company)}/order", json={"keys": keys[::-1]})
    assert order.status_code == 200
    assert list(listed(client, company, "account")) == keys[::-1]
    access = client.put(f"{fields_url(company)}/grade/access", json={"member": "read_only"})
    assert access.status_code == 200 and access.get_json()["access"] == {"member": "read_only"}


def test_the_plan_limit_counts_only_the_companys_own_fields(company, api, monkeypatch):
    from custom_fields import services

    monkeypatch.setattr(services, "MAX_FIELDS_PER_OBJECT", 2)
    client = api(company.token)
    assert len(SYSTEM_KEYS["account"]) > 2
    for key in ("own_one", "own_two"):
        response = client.post(fields_url(company), json={"key": key, "type": "text", "label": key})
        assert response.status_code == 201, response.get_json()
    response = client.post(
        fields_url(company), json={"key": "own_three", "type": "text", "label": "x"}
    )
    assert response.status_code == 409 and "at most 2" in response.get_json()["message"]


def test_a_system_key_is_taken_for_a_new_field(company, api):
    response = api(company.token).post(
        fields_url(company), json={"key": "grade", "type": "text", "label": "Mine"}
    )
    assert response.status_code == 409 and "key" in response.get_json()["errors"]


def test_admin_pages_mark_system_fields_and_offer_no_delete(company, api, login):
    client = api(company.token)
    client.post(fields_url(company), json={"key": "budget", "type": "currency", "label": "Budget"})
    admin = login(company.owner_email)
    base = f"/t/{company.slug}/admin/objects/account"
    page = admin.get(f"{base}/fields").get_data(as_text=True)
    rows = dict(
        re.findall(r'<tr data-sortable-item data-key="([a-z_]+)".*?>(.*?)</tr>', page, re.S)
    )
    assert set(rows) == {*SYSTEM_KEYS["account"], "budget"}
    for key in SYSTEM_KEYS["account"]:
        assert 'data-testid="system-badge"' in rows[key], key
        assert f"fields/{key}/delete" not in rows[key], key
    assert 'data-testid="system-badge"' not in rows["budget"]
    assert "fields/budget/delete" in rows["budget"]

    edit = admin.get(f"{base}/fields/grade").get_data(as_text=True)
    assert 'data-testid="system-note"' in edit and "Delete this field" not in edit
    assert 'name="required"' not in edit and 'name="active"' not in edit
    assert 'name="label_zh"' in edit and 'name="indexed"' in edit
    assert edit.count('data-testid="system-value"') == 4
    assert '<input type="hidden" name="values-0-active" value="y">' in edit
    assert "Delete this field" in admin.get(f"{base}/fields/budget").get_data(as_text=True)
    lookup = admin.get(f"{base}/fields/parent_account").get_data(as_text=True)
    assert re.search(r'<select[^>]*disabled[^>]*name="opt_target"', lookup) or re.search(
        r'<select[^>]*name="opt_target"[^>]*disabled', lookup
    )

    # A hand-made post is refused by the service and says why.
    response = admin.post(f"{base}/fields/grade/delete", follow_redirects=True)
    assert "system field" in response.get_data(as_text=True)
    assert "grade" in listed(client, company, "account")
    # The edit form still saves what may change.
    form = {"label_zh": "客户分级", "label_en": "Customer grade", "help_zh": "", "help_en": ""}
    response = admin.post(f"{base}/fields/grade", data={**form, "default": "C"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert listed(client, company, "account")["grade"]["label_zh"] == "客户分级"
    # The value editor keeps protected values active; a post without them is refused.
    values = {
        "values-0-code": "A",
        "values-0-label_zh": "A 重点",
        "values-0-label_en": "A — key",
        "values-0-colour": "#d62728",
    }
    response = admin.post(f"{base}/fields/grade/values", data=values)
    assert response.status_code == 409
    assert "cannot be deactivated" in response.get_data(as_text=True)


def owner_engine(settings) -> sa.Engine:
    return sa.create_engine(settings.owner_database_url)


def test_backfill_gives_older_companies_the_system_fields(app, company, api, settings):
    """Imitate a company from before 0008: no system fields, its own ``grade`` field and a
    stored layout. The backfill adds the rest, keeps its grade, places the new fields, bumps the
    metadata version, and does nothing the second time."""
    client = api(company.token)
    engine = owner_engine(settings)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM field_definitions WHERE tenant_id = :t AND is_system"),
                {"t": company.tenant_id},
            )
        assert listed(client, company, "account") == {}
        own = client.post(
            fields_url(company), json={"key": "grade", "type": "text", "label": "Our grade"}
        )
        assert own.status_code == 201
        layout = f"/api/v1/t/{company.slug}/objects/account/layout"
        sections = [{"title_en": "Ours", "title_zh": "我们的", "fields": ["grade"]}]
        assert client.put(layout, json={"sections": sections}).status_code == 200

        with engine.begin() as connection:
            version = connection.execute(
                sa.text("SELECT metadata_version FROM tenants WHERE id = :t"),
                {"t": company.tenant_id},
            ).scalar_one()
            added = backfill(connection)
        expected = sum(len(keys) for keys in SYSTEM_KEYS.values()) - 1
        assert added[company.tenant_id] == expected

        fields = listed(client, company, "account")
        # Appended after the company's own field, in catalogue order.
        assert list(fields) == ["grade", *SYSTEM_KEYS["account"][1:]]
        assert fields["grade"]["is_system"] is False and fields["grade"]["type"] == "text"
        assert fields["grade"]["label_en"] == "Our grade"
        assert all(fields[k]["is_system"] for k in SYSTEM_KEYS["account"][1:])
        assert fields["lifecycle_stage"]["values"][0]["code"] == "potential"
        assert list(listed(client, company, "quote")) == SYSTEM_KEYS["quote"]
        stored = client.get(layout).get_json()
        assert [s["title_en"] for s in stored["sections"]] == ["Ours", "Details"]
        assert stored["sections"][1]["fields"] == SYSTEM_KEYS["account"][1:]
        assert stored["unplaced"] == []
        # Objects without a stored layout keep the default one, which lists every field.
        assert client.get(f"/api/v1/t/{company.slug}/objects/quote/layout").get_json()["default"]
        with engine.connect() as connection:
            after = connection.execute(
                sa.text("SELECT metadata_version FROM tenants WHERE id = :t"),
                {"t": company.tenant_id},
            ).scalar_one()
        assert after == version + 1

        with engine.begin() as connection:
            assert company.tenant_id not in backfill(connection)
        assert len(listed(client, company, "account")) == len(SYSTEM_KEYS["account"])
    finally:
        engine.dispose()


def test_backfill_under_forced_row_level_security(app, company, api, settings):
    """An owner who is not a superuser is bound by the forced policies: the backfill enters each
    tenant itself. Imitated with a role without BYPASSRLS that owns nothing."""
    client = api(company.token)
    engine = owner_engine(settings)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "DELETE FROM field_definitions WHERE tenant_id = :t AND is_system "
                    "AND object_id = (SELECT id FROM object_definitions "
                    "WHERE tenant_id = :t AND key = 'lead')"
                ),
                {"t": company.tenant_id},
            )
        assert listed(client, company, "lead") == {}
        with engine.begin() as connection:
            connection.execute(sa.text(f"SET LOCAL ROLE {settings.app_db_role}"))
            added = backfill(connection)
        assert added.get(company.tenant_id) == len(SYSTEM_KEYS["lead"])
        assert list(listed(client, company, "lead")) == SYSTEM_KEYS["lead"]
    finally:
        engine.dispose()
