"""Duplicate customers, contacts and leads: keys kept through create, update, delete, restore,
import, bulk delete and the rebuild job; the check API; warn and block; data scope and hidden
fields; two tenants; the record form's "Save anyway"."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import delete, select

from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import tenant_context

PHONE, MAIL = "dup_phone", "dup_mail"
OBJECTS = ("account", "contact", "lead")


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


class Crm:
    def __init__(self, app, company, rest):
        self.app = app
        self.company = company
        self.rest = rest
        self.slug = company.slug

    def api(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def create(self, object_key: str = "account", expect: int = 201, client=None, **body):
        response = (client or self.rest).post(self.api(f"/records/{object_key}"), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def patch(self, object_key: str, record: dict, expect: int = 200, query: str = "", **body):
        response = self.rest.patch(
            self.api(f"/records/{object_key}/{record['id']}{query}"),
            json=body,
            headers={"If-Match": f'"v{record["version"]}"'},
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def check(self, object_key: str, values: dict, client=None, expect: int = 200, **extra):
        response = (client or self.rest).post(
            self.api(f"/records/{object_key}/duplicates"), json={"values": values, **extra}
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def policy(self, value: str) -> None:
        response = self.rest.patch(self.api("/settings"), json={"duplicate_policy": value})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["duplicate_policy"] == value

    def stored_keys(self, object_key: str | None = None) -> set[tuple[str, int, str, str]]:
        from saas.crm.models import DuplicateKey

        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            stmt = select(
                DuplicateKey.object_key, DuplicateKey.record_id, DuplicateKey.kind, DuplicateKey.key
            )
            if object_key is not None:
                stmt = stmt.where(DuplicateKey.object_key == object_key)
            return {tuple(row) for row in db.session.execute(stmt)}  # type: ignore[misc]

    def keys_of(self, object_key: str, record_id: int) -> set[tuple[str, str]]:
        return {(k, v) for o, r, k, v in self.stored_keys(object_key) if r == record_id}


def _fields(rest, slug: str) -> None:
    for object_key in OBJECTS:
        base = f"/api/v1/t/{slug}/objects/{object_key}/fields"
        for payload in (
            {"key": PHONE, "type": "phone", "label": {"en": "Tel", "zh": "电话号码"}},
            {"key": MAIL, "type": "email", "label": {"en": "Mail", "zh": "邮件地址"}},
        ):
            response = rest.post(base, json=payload)
            assert response.status_code == 201, response.get_json()
    lead_fields = f"/api/v1/t/{slug}/objects/lead/fields"
    existing = {f["key"] for f in rest.get(lead_fields).get_json()}
    if "company" not in existing:  # the CRM's own lead field, where it exists already
        payload = {"key": "company", "type": "text", "label": {"en": "Company", "zh": "公司"}}
        assert rest.post(lead_fields, json=payload).status_code == 201


@pytest.fixture
def crm(app, make_company, api) -> Crm:
    company = make_company()
    rest = api(company.token)
    _fields(rest, company.slug)
    return Crm(app, company, rest)


@pytest.fixture(autouse=True)
def _import_dir(app, tmp_path):
    before = app.config.get("IMPORT_DIR")
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    yield
    app.config["IMPORT_DIR"] = before


# ---- keys kept with the records -----------------------------------------------------------------


def test_keys_follow_create_update_delete_and_restore(crm):
    account = crm.create(
        name="北京字节跳动科技有限公司", **{PHONE: "+86 138-0013-8000", MAIL: "Buyer@Example.com"}
    )
    assert crm.keys_of("account", account["id"]) == {
        ("name", "北京字节跳动科技"),
        ("phone", "+8613800138000"),
        ("email", "buyer@example.com"),
    }
    changed = crm.patch("account", account, name="字节跳动 Co., Ltd.", **{MAIL: None})
    assert crm.keys_of("account", account["id"]) == {
        ("name", "字节跳动"),
        ("phone", "+8613800138000"),
    }
    assert crm.rest.delete(crm.api(f"/records/account/{account['id']}")).status_code == 204
    assert crm.keys_of("account", account["id"]) == set()
    restored = crm.rest.post(crm.api(f"/records/account/{account['id']}/restore"))
    assert restored.status_code == 200
    assert crm.keys_of("account", account["id"]) == {
        ("name", "字节跳动"),
        ("phone", "+8613800138000"),
    }
    assert changed["version"] == 2

    contact = crm.create("contact", name="张 三", **{PHONE: "13900139000"})
    assert crm.keys_of("contact", contact["id"]) == {("name", "张三"), ("phone", "+8613900139000")}
    lead = crm.create("lead", name="Li Lei", company="ＡＢＣ有限公司")
    assert crm.keys_of("lead", lead["id"]) == {("name", "li lei"), ("company", "abc")}
    crm.create("opportunity", name="Big deal")
    assert {o for o, *_ in crm.stored_keys()} == {"account", "contact", "lead"}


def test_bulk_delete_removes_keys_and_restore_brings_them_back(crm):
    ids = [crm.create(name=f"Bulk {i}", **{PHONE: f"1380013800{i}"})["id"] for i in range(3)]
    response = crm.rest.post(
        crm.api("/records/account/bulk"), json={"action": "delete", "ids": ids[:2]}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["updated"] == 2
    assert {r for _o, r, *_ in crm.stored_keys("account")} == {ids[2]}
    crm.rest.post(crm.api(f"/records/account/{ids[0]}/restore"))
    assert crm.keys_of("account", ids[0]) == {("name", "bulk0"), ("phone", "+8613800138000")}
    # A record in the recycle bin is no duplicate.
    found = crm.check("account", {"name": "BULK 1", PHONE: "13800138001"})
    assert found == {"data": [], "hidden": 0}


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _import(crm, drain_jobs, rows, object_key: str = "account", **choices) -> tuple[str, dict]:
    base = crm.api(f"/records/{object_key}/imports")
    upload = crm.rest.post(
        base,
        data={"file": (io.BytesIO(_csv(rows)), "data.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    import_id = upload.get_json()["id"]
    preview = crm.rest.post(f"{base}/{import_id}/preview", json=choices)
    assert preview.status_code == 200, preview.get_json()
    assert crm.rest.post(f"{base}/{import_id}/run", json={}).status_code == 202
    drain_jobs()
    status = crm.rest.get(f"{base}/{import_id}").get_json()
    assert status["status"] == "succeeded", status
    return import_id, {"preview": preview.get_json(), "result": status["result"]}


def test_import_skips_possible_duplicates_and_writes_keys(crm, drain_jobs):
    existing = crm.create(name="Acme Co., Ltd.", **{PHONE: "13800138000"})
    rows = [
        ["Name", "Tel", "Mail"],
        ["ACME", "", ""],  # the name of an existing customer
        ["Beta Ltd", "+86 138 0013 8000", ""],  # its phone
        ["Gamma", "13900139000", "g@example.com"],
        ["Gamma 有限公司", "", ""],  # the name of row 4 of this file
        ["Delta", "", "G@Example.com"],  # row 4's email
        ["Epsilon", "", ""],
    ]
    mapping = {"Name": "name", "Tel": PHONE, "Mail": MAIL}
    import_id, run = _import(crm, drain_jobs, rows, mapping=mapping, match_on=None, policy="skip")
    preview = {r["row"]: r for r in run["preview"]["rows"]}
    assert [preview[n]["action"] for n in range(2, 8)] == [
        "skip",
        "skip",
        "create",
        "skip",
        "skip",
        "create",
    ]
    assert preview[2]["note"] and preview[2]["errors"] == {
        "Name": ["Customer “Acme Co., Ltd.” has the same name."]
    }
    assert preview[3]["errors"] == {"Tel": ["Customer “Acme Co., Ltd.” has the same phone."]}
    assert preview[5]["errors"] == {"Name": ["Row 4 of this file has the same name."]}
    assert preview[6]["errors"] == {"Mail": ["Row 4 of this file has the same email."]}
    assert run["result"] == {"created": 2, "updated": 0, "skipped": 4, "failed": 0}
    report = crm.rest.get(crm.api(f"/records/account/imports/{import_id}/errors.csv"))
    lines = list(csv.reader(io.StringIO(report.get_data().decode("utf-8-sig"))))[1:]
    assert [line[0] for line in lines] == ["2", "3", "5", "6"]
    assert lines[1][1:] == [
        "Tel",
        "'+86 138 0013 8000",  # the report keeps spreadsheets from reading a formula
        "Customer “Acme Co., Ltd.” has the same phone.",
    ]
    names = {
        r["name"]: r["id"] for r in crm.rest.get(crm.api("/records/account")).get_json()["data"]
    }
    assert set(names) == {"Acme Co., Ltd.", "Gamma", "Epsilon"}
    assert crm.keys_of("account", names["Gamma"]) == {
        ("name", "gamma"),
        ("phone", "+8613900139000"),
        ("email", "g@example.com"),
    }
    assert crm.keys_of("account", names["Epsilon"]) == {("name", "epsilon")}

    # "create" imports possible duplicates anyway, with their keys; "update" moves keys.
    _, run = _import(
        crm, drain_jobs, [["Name"], ["ACME"]], mapping={"Name": "name"}, policy="create"
    )
    assert run["result"]["created"] == 1
    assert len([k for k in crm.stored_keys("account") if k[2:] == ("name", "acme")]) == 2
    _, run = _import(
        crm,
        drain_jobs,
        [["Name", "Tel"], ["Acme Co., Ltd.", "13700137000"]],
        mapping={"Name": "name", "Tel": PHONE},
        match_on="name",
        policy="update",
    )
    assert run["result"]["updated"] == 1
    assert crm.keys_of("account", existing["id"]) == {("name", "acme"), ("phone", "+8613700137000")}


def test_the_rebuild_job_recomputes_every_key(crm, drain_jobs, add_member, app):
    crm.create(name="重建有限公司", **{PHONE: "13800138000"})
    crm.create("contact", name="Rebuilt Person", **{MAIL: "r@example.com"})
    crm.create("lead", name="Lead One", company="重建")
    gone = crm.create(name="In the bin")
    crm.rest.delete(crm.api(f"/records/account/{gone['id']}"))
    kept = crm.stored_keys()
    assert len(kept) == 6
    from saas.crm.models import DuplicateKey

    with app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        db.session.execute(delete(DuplicateKey))
        db.session.add(
            DuplicateKey(object_key="account", record_id=gone["id"], kind="name", key="x")
        )
        db.session.commit()
    assert crm.stored_keys() == {("account", gone["id"], "name", "x")}
    response = crm.rest.post(crm.api("/duplicates/rebuild"))
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    drain_jobs()
    job = crm.rest.get(crm.api(f"/jobs/{job_id}")).get_json()
    assert job["status"] == "succeeded" and job["result"] == {"records": 3, "keys": 6}
    assert crm.stored_keys() == kept
    member = add_member(crm.company, "member")
    member_api = crm.rest.__class__(_token(app, crm.company, member.id))
    assert member_api.post(crm.api("/duplicates/rebuild")).status_code == 403


# ---- the check ----------------------------------------------------------------------------------


def test_the_check_finds_customers_contacts_and_leads(crm):
    account = crm.create(name="北京字节跳动科技有限公司", **{MAIL: "info@bytedance.example"})
    contact = crm.create("contact", name="王五", **{PHONE: "13800138000"})
    lead = crm.create("lead", name="赵六", company="字节跳动 Ltd", **{PHONE: "13900139000"})

    found = crm.check("account", {"name": "北京字节跳动科技 有限责任公司"})
    assert found["hidden"] == 0
    (only,) = found["data"]
    assert only == {
        "object": "account",
        "id": account["id"],
        "name": "北京字节跳动科技有限公司",
        "owner_id": crm.company.owner_id,
        "owner": crm.company.owner_email,
        "matched": ["name"],
    }
    # A lead: its company against customers, its phone against contacts and leads.
    found = crm.check(
        "lead",
        {"name": "李四", PHONE: "138 0013 8000", "company": "北京字节跳动科技", MAIL: ""},
    )
    assert [(c["object"], c["id"], c["matched"]) for c in found["data"]] == [
        ("account", account["id"], ["company"]),
        ("contact", contact["id"], ["phone"]),
    ]
    found = crm.check("lead", {"company": "字节跳动有限公司"})
    assert [(c["object"], c["id"]) for c in found["data"]] == [("lead", lead["id"])]
    found = crm.check("contact", {"name": "Someone", PHONE: "+86 139 0013 9000"})
    assert [(c["object"], c["id"], c["matched"]) for c in found["data"]] == [
        ("lead", lead["id"], ["phone"])
    ]
    # Records of the object being checked come first.
    same_phone = crm.create("contact", name="Other person", **{PHONE: "13900139000"})
    found = crm.check("lead", {PHONE: "13900139000"})
    assert [c["id"] for c in found["data"]] == [lead["id"], same_phone["id"]]
    found = crm.check("contact", {PHONE: "13900139000"})
    assert [c["id"] for c in found["data"]] == [same_phone["id"], lead["id"]]
    # A person's name is not a company's, and the record being edited is left out.
    assert crm.check("contact", {"name": "北京字节跳动科技"})["data"] == []
    assert crm.check("account", {"name": "北京字节跳动科技"}, exclude=account["id"])["data"] == []
    # Several matching values: one candidate listing each, first.
    found = crm.check("account", {"name": "北京字节跳动科技", MAIL: "INFO@bytedance.example"})
    assert found["data"][0]["matched"] == ["name", "email"]


def test_the_check_names_bad_input(crm):
    response = crm.rest.post(crm.api("/records/account/duplicates"), json={"values": "Acme"})
    assert response.status_code == 400 and "values" in response.get_json()["errors"]
    response = crm.rest.post(crm.api("/records/account/duplicates"), json={})
    assert response.status_code == 400 and "values" in response.get_json()["errors"]
    body = crm.check("account", {"nope": "x", "name": 5}, expect=400)
    assert set(body["errors"]) == {"values.nope", "values.name"}
    body = crm.check("account", {"name": "x"}, expect=400, exclude="12")
    assert "exclude" in body["errors"]
    body = crm.check("opportunity", {"name": "x"}, expect=404)
    assert "customers, contacts and leads" in body["message"]
    assert crm.check("account", {"name": "有限公司", PHONE: "12"}) == {"data": [], "hidden": 0}
    nul = {"name": "\u0000", PHONE: "\u0000", MAIL: "a\u0000@example.com"}
    for object_key in OBJECTS:
        assert crm.check(object_key, nul) == {"data": [], "hidden": 0}


def test_at_most_twenty_candidates(crm):
    for i in range(22):
        crm.create("contact", name=f"Switchboard {i}", **{PHONE: "021-62345678"})
    found = crm.check("lead", {PHONE: "+86 21 6234 5678"})
    assert len(found["data"]) == 20 and found["hidden"] == 0
    assert all(c["matched"] == ["phone"] for c in found["data"])


def test_another_tenants_records_never_match(crm, make_company, api):
    other = make_company()
    other_rest = api(other.token)
    _fields(other_rest, other.slug)
    response = other_rest.post(
        f"/api/v1/t/{other.slug}/records/account",
        json={"name": "Bravo Secret Ltd", PHONE: "13800138000", MAIL: "b@example.com"},
    )
    assert response.status_code == 201
    values = {"name": "BRAVO SECRET", PHONE: "13800138000", MAIL: "b@example.com"}
    assert crm.check("account", values) == {"data": [], "hidden": 0}
    created = crm.create(name="Bravo Secret")
    assert "duplicates" not in created
    # The other company sees its own record, never this one.
    found = other_rest.post(
        f"/api/v1/t/{other.slug}/records/account/duplicates", json={"values": values}
    ).get_json()
    assert found["hidden"] == 0 and [c["name"] for c in found["data"]] == ["Bravo Secret Ltd"]


def test_others_customers_are_only_counted_for_a_salesperson_who_sees_own_records(
    crm, add_member, app
):
    response = crm.rest.patch(crm.api("/roles/member"), json={"data_scope": "own"})
    assert response.status_code == 200, response.get_json()
    first, second = add_member(crm.company, "member"), add_member(crm.company, "member")
    first_api = crm.rest.__class__(_token(app, crm.company, first.id))
    second_api = crm.rest.__class__(_token(app, crm.company, second.id))
    taken = crm.create(client=first_api, name="甲乙贸易有限公司", **{PHONE: "13800138000"})

    found = crm.check("account", {"name": "甲乙贸易", PHONE: "13800138000"}, client=second_api)
    assert found == {"data": [], "hidden": 1}
    body = crm.create(client=second_api, name="甲乙贸易")  # warn: saved, and told
    assert body["duplicates"] == [] and body["duplicates_hidden"] == 1
    found = crm.check("account", {"name": "甲乙贸易"}, client=first_api)
    assert [c["id"] for c in found["data"]] == [taken["id"]] and found["hidden"] == 1
    owner_view = crm.check("account", {"name": "甲乙贸易"})
    assert {c["owner"] for c in owner_view["data"]} == {first.email, second.email}

    # A match through a field hidden from the role would reveal its value: counted only.
    fields = crm.api(f"/objects/account/fields/{PHONE}/access")
    assert crm.rest.put(fields, json={"member": "hidden"}).status_code == 200
    crm.create(name="Own but hidden phone", owner_id=second.id, **{PHONE: "13600136000"})
    found = crm.check("account", {"name": "Other", "name_x": None}, client=second_api, expect=400)
    assert "values.name_x" in found["errors"]
    found = crm.check("account", {"name": "Own but hidden phone"}, client=second_api)
    assert [c["name"] for c in found["data"]] == ["Own but hidden phone"]
    response = second_api.post(
        crm.api("/records/account/duplicates"), json={"values": {PHONE: "13600136000"}}
    )
    assert response.status_code == 400  # the field is hidden from the member
    found = crm.check("lead", {PHONE: "13600136000"}, client=second_api)
    assert found == {"data": [], "hidden": 1}


# ---- what a save does ---------------------------------------------------------------------------


def test_warn_saves_and_reports_block_refuses_unless_an_admin_overrides(crm, add_member, app):
    first = crm.create(name="Acme", **{PHONE: "13800138000"})
    assert "duplicates" not in first
    second = crm.create(name="ACME Co., Ltd.")
    assert [c["id"] for c in second["duplicates"]] == [first["id"]]
    assert second["duplicates_hidden"] == 0
    audit = crm.rest.get(crm.api("/audit?limit=20")).get_json()
    saved = next(e for e in audit if e["action"] == "record.duplicate_saved")
    assert saved["target_id"] == str(second["id"]) and saved["after"]["policy"] == "warn"
    assert saved["after"]["candidates"] == [{"object": "account", "id": first["id"]}]

    crm.policy("block")
    assert crm.rest.get(crm.api("/settings")).get_json()["duplicate_policy"] == "block"
    body = crm.create(name="Acme Inc.", expect=409)
    assert body["code"] == "duplicate" and body["message"]
    assert {c["id"] for c in body["duplicates"]} == {first["id"], second["id"]}
    body = crm.create("lead", name="Caller", expect=409, **{PHONE: "+86 138 0013 8000"})
    assert [c["matched"] for c in body["duplicates"]] == [["phone"]]
    listed = crm.rest.get(crm.api("/records/account")).get_json()["data"]
    assert len(listed) == 2 and crm.rest.get(crm.api("/records/lead")).get_json()["data"] == []

    member = add_member(crm.company, "member")
    member_api = crm.rest.__class__(_token(app, crm.company, member.id))
    response = member_api.post(crm.api("/records/account?allow_duplicate=1"), json={"name": "acme"})
    assert response.status_code == 409 and response.get_json()["code"] == "duplicate"
    response = crm.rest.post(crm.api("/records/account?allow_duplicate=1"), json={"name": "acme"})
    assert response.status_code == 201 and len(response.get_json()["duplicates"]) == 2

    # An edit is checked for the values it brings in only.
    other = crm.create(name="Other")
    crm.patch("account", other, expect=409, name="ACME")
    crm.patch("account", other, expect=409, **{PHONE: "13800138000"})
    assert "duplicates" not in crm.patch("account", second, **{MAIL: "x@example.com"})
    changed = crm.patch("account", other, query="?allow_duplicate=1", name="ACME")
    assert len(changed["duplicates"]) == 3

    response = crm.rest.patch(crm.api("/settings"), json={"duplicate_policy": "maybe"})
    assert response.status_code == 400 and "duplicate_policy" in response.get_json()["errors"]


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_the_record_form_shows_candidates_and_saves_anyway(crm, login, add_member, app):
    first = crm.create(name="Acme", **{PHONE: "13800138000"})
    ui = login(crm.company.owner_email)
    url = f"/t/{crm.slug}/o/account"
    response = ui.post(f"{url}/new", data={"name": "ACME Co., Ltd."})
    assert response.status_code == 409
    page = _text(response)
    assert 'data-testid="possible-duplicates"' in page
    assert f'href="{url}/{first["id"]}"' in page and "Same name" in page
    assert re.search(
        r'<input[^>]*type="checkbox" name="save_anyway" value="1" id="save_anyway"', page
    )
    assert '<label class="form-check-label" for="save_anyway">Save anyway</label>' in page
    assert 'value="ACME Co., Ltd."' in page  # what was typed is kept
    assert len(crm.rest.get(crm.api("/records/account")).get_json()["data"]) == 1

    response = ui.post(f"{url}/new", data={"name": "ACME Co., Ltd.", "save_anyway": "1"})
    assert response.status_code == 302
    records = crm.rest.get(crm.api("/records/account")).get_json()["data"]
    assert len(records) == 2

    other = crm.create(name="Someone else")
    edit = f"{url}/{other['id']}/edit"
    response = ui.post(edit, data={"version": "1", "name": "acme", "has_orig": "1"})
    assert response.status_code == 409 and "save_anyway" in _text(response)
    response = ui.post(edit, data={"version": "1", "name": "acme", "save_anyway": "1"})
    assert response.status_code == 302
    # Unchanged name and phone: nothing to ask.
    response = ui.post(edit, data={"version": "2", "name": "acme", f"field-{PHONE}": ""})
    assert response.status_code == 302

    # Blocked: a member is told, without a way to save anyway; an admin may.
    crm.policy("block")
    member = add_member(crm.company, "member")
    person = login(member.email)
    response = person.post(f"{url}/new", data={"name": "Acme", "save_anyway": "1"})
    assert response.status_code == 409
    page = _text(response)
    assert "Only owners and administrators may save it anyway." in page
    assert 'name="save_anyway"' not in page
    assert ui.post(f"{url}/new", data={"name": "Acme", "save_anyway": "1"}).status_code == 302


def test_the_settings_page_sets_the_policy(crm, login):
    ui = login(crm.company.owner_email)
    page = _text(ui.get(f"/t/{crm.slug}/settings"))
    assert 'name="duplicate_policy"' in page and '<option selected value="warn">' in page
    form = {
        "name": crm.company.name,
        "default_locale": "en",
        "timezone": "Asia/Shanghai",
        "currency": "CNY",
        "duplicate_policy": "block",
    }
    assert ui.post(f"/t/{crm.slug}/settings", data=form).status_code == 302
    assert crm.rest.get(crm.api("/settings")).get_json()["duplicate_policy"] == "block"
    # Left out of a post, the policy stays.
    del form["duplicate_policy"]
    assert ui.post(f"/t/{crm.slug}/settings", data=form).status_code == 302
    assert crm.rest.get(crm.api("/settings")).get_json()["duplicate_policy"] == "block"
    response = ui.post(f"/t/{crm.slug}/settings", data={**form, "duplicate_policy": "maybe"})
    assert response.status_code == 400 and "Choose warn or block." in _text(response)
