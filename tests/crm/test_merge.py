"""Merging duplicate customers, contacts and leads: values chosen per field, lookups repointed in
every object (a custom object's too), replies and pool events moved, the history of both, the
recycle bin, duplicate keys and unique claims, permissions and scope, stale versions, rollback,
two tenants, the web pages, and a property: no lookup ever points at a merged record."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import select

from saas.crm import merge
from saas.crm.models import DuplicateKey
from saas.extensions import db
from saas.records.models import UniqueValue
from tenants import services as tenant_services
from tenants.context import tenant_context

CODE, PHONE = "mg_code", "mg_phone"


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


class Crm:
    """A company with an owner, a manager, two salespeople and a read-only member; a unique
    code and a phone on customers; a custom object ``mg_project`` with a customer lookup."""

    def __init__(self, app, company, api, add_member):
        self.app, self.company, self.slug, self.tid = app, company, company.slug, company.tenant_id
        self.owner = api(company.token)
        self.owner_id = company.owner_id
        self.manager_id = add_member(company, "manager").id
        self.alice_id = add_member(company, "member").id
        self.bob_id = add_member(company, "member").id
        self.viewer_id = add_member(company, "read_only").id
        self.manager = api(_token(app, company, self.manager_id))
        self.alice = api(_token(app, company, self.alice_id))
        self.bob = api(_token(app, company, self.bob_id))
        self.viewer = api(_token(app, company, self.viewer_id))
        fields = self.url("/objects/account/fields")
        for body in (
            {"key": CODE, "type": "text", "label": "Code", "unique": True},
            {"key": PHONE, "type": "phone", "label": "Tel"},
        ):
            assert self.owner.post(fields, json=body).status_code == 201
        response = self.owner.post(
            self.url("/objects"), json={"key": "mg_project", "label": "Project"}
        )
        assert response.status_code == 201, response.get_json()
        response = self.owner.post(
            self.url("/objects/mg_project/fields"),
            json={
                "key": "customer",
                "type": "lookup",
                "label": "Customer",
                "target": "account",
            },
        )
        assert response.status_code == 201, response.get_json()

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def create(self, object_key: str = "account", client=None, **body) -> dict:
        response = (client or self.owner).post(self.url(f"/records/{object_key}"), json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, object_key: str, record_id: int, expect: int = 200) -> dict:
        response = self.owner.get(self.url(f"/records/{object_key}/{record_id}"))
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def preview(self, survivor: dict, *others: dict, client=None, expect: int = 200, **extra):
        response = (client or self.owner).post(
            self.url("/records/account/merge/preview"),
            json={"survivor": survivor["id"], "others": [o["id"] for o in others], **extra},
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def merge(
        self,
        survivor: dict,
        *others: dict,
        client=None,
        expect: int = 200,
        object_key: str = "account",
        choices: dict | None = None,
        versions: dict | None = None,
    ) -> dict:
        records = (survivor, *others)
        response = (client or self.owner).post(
            self.url(f"/records/{object_key}/merge"),
            json={
                "survivor": survivor["id"],
                "others": [o["id"] for o in others],
                "choices": choices or {},
                "expected_versions": versions or {str(r["id"]): r["version"] for r in records},
            },
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def ctx(self):
        return _Ctx(self.app, self.tid)


class _Ctx:
    def __init__(self, app, tid):
        self.app, self.tid = app, tid

    def __enter__(self):
        self.app_ctx = self.app.app_context()
        self.app_ctx.push()
        self.tenant = tenant_context(self.tid, db.session)
        self.tenant.__enter__()

    def __exit__(self, *exc):
        db.session.rollback()
        self.tenant.__exit__(*exc)
        self.app_ctx.pop()


@pytest.fixture
def crm(app, make_company, api, add_member) -> Crm:
    return Crm(app, make_company(), api, add_member)


def _keys(crm: Crm, record_id: int) -> set[tuple[str, str]]:
    with crm.ctx():
        rows = db.session.execute(
            select(DuplicateKey.kind, DuplicateKey.key).where(
                DuplicateKey.object_key == "account", DuplicateKey.record_id == record_id
            )
        )
        return {tuple(r) for r in rows}  # type: ignore[misc]


def _claims(crm: Crm) -> dict[str, int]:
    with crm.ctx():
        return dict(db.session.execute(select(UniqueValue.value, UniqueValue.record_id)).all())


# ---------------------------------------------------------------- the whole merge


def test_merge_moves_everything_to_the_survivor(crm):
    keep = crm.create(name="Acme", tags=["vip"], **{CODE: "A-1", PHONE: "13800138000"})
    pooled = crm.create(name="ACME Co., Ltd.", owner_id=None, tags=["north"], **{CODE: "B-2"})
    claimed = crm.owner.post(crm.url(f"/pool/{pooled['id']}/claim"))
    assert claimed.status_code == 200, claimed.get_json()
    other = crm.get("account", pooled["id"])
    contact = crm.create("contact", name="Li Lei", account=other["id"])
    visit = crm.create("activity", name="Visit", account=other["id"], type="visit")
    deal = crm.create("opportunity", name="Deal", account=other["id"])
    project = crm.create("mg_project", name="Project", customer=other["id"])
    reply = crm.manager.post(crm.url(f"/replies/account/{other['id']}"), json={"body": "Call"})
    assert reply.status_code == 201, reply.get_json()

    preview = crm.preview(keep, other)
    assert [r["id"] for r in preview["records"]] == [keep["id"], other["id"]]
    by_key = {f["key"]: f for f in preview["fields"]}
    assert by_key["name"]["values"] == {str(keep["id"]): "Acme", str(other["id"]): "ACME Co., Ltd."}
    assert by_key[CODE]["values"] == {str(keep["id"]): "A-1", str(other["id"]): "B-2"}
    assert by_key[CODE]["differs"] and by_key[CODE]["default"] == keep["id"]
    moves = {m["key"]: m["count"] for m in preview["moves"]}
    assert moves["contact.account"] == 1
    assert moves["activity.account"] == 1
    assert moves["opportunity.account"] == 1
    assert moves["mg_project.customer"] == 1
    assert moves["replies"] == 1
    assert moves["pool_events"] == 1
    assert preview["tags"] == ["north", "vip"]
    assert preview["needs_manager"] is False

    merged = crm.merge(keep, other, choices={"name": other["id"], CODE: other["id"]})
    assert merged["name"] == "ACME Co., Ltd."
    assert merged[CODE] == "B-2"
    assert merged[PHONE] == "+8613800138000"  # not chosen: the survivor's
    assert merged["tags"] == ["vip", "north"]
    assert merged["owner_id"] == crm.owner_id
    assert merged["version"] > keep["version"]

    # Lookups of every object now name the survivor, each with a new version.
    for object_key, record, key in (
        ("contact", contact, "account"),
        ("activity", visit, "account"),
        ("opportunity", deal, "account"),
        ("mg_project", project, "customer"),
    ):
        now = crm.get(object_key, record["id"])
        assert now[key] == keep["id"], object_key
        assert now["version"] == record["version"] + 1
    thread = crm.owner.get(crm.url(f"/replies/account/{keep['id']}")).get_json()
    assert [r["body"] for r in thread["data"]] == ["Call"]
    history = crm.owner.get(crm.url(f"/accounts/{keep['id']}/ownership")).get_json()
    assert "claim" in [e["kind"] for e in history["events"]]

    # The other is in the bin, marked, and cannot come back.
    crm.get("account", other["id"], expect=404)
    restored = crm.owner.post(crm.url(f"/records/account/{other['id']}/restore"))
    assert restored.status_code == 409, restored.get_json()
    assert "merged" in restored.get_json()["message"]

    # Keys and claims: only the survivor's, for its new values.
    assert _keys(crm, other["id"]) == set()
    assert _keys(crm, keep["id"]) == {("name", "acme"), ("phone", "+8613800138000")}
    assert _claims(crm) == {"b-2": keep["id"]}
    crm.create(name="New", **{CODE: "A-1"})  # the survivor's old code is free again
    taken = crm.owner.post(crm.url("/records/account"), json={"name": "X", CODE: "B-2"})
    assert taken.status_code == 409

    # The history of both: the survivor's includes the other's events.
    with crm.ctx():
        other_row = db.session.execute(
            select(crm_model()).where(crm_model().id == other["id"])
        ).scalar_one()
        assert merge.merged_into(other_row) == keep["id"]
        assert other_row.deleted_at is not None
        assert merge.history_ids("account", keep["id"]) == [keep["id"], other["id"]]
        events = merge.history("account", keep["id"])
        seen = {(e.action, e.target_id) for e in events}
        assert ("record.created", str(other["id"])) in seen
        assert ("record.created", str(keep["id"])) in seen
        assert ("record.merged", str(other["id"])) in seen
        merged_event = next(
            e for e in events if (e.action, e.target_id) == ("record.merged", str(keep["id"]))
        )
        assert merged_event.after["merged"] == [other["id"]]
        assert merged_event.after["choices"] == {"name": other["id"], CODE: other["id"]}
        assert merged_event.after["values"][CODE] == "B-2"
        assert merged_event.actor_user_id == crm.owner_id


def crm_model():
    from saas.records.models import Account

    return Account


def test_pool_dates_take_the_latest_activity(crm):
    from datetime import UTC, datetime

    from sqlalchemy import update

    from saas.records.models import Account

    keep = crm.create(name="Old")
    other = crm.create(name="New")
    with crm.ctx():
        db.session.execute(
            update(Account)
            .where(Account.id == keep["id"])
            .values(last_activity_at=datetime(2024, 1, 1, tzinfo=UTC))
        )
        db.session.execute(
            update(Account)
            .where(Account.id == other["id"])
            .values(last_activity_at=datetime(2025, 3, 1, tzinfo=UTC))
        )
        db.session.commit()
    crm.merge(keep, other)
    with crm.ctx():
        row = db.session.get(Account, (crm.tid, keep["id"]))
        assert row.last_activity_at == datetime(2025, 3, 1, tzinfo=UTC)


# ---------------------------------------------------------------- refusals


def test_bad_input_is_a_400_naming_the_field(crm):
    keep = crm.create(name="One")
    other = crm.create(name="Two")
    base = {"survivor": keep["id"], "expected_versions": {}}
    for body, field in (
        ({**base, "others": []}, "others"),
        ({**base, "others": [keep["id"]]}, "others"),
        ({**base, "others": [other["id"]] * 1 + [1, 2, 3, 4]}, "others"),
        ({**base, "others": [other["id"]]}, "expected_versions"),
        (
            {
                "survivor": keep["id"],
                "others": [other["id"]],
                "choices": {"name": 123},
                "expected_versions": {str(keep["id"]): 1, str(other["id"]): 1},
            },
            "choices.name",
        ),
        (
            {
                "survivor": keep["id"],
                "others": [other["id"]],
                "choices": {"nope": other["id"]},
                "expected_versions": {str(keep["id"]): 1, str(other["id"]): 1},
            },
            "choices.nope",
        ),
    ):
        response = crm.owner.post(crm.url("/records/account/merge"), json=body)
        assert response.status_code == 400, (body, response.get_json())
        assert field in str(response.get_json()["errors"]), response.get_json()
    response = crm.owner.post(
        crm.url("/records/activity/merge/preview"),
        json={"survivor": keep["id"], "others": [other["id"]]},
    )
    assert response.status_code == 404


def test_stale_version_is_409_and_changes_nothing(crm):
    keep = crm.create(name="One")
    other = crm.create(name="Two")
    changed = crm.owner.patch(
        crm.url(f"/records/account/{other['id']}"),
        json={"name": "Two!"},
        headers={"If-Match": f'"v{other["version"]}"'},
    )
    assert changed.status_code == 200
    body = crm.merge(keep, other, expect=409)
    assert "expected_versions" in body["errors"]
    assert crm.get("account", other["id"])["name"] == "Two!"
    assert crm.get("account", keep["id"])["version"] == keep["version"]


def test_a_failure_rolls_everything_back(crm, monkeypatch):
    keep = crm.create(name="Keep", **{CODE: "K"})
    other = crm.create(name="Other", **{CODE: "O"})
    contact = crm.create("contact", name="Han Meimei", account=other["id"])

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(merge, "_repoint", broken)
    crm.owner.client.application.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = crm.owner.post(
            crm.url("/records/account/merge"),
            json={
                "survivor": keep["id"],
                "others": [other["id"]],
                "choices": {CODE: other["id"]},
                "expected_versions": {str(keep["id"]): 1, str(other["id"]): 1},
            },
        )
    finally:
        crm.owner.client.application.config["PROPAGATE_EXCEPTIONS"] = None
    assert response.status_code == 500
    assert crm.get("account", keep["id"])[CODE] == "K"
    assert crm.get("account", keep["id"])["version"] == keep["version"]
    assert crm.get("account", other["id"])["name"] == "Other"
    assert crm.get("contact", contact["id"])["account"] == other["id"]
    assert _claims(crm) == {"k": keep["id"], "o": other["id"]}
    assert _keys(crm, other["id"]) == {("name", "other")}


def test_permissions_owners_and_scope(crm):
    mine = crm.create(name="Mine", client=crm.alice)
    also_mine = crm.create(name="Mine too", client=crm.alice)
    bobs = crm.create(name="Bob's", client=crm.bob)
    crm.preview(mine, also_mine, client=crm.viewer, expect=403)
    crm.merge(mine, also_mine, client=crm.viewer, expect=403)
    # Different owners: salespeople may not, a manager may.
    crm.merge(mine, bobs, client=crm.alice, expect=403)
    assert crm.preview(mine, bobs)["needs_manager"] is True
    # Own scope: a salesperson cannot even see the other's customer.
    response = crm.owner.patch(crm.url("/roles/member"), json={"data_scope": "own"})
    assert response.status_code == 200, response.get_json()
    crm.preview(mine, bobs, client=crm.alice, expect=404)
    crm.merge(mine, bobs, client=crm.alice, expect=404)
    merged = crm.merge(mine, also_mine, client=crm.alice)
    assert merged["owner_id"] == crm.alice_id
    current = crm.get("account", mine["id"])
    crm.merge(current, bobs, client=crm.manager)
    crm.get("account", bobs["id"], expect=404)


def test_contacts_and_leads_merge_too(crm):
    a = crm.create("contact", name="Zhang San")
    b = crm.create("contact", name="张 三")
    visit = crm.create("activity", name="Call", contact=b["id"], type="call")
    merged = crm.merge(a, b, object_key="contact")
    assert merged["id"] == a["id"]
    assert crm.get("activity", visit["id"])["contact"] == a["id"]
    one = crm.create("lead", name="Li")
    two = crm.create("lead", name="Li Lei")
    merged = crm.merge(one, two, object_key="lead", choices={"name": two["id"]})
    assert merged["name"] == "Li Lei"


def test_the_survivor_shows_the_history_of_both(crm):
    a = crm.create("contact", name="Wang Wu")
    b = crm.create("contact", name="王 五")
    crm.merge(a, b, object_key="contact")
    response = crm.owner.get(crm.url(f"/records/contact/{a['id']}/history"))
    assert response.status_code == 200, response.get_json()
    entries = response.get_json()["entries"]
    created = {e["changes"][0]["new"] for e in entries if e["action"] == "record.created"}
    assert created == {"Wang Wu", "王 五"}  # the survivor's own creation and the merged record's
    assert "Merged with a duplicate" in {e["label"] for e in entries}


def test_two_tenants(app, make_company, api, add_member):
    a = Crm(app, make_company(), api, add_member)
    b = Crm(app, make_company(), api, add_member)
    a_one = a.create(name="A one")
    b_one = b.create(name="B one")
    b_two = b.create(name="B two")
    a.preview(b_one, b_two, expect=404)
    a.merge(b_one, b_two, expect=404)
    a.merge(a_one, b_two, expect=404)
    response = a.owner.post(
        b.url("/records/account/merge"),
        json={"survivor": b_one["id"], "others": [b_two["id"]], "expected_versions": {}},
    )
    assert response.status_code in (401, 403, 404)
    assert b.get("account", b_two["id"])["version"] == b_two["version"]
    assert b.get("account", b_one["id"])["version"] == b_one["version"]


# ---------------------------------------------------------------- property


@hypothesis.settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    links=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=6),
    merged=st.sets(st.integers(min_value=1, max_value=3), min_size=1, max_size=3),
)
def test_no_lookup_points_at_a_merged_record(crm, links, merged):
    """Whatever points where, after a merge no record of the company names a merged one."""
    from saas.records.models import Activity, Contact, CustomRecord

    accounts = [crm.create(name=f"Acc {i}") for i in range(4)]
    for n, target in enumerate(links):
        record_id = accounts[target]["id"]
        kind = n % 3
        if kind == 0:
            crm.create("contact", name=f"C{n}", account=record_id)
        elif kind == 1:
            crm.create("activity", name=f"A{n}", account=record_id, type="visit")
        else:
            crm.create("mg_project", name=f"P{n}", customer=record_id)
    others = [accounts[i] for i in sorted(merged)]
    crm.merge(accounts[0], *others)
    gone = {str(o["id"]) for o in others}
    with crm.ctx():
        for model, key in ((Contact, "account"), (Activity, "account"), (CustomRecord, "customer")):
            values = db.session.execute(select(model.data[key].astext)).scalars()
            assert not gone & set(values), model


# ---------------------------------------------------------------- web


def test_web_merge_page(crm, login):
    keep = crm.create(name="Web keep", **{CODE: "W1"})
    other = crm.create(name="Web other", **{CODE: "W2"})
    ui = login(crm.company.owner_email)
    base = f"/t/{crm.slug}/o/account/merge"
    twin = crm.create(name="WEB KEEP")
    single = ui.get(base, query_string={"ids": keep["id"]})
    assert single.status_code == 200
    assert f'value="{twin["id"]}"' in single.get_data(as_text=True)
    page = ui.get(base, query_string=[("ids", keep["id"]), ("ids", other["id"])])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Web other" in html and "W2" in html and 'name="choice-mg_code"' in html
    detail = ui.get(f"/t/{crm.slug}/o/account/{keep['id']}").get_data(as_text=True)
    assert base in detail
    listing = ui.get(f"/t/{crm.slug}/o/account/").get_data(as_text=True)
    assert 'data-testid="bulk-merge"' in listing
    unconfirmed = ui.post(base, data={"survivor": keep["id"], "ids": [keep["id"], other["id"]]})
    assert unconfirmed.status_code == 400
    assert "Web other" in unconfirmed.get_data(as_text=True)
    done = ui.post(
        base,
        data={
            "survivor": keep["id"],
            "ids": [keep["id"], other["id"]],
            f"version-{keep['id']}": keep["version"],
            f"version-{other['id']}": other["version"],
            "choice-mg_code": other["id"],
            "choice-name": keep["id"],
            "confirm": "1",
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    assert done.headers["Location"].endswith(f"/o/account/{keep['id']}")
    assert crm.get("account", keep["id"])[CODE] == "W2"
    # In the recycle bin the merged record points at its survivor instead of offering Restore.
    bin_page = ui.get(f"/t/{crm.slug}/o/account/bin").get_data(as_text=True)
    assert 'data-testid="merged-into"' in bin_page
    assert f"/o/account/{keep['id']}" in bin_page
