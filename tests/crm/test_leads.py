"""Leads: assignment (manual, round robin under concurrency, by region and team), reassigning,
scoring rules (several operators) and the rescore job, conversion (all records linked, into an
existing customer, twice, rollback on failure), the settings API and the web pages."""

from __future__ import annotations

import re
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import tenant_context


class Crm:
    """One company seen through its owner's API token."""

    def __init__(self, app, company, rest):
        self.app, self.company, self.rest = app, company, rest
        self.slug = company.slug

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def create(self, object_key: str = "lead", expect: int = 201, client=None, **body):
        response = (client or self.rest).post(self.url(f"/records/{object_key}"), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def get(self, object_key: str, record_id: int) -> dict:
        response = self.rest.get(self.url(f"/records/{object_key}/{record_id}"))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def patch(self, object_key: str, record: dict, expect: int = 200, **body) -> dict:
        response = self.rest.patch(
            self.url(f"/records/{object_key}/{record['id']}"),
            json=body,
            headers={"If-Match": f'"v{record["version"]}"'},
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def put(self, path: str, body: dict, expect: int = 200, client=None) -> dict:
        response = (client or self.rest).put(self.url(path), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def count(self, model) -> int:
        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            return db.session.execute(
                select(func.count()).select_from(model).where(model.deleted_at.is_(None))
            ).scalar_one()


@pytest.fixture
def crm(app, make_company, api) -> Crm:
    company = make_company()
    return Crm(app, company, api(company.token))


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


def _team(crm: Crm, name: str, *members: int) -> int:
    team = crm.rest.post(crm.url("/teams"), json={"name": name})
    assert team.status_code == 201, team.get_json()
    team_id = team.get_json()["id"]
    for user_id in members:
        response = crm.rest.patch(crm.url(f"/users/{user_id}"), json={"team_id": team_id})
        assert response.status_code == 200, response.get_json()
    return team_id


# ---- assignment ---------------------------------------------------------------------------------


def test_new_leads_go_round_the_members_in_turn(crm, add_member):
    a, b, c = (add_member(crm.company, "member").id for _ in range(3))
    settings = crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": [a, b, c]})
    assert settings["next_member_id"] == a
    owners = [crm.create(name=f"Lead {i}")["owner_id"] for i in range(5)]
    assert owners == [a, b, c, a, b]
    # Naming an owner keeps it and does not use a turn; "auto" asks for the rule.
    mine = crm.create(name="Mine", owner_id=crm.company.owner_id)
    assert mine["owner_id"] == crm.company.owner_id
    assert crm.create(name="Auto", owner_id="auto")["owner_id"] == c
    # A member who left is skipped.
    response = crm.rest.patch(crm.url(f"/users/{a}"), json={"status": "deactivated"})
    assert response.status_code == 200
    assert [crm.create(name=f"Later {i}")["owner_id"] for i in range(3)] == [b, c, b]
    assert crm.rest.get(crm.url("/settings/lead-assignment")).get_json()["next_member_id"] == c


def test_round_robin_under_concurrent_creations(app, crm, add_member, api):
    members = [add_member(crm.company, "member").id for _ in range(4)]
    crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": members})
    owners: list[int] = []
    errors: list[object] = []
    start = threading.Barrier(8)

    def create(i: int) -> None:
        client = api(crm.company.token)
        start.wait()
        response = client.post(crm.url("/records/lead"), json={"name": f"Rush {i}"})
        if response.status_code != 201:
            errors.append(response.get_json())
        else:
            owners.append(response.get_json()["owner_id"])

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # Each turn went to one lead: every member got exactly two, and the next turn is the first.
    assert Counter(owners) == dict.fromkeys(members, 2)
    assert (
        crm.rest.get(crm.url("/settings/lead-assignment")).get_json()["next_member_id"]
        == (members[0])
    )


def test_by_region_member_team_and_fallback(crm, add_member):
    north, east1, east2, anyone = (add_member(crm.company, "member").id for _ in range(4))
    team = _team(crm, "East sales", east1, east2)
    crm.create(name="Busy", owner_id=east1, status="new")  # east1 has one open lead already
    crm.create(name="Done", owner_id=east2, status="unqualified")  # closed: not counted
    crm.put(
        "/settings/lead-assignment",
        {
            "mode": "by_region",
            "members": [anyone],
            "regions": {"north": {"user_id": north}, "east": {"team_id": team}},
        },
    )
    assert crm.create(name="N", region="north")["owner_id"] == north
    assert crm.create(name="E1", region="east")["owner_id"] == east2  # fewest open leads
    assert crm.create(name="E2", region="east")["owner_id"] == east1  # now a tie: joined first
    assert crm.create(name="S", region="south")["owner_id"] == anyone  # no region rule
    assert crm.create(name="None")["owner_id"] == anyone


def test_manual_mode_keeps_the_creator(crm, add_member):
    member = add_member(crm.company, "member")
    crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": [member.id]})
    crm.put("/settings/lead-assignment", {"mode": "manual", "members": [member.id]})
    assert crm.create(name="Mine")["owner_id"] == crm.company.owner_id


def test_assignment_settings_are_checked(crm, add_member, api, make_company):
    member = add_member(crm.company, "member")
    reader = add_member(crm.company, "read_only")
    stranger = make_company()
    cases = [
        ({"mode": "sometimes"}, "mode"),
        ({"mode": "round_robin", "members": []}, "members"),
        ({"mode": "round_robin", "members": [reader.id]}, "members"),  # cannot work leads
        ({"mode": "round_robin", "members": [stranger.owner_id]}, "members"),
        ({"mode": "by_region", "regions": {"mars": {"user_id": member.id}}}, "regions.mars"),
        ({"mode": "by_region", "regions": {"north": {"team_id": 999999999}}}, "regions.north"),
        (
            {"mode": "by_region", "regions": {"north": {"user_id": 1, "team_id": 2}}},
            "regions.north",
        ),
    ]
    for body, key in cases:
        response = crm.rest.put(crm.url("/settings/lead-assignment"), json=body)
        assert response.status_code == 400, (body, response.get_json())
        assert key in response.get_json()["errors"], (body, response.get_json())
    member_api = api(_token(crm.app, crm.company, member.id))
    response = member_api.put(crm.url("/settings/lead-assignment"), json={"mode": "manual"})
    assert response.status_code == 403
    assert crm.rest.get(crm.url("/settings/lead-assignment")).get_json()["mode"] == "manual"


def test_managers_assign_leads_and_the_new_owner_is_told(app, crm, add_member, api):
    manager = add_member(crm.company, "manager")
    member = add_member(crm.company, "member")
    lead = crm.create(name="Hot lead")
    manager_api = api(_token(app, crm.company, manager.id))
    response = manager_api.post(crm.url(f"/leads/{lead['id']}/assign"), json={"user_id": member.id})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["owner_id"] == member.id
    assert response.headers["ETag"] == f'"v{lead["version"] + 1}"'
    member_api = api(_token(app, crm.company, member.id))
    told = member_api.get(crm.url("/notifications")).get_json()["data"]
    assert [(n["kind"], n["record_id"]) for n in told] == [("lead.assigned", lead["id"])]
    assert "Hot lead" in told[0]["message"]
    # Members do not reassign; a member who cannot work leads is refused.
    response = member_api.post(
        crm.url(f"/leads/{lead['id']}/assign"), json={"user_id": crm.company.owner_id}
    )
    assert response.status_code == 403
    reader = add_member(crm.company, "read_only")
    response = crm.rest.post(crm.url(f"/leads/{lead['id']}/assign"), json={"user_id": reader.id})
    assert response.status_code == 400
    assert "user_id" in response.get_json()["errors"]
    response = crm.rest.post(crm.url("/leads/999999999/assign"), json={"user_id": member.id})
    assert response.status_code == 404
    with app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        from tenants.models import AuditEvent

        events = db.session.execute(
            select(AuditEvent.before, AuditEvent.after).where(
                AuditEvent.action == "lead.assigned", AuditEvent.target_id == str(lead["id"])
            )
        ).all()
    assert [(e.before, e.after) for e in events] == [
        ({"owner_id": crm.company.owner_id}, {"owner_id": member.id})
    ]


# ---- scoring -----------------------------------------------------------------------------------

RULES = [
    {"condition": "source:eq:website", "points": 30},
    {"condition": "email:is_not_empty", "points": 20},
    {"condition": {"field": "company", "op": "contains", "value": "科技"}, "points": 25},
    {"condition": "region:in:north,east", "points": 10},
    {
        "condition": {
            "or": [
                {"field": "mobile", "op": "is_empty"},
                {"field": "name", "op": "starts_with", "value": "test"},
            ]
        },
        "points": -15,
    },
    {"condition": "status:eq:unqualified", "points": -100, "active": True},
    {"condition": "source:eq:referral", "points": 50, "active": False},
]


def test_scores_follow_the_rules_on_create_and_update(crm, drain_jobs):
    body = crm.put("/settings/lead-scoring", {"rules": RULES}, expect=202)
    assert [r["text"] for r in body["rules"]][:2] == ["source:eq:website", "email:is_not_empty"]
    assert body["rules"][3]["condition"] == {
        "field": "region",
        "op": "in",
        "value": ["north", "east"],
    }
    assert body["job"]["status"] == "queued"
    drain_jobs()
    hot = crm.create(
        name="王总",
        company="北京星云科技有限公司",
        source="website",
        email="wang@example.com",
        region="north",
        mobile="13800138000",
    )
    assert hot["score"] == 85  # 30 + 20 + 25 + 10
    assert hot["version"] == 1  # scored before it was written: one write, one version
    cold = crm.create(name="test lead", source="referral")  # inactive rule: no points
    assert cold["score"] == 0  # −15, kept at the bottom of 0–100
    # Changing a value the rules read changes the score.
    cooler = crm.patch("lead", hot, source="exhibition", mobile=None)
    assert cooler["score"] == 40  # 85 − 30 − 15
    assert crm.patch("lead", cooler, status="unqualified")["score"] == 0
    # A score typed in is replaced while rules exist.
    assert crm.create(name="Typed", score=99, source="website", mobile="13800138001")["score"] == 30


def test_without_rules_the_score_is_what_people_enter(crm):
    assert crm.create(name="Typed", score=42)["score"] == 42


def test_rules_are_checked(crm, add_member, api):
    cases = [
        ([{"condition": "nonsense:eq:1", "points": 5}], "rules[0].condition"),
        ([{"condition": "source:gt:3", "points": 5}], "rules[0].condition"),
        ([{"condition": "source:eq:nowhere", "points": 5}], "rules[0].condition"),
        ([{"condition": "owner_id:is_me", "points": 5}], "rules[0].condition"),
        ([{"condition": "source:eq:website", "points": 101}], "rules[0].points"),
        (
            [{"condition": "source:eq:website", "points": 1}, {"condition": "", "points": 1}],
            "rules[1].condition",
        ),
    ]
    for rules, key in cases:
        response = crm.rest.put(crm.url("/settings/lead-scoring"), json={"rules": rules})
        assert response.status_code == 400, (rules, response.get_json())
        assert key in response.get_json()["errors"], (rules, response.get_json())
    assert crm.rest.get(crm.url("/settings/lead-scoring")).get_json() == {"rules": []}
    member = add_member(crm.company, "member")
    member_api = api(_token(crm.app, crm.company, member.id))
    response = member_api.put(crm.url("/settings/lead-scoring"), json={"rules": []})
    assert response.status_code == 403


def test_changing_rules_rescores_every_lead_in_a_job(crm, drain_jobs):
    web = crm.create(name="A", source="website")
    other = crm.create(name="B", source="partner")
    deleted = crm.create(name="C", source="website")
    assert crm.rest.delete(crm.url(f"/records/lead/{deleted['id']}")).status_code == 204
    assert web.get("score") is None
    body = crm.put(
        "/settings/lead-scoring", {"rules": [{"condition": "source:eq:website", "points": 60}]}, 202
    )
    drain_jobs()
    job = crm.rest.get(crm.url(f"/jobs/{body['job']['id']}")).get_json()
    assert job["status"] == "succeeded", job
    assert job["result"] == {"leads": 3, "changed": 3}
    scored, unscored = crm.get("lead", web["id"]), crm.get("lead", other["id"])
    assert (scored["score"], scored["version"]) == (60, web["version"] + 1)
    assert (unscored["score"], unscored["version"]) == (0, other["version"] + 1)
    # Running it again changes nothing: no new versions.
    response = crm.rest.post(crm.url("/settings/lead-scoring/rescore"))
    assert response.status_code == 202
    drain_jobs()
    assert crm.rest.get(crm.url(f"/jobs/{body['job']['id']}")).get_json()["result"] == {
        "leads": 3,
        "changed": 0,
    }
    assert crm.get("lead", web["id"])["version"] == web["version"] + 1


# ---- conversion --------------------------------------------------------------------------------


def _lead_with_history(crm: Crm) -> tuple[dict, dict]:
    lead = crm.create(
        name="李雷",
        company="上海韩梅梅贸易有限公司",
        mobile="13911112222",
        email="lilei@example.com",
        source="exhibition",
        region="east",
    )
    call = crm.create("activity", name="First call", type="call", status="done", lead=lead["id"])
    return lead, call


def test_conversion_creates_and_links_everything(crm):
    from saas.records.models import Account, Contact, Opportunity

    lead, call = _lead_with_history(crm)
    response = crm.rest.post(
        crm.url(f"/leads/{lead['id']}/convert"),
        json={"opportunity": {"amount": "120000", "expected_close": "2030-06-30"}},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    account, contact, deal = body["account"], body["contact"], body["opportunity"]
    assert body["account_created"] is True
    assert (account["name"], account["source"], account["region"]) == (
        "上海韩梅梅贸易有限公司",
        "exhibition",
        "east",
    )
    assert (contact["name"], contact["mobile"], contact["email"], contact["account"]) == (
        "李雷",
        lead["mobile"],
        "lilei@example.com",
        account["id"],
    )
    assert (deal["name"], deal["account"], deal["amount"]["amount"]) == (
        "上海韩梅梅贸易有限公司",
        account["id"],
        "120000.00",
    )
    assert {account["owner_id"], contact["owner_id"], deal["owner_id"]} == {lead["owner_id"]}
    converted = crm.get("lead", lead["id"])
    assert (converted["status"], converted["converted_account"]) == ("converted", account["id"])
    assert (converted["converted_contact"], converted["converted_opportunity"]) == (
        contact["id"],
        deal["id"],
    )
    assert body["activities"] == [call["id"]]
    linked = crm.get("activity", call["id"])
    assert (linked["lead"], linked["account"], linked["contact"], linked["opportunity"]) == (
        lead["id"],
        account["id"],
        contact["id"],
        deal["id"],
    )
    assert (crm.count(Account), crm.count(Contact), crm.count(Opportunity)) == (1, 1, 1)
    # Twice: refused, and nothing more is created.
    again = crm.rest.post(crm.url(f"/leads/{lead['id']}/convert"), json={})
    assert again.status_code == 409
    assert (crm.count(Account), crm.count(Contact), crm.count(Opportunity)) == (1, 1, 1)
    with crm.app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        from tenants.models import AuditEvent

        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "lead.converted")
        ).scalar_one()
    assert event.after["account_id"] == account["id"]
    assert event.after["activities"] == [call["id"]]


def test_conversion_into_an_existing_customer_without_opportunity(crm):
    from saas.records.models import Account, Opportunity

    existing = crm.create("account", name="上海韩梅梅贸易")
    lead, _call = _lead_with_history(crm)
    response = crm.rest.post(
        crm.url(f"/leads/{lead['id']}/convert"),
        json={"account_id": existing["id"], "contact": {"name": "Li Lei", "title": "CEO"}},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["account_created"], body["account"]["id"], body["opportunity"]) == (
        False,
        existing["id"],
        None,
    )
    assert (body["contact"]["name"], body["contact"]["title"]) == ("Li Lei", "CEO")
    assert body["contact"]["account"] == existing["id"]
    assert (crm.count(Account), crm.count(Opportunity)) == (1, 0)
    assert crm.get("lead", lead["id"])["converted_opportunity"] is None


def test_a_failed_conversion_leaves_nothing_behind(app, crm, monkeypatch):
    from saas.crm import leads
    from saas.records.models import Account, Contact, Opportunity

    lead, call = _lead_with_history(crm)
    counts = (crm.count(Account), crm.count(Contact), crm.count(Opportunity))
    bad = [
        ({"opportunity": {"amount": "lots"}}, "opportunity.amount"),
        ({"contact": {"email": "not an email"}}, "contact.email"),
        ({"account": {"name": "x", "grade": "Z"}}, "account.grade"),
        ({"account_id": 999999999}, "account_id"),
        ({"account_id": 1, "account": {"name": "x"}}, "account_id"),
    ]
    for body, key in bad:
        response = crm.rest.post(crm.url(f"/leads/{lead['id']}/convert"), json=body)
        assert response.status_code == 400, (body, response.get_json())
        assert key in response.get_json()["errors"], (body, response.get_json())

    # A failure after the customer, contact and opportunity were written undoes them all.
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(leads, "_relink_activities", broken)
    with app.test_request_context(), tenant_context(crm.company.tenant_id, db.session):
        actor = tenant_services.membership(crm.company.owner_id)
        with pytest.raises(RuntimeError):
            leads.convert(actor, lead["id"], opportunity={})
    assert (crm.count(Account), crm.count(Contact), crm.count(Opportunity)) == counts
    unchanged = crm.get("lead", lead["id"])
    assert (unchanged["status"], unchanged["version"]) == (lead["status"], lead["version"])
    assert crm.get("activity", call["id"]).get("account") is None


def test_conversion_needs_a_writer_who_sees_the_lead(app, crm, add_member, api):
    reader = add_member(crm.company, "read_only")
    lead = crm.create(name="Someone")
    response = api(_token(app, crm.company, reader.id)).post(
        crm.url(f"/leads/{lead['id']}/convert"), json={}
    )
    assert response.status_code == 403
    response = crm.rest.post(crm.url("/leads/999999999/convert"), json={})
    assert response.status_code == 404


# ---- web pages ---------------------------------------------------------------------------------


def test_convert_page_prefills_and_offers_the_duplicate(crm, login):
    existing = crm.create("account", name="上海韩梅梅贸易有限公司")
    lead, _call = _lead_with_history(crm)
    web = login(crm.company.owner_email)
    page = web.get(f"/t/{crm.slug}/leads/{lead['id']}/convert")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="上海韩梅梅贸易有限公司"' in html
    assert f'value="{lead["mobile"]}"' in html
    assert re.search(rf'name="account_id"[^>]* value="{existing["id"]}"', html)
    response = web.post(
        f"/t/{crm.slug}/leads/{lead['id']}/convert",
        data={
            "account_id": str(existing["id"]),
            "contact-name": "李雷",
            "contact-mobile": "13911112222",
            "contact-email": "lilei@example.com",
            "with_opportunity": "y",
            "opportunity-name": "First order",
            "opportunity-amount": "5000",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    converted = crm.get("lead", lead["id"])
    assert converted["converted_account"] == existing["id"]
    assert response.headers["Location"].endswith(f"/o/account/{existing['id']}")


def test_lead_page_has_convert_and_assign(crm, login, add_member):
    member = add_member(crm.company, "member")
    lead = crm.create(name="Page lead")
    web = login(crm.company.owner_email)
    html = web.get(f"/t/{crm.slug}/o/lead/{lead['id']}").get_data(as_text=True)
    assert f"/t/{crm.slug}/leads/{lead['id']}/convert" in html
    assert 'data-testid="lead-assign"' in html
    response = web.post(
        f"/t/{crm.slug}/leads/{lead['id']}/assign", data={"user_id": str(member.id)}
    )
    assert response.status_code == 302
    assert crm.get("lead", lead["id"])["owner_id"] == member.id


def test_settings_pages_save_assignment_and_rules(crm, login, add_member, drain_jobs):
    member = add_member(crm.company, "member")
    web = login(crm.company.owner_email)
    page = web.get(f"/t/{crm.slug}/settings/lead-assignment")
    assert page.status_code == 200
    response = web.post(
        f"/t/{crm.slug}/settings/lead-assignment",
        data={"mode": "round_robin", "members": [str(member.id)]},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert crm.create(name="Auto")["owner_id"] == member.id
    response = web.post(
        f"/t/{crm.slug}/settings/lead-scoring",
        data={
            "rule-0-field": "source",
            "rule-0-op": "eq",
            "rule-0-value": "website",
            "rule-0-points": "40",
            "rule-0-active": "y",
            "rule-1-field": "region",
            "rule-1-op": "in",
            "rule-1-value": "north,east",
            "rule-1-points": "oops",
        },
    )
    assert response.status_code == 400
    assert "rule-1-points" in response.get_data(as_text=True)
    response = web.post(
        f"/t/{crm.slug}/settings/lead-scoring",
        data={
            "rule-0-field": "source",
            "rule-0-op": "eq",
            "rule-0-value": "website",
            "rule-0-points": "40",
            "rule-0-active": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    drain_jobs()
    assert crm.create(name="Web", source="website")["score"] == 40
    member_web = login(member.email)
    assert member_web.get(f"/t/{crm.slug}/settings/lead-scoring").status_code == 403


def test_record_form_offers_automatic_assignment(crm, login, add_member):
    member = add_member(crm.company, "member")
    web = login(crm.company.owner_email)
    assert 'value="auto"' not in web.get(f"/t/{crm.slug}/o/lead/new").get_data(as_text=True)
    crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": [member.id]})
    html = web.get(f"/t/{crm.slug}/o/lead/new").get_data(as_text=True)
    assert '<option value="auto" selected>' in html
    assert f'<option value="{crm.company.owner_id}" selected>' not in html
    response = web.post(f"/t/{crm.slug}/o/lead/new", data={"name": "Walk-in", "owner_id": "auto"})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    lead_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert crm.get("lead", lead_id)["owner_id"] == member.id
    # Customers never offer it.
    assert 'value="auto"' not in web.get(f"/t/{crm.slug}/o/account/new").get_data(as_text=True)
