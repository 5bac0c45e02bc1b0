"""Bulk actions on records: every action, all-matching with a confirmed count, data scope, roles,
per-record failures, the job path with progress, and the audit trail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

FIELDS = (
    {
        "key": "band",
        "type": "picklist",
        "label": {"en": "Band", "zh": "等级"},
        "values": ["A", "B", "C"],
    },
    {"key": "staff", "type": "integer", "label": "Staff"},
    {"key": "regions", "type": "multi_picklist", "label": "Regions", "values": ["n", "s"]},
    {"key": "tax_no", "type": "text", "label": "Tax number", "unique": True},
    {"key": "secret", "type": "text", "label": "Secret"},
    {"key": "locked", "type": "text", "label": "Locked"},
    {"key": "double", "type": "formula", "label": "Double", "expression": "staff * 2"},
)


@dataclass
class Crm:
    company: Any
    api: Any
    slug: str
    app: Any

    @property
    def base(self) -> str:
        return f"/api/v1/t/{self.slug}/records/account"

    def add(self, client: Any = None, **values: Any) -> dict[str, Any]:
        response = (client or self.api).post(self.base, json=values)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, record_id: int) -> dict[str, Any]:
        return self.api.get(f"{self.base}/{record_id}").get_json()

    def bulk(self, expect: int = 200, client: Any = None, **body: Any) -> dict[str, Any]:
        response = (client or self.api).post(f"{self.base}/bulk", json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def audit(self) -> list[dict[str, Any]]:
        return self.api.get(f"/api/v1/t/{self.slug}/audit?limit=200").get_json()


@pytest.fixture
def crm(make_company, api, app) -> Crm:
    company = make_company()
    client = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    for payload in FIELDS:
        response = client.post(fields, json=payload)
        assert response.status_code == 201, (payload, response.get_json())
    response = client.put(
        f"{fields}/secret/access", json={"member": "hidden", "read_only": "hidden"}
    )
    assert response.status_code == 200
    assert client.put(f"{fields}/locked/access", json={"member": "read_only"}).status_code == 200
    return Crm(company, client, company.slug, app)


@pytest.fixture
def token_for(login, add_member, api):
    def make(company, role: str):
        person = add_member(company, role)
        page = login(person.email).post(f"/t/{company.slug}/tokens", data={"name": role})
        raw = re.search(r'data-testid="new-token">([^<]+)<', page.get_data(as_text=True))
        return person, api(raw.group(1))

    return make


def test_update_a_field_on_chosen_records(crm):
    records = [crm.add(name=f"R{i}", band="A", staff=i) for i in range(3)]
    other = crm.add(name="Other", band="A")
    ids = [r["id"] for r in records]
    result = crm.bulk(action="update", ids=ids, field="band", value="B")
    assert result == {
        "action": "update",
        "matched": 3,
        "updated": 3,
        "unchanged": 0,
        "failed": 0,
        "failures": [],
    }
    for record in records:
        after = crm.get(record["id"])
        assert (after["band"], after["version"]) == ("B", 2)
    assert crm.get(other["id"])["band"] == "A"
    again = crm.bulk(action="update", ids=ids, field="band", value="B")
    assert (again["updated"], again["unchanged"]) == (0, 3)
    assert crm.get(ids[0])["version"] == 2  # nothing written when nothing changes
    cleared = crm.bulk(action="update", ids=ids[:1], field="band", value=None)
    assert cleared["updated"] == 1 and crm.get(ids[0])["band"] is None
    listed = crm.bulk(action="update", ids=ids[:2], field="regions", value=["n", "s"])
    assert listed["updated"] == 2 and crm.get(ids[1])["regions"] == ["n", "s"]


def test_the_action_and_value_are_checked_before_any_record(crm):
    record = crm.add(name="R", staff=1)
    ids = [record["id"]]
    cases = [
        ({"action": "rename"}, "action"),
        ({"action": "update", "field": "band", "value": "Z"}, "value"),
        ({"action": "update", "field": "staff", "value": "many"}, "value"),
        ({"action": "update", "field": "nope", "value": 1}, "field"),
        ({"action": "update", "field": "double", "value": 1}, "field"),
        ({"action": "update", "value": 1}, "field"),
        ({"action": "owner", "owner_id": 999999}, "owner_id"),
        ({"action": "owner", "owner_id": "x"}, "owner_id"),
        ({"action": "tag", "tag": "  "}, "tag"),
        ({"action": "tag", "tag": "x" * 51}, "tag"),
    ]
    for body, key in cases:
        response = crm.bulk(400, ids=ids, **body)
        assert key in response["errors"], (body, response)
    assert crm.bulk(400, action="update", ids=[], field="staff", value=1)["errors"]["ids"]
    assert crm.bulk(400, action="delete")["errors"]["ids"]
    assert crm.bulk(400, action="delete", ids=ids, colour=1)["code"] == 400
    assert crm.get(record["id"])["version"] == 1


def test_unique_fields_cannot_get_one_value_on_many_records(crm):
    first, second = crm.add(name="One"), crm.add(name="Two")
    response = crm.bulk(
        400, action="update", ids=[first["id"], second["id"]], field="tax_no", value="T-1"
    )
    assert "tax_no" not in response["errors"] and response["errors"]["value"]
    crm.add(name="Holder", tax_no="T-2")
    taken = crm.bulk(action="update", ids=[first["id"]], field="tax_no", value="t-2")
    assert taken["failed"] == 1
    assert taken["failures"][0]["id"] == first["id"]
    assert taken["failures"][0]["name"] == "One"
    assert "already used" in taken["failures"][0]["message"]


def test_change_owner_tags_and_delete(crm, add_member, app):
    colleague = add_member(crm.company, "member")
    records = [crm.add(name=f"R{i}") for i in range(3)]
    ids = [r["id"] for r in records]
    owned = crm.bulk(action="owner", ids=ids[:2], owner_id=colleague.id)
    assert owned["updated"] == 2
    assert crm.get(ids[0])["owner_id"] == colleague.id
    assert crm.get(ids[2])["owner_id"] == crm.company.owner_id

    crm.api.patch(f"{crm.base}/{ids[0]}", json={"tags": ["重点"]}, headers={"If-Match": '"v2"'})
    tagged = crm.bulk(action="tag", ids=ids, tag=" 重点 ")
    assert (tagged["updated"], tagged["unchanged"]) == (2, 1)
    assert all(crm.get(i)["tags"] == ["重点"] for i in ids)
    untagged = crm.bulk(action="untag", ids=ids[1:], tag="重点")
    assert untagged["updated"] == 2
    assert [crm.get(i)["tags"] for i in ids] == [["重点"], [], []]

    full = crm.add(name="Full", tags=[f"t{i}" for i in range(20)])
    over = crm.bulk(action="tag", ids=[ids[0], full["id"]], tag="one more")
    assert (over["updated"], over["failed"]) == (1, 1)
    assert over["failures"][0]["id"] == full["id"] and "20" in over["failures"][0]["message"]

    deleted = crm.bulk(action="delete", ids=ids[:2])
    assert deleted["updated"] == 2
    assert crm.api.get(f"{crm.base}/{ids[0]}").status_code == 404
    restored = crm.api.post(f"{crm.base}/{ids[0]}/restore")
    assert restored.status_code == 200  # the recycle bin gives it back


def test_all_matching_needs_the_confirmed_count(crm):
    for i in range(4):
        crm.add(name=f"A{i}", band="A", staff=i)
    crm.add(name="B0", band="B")
    query = {"filter": {"field": "band", "op": "eq", "value": "A"}}
    missing = crm.bulk(400, action="update", query=query, field="staff", value=9)
    assert "expected_count" in missing["errors"]
    stale = crm.bulk(409, action="update", query=query, field="staff", value=9, expected_count=3)
    assert (stale["count"], stale["expected_count"]) == (4, 3)
    assert stale["errors"]["expected_count"]
    done = crm.bulk(action="update", query=query, field="staff", value=9, expected_count=4)
    assert done["updated"] == 4
    names = crm.api.post(
        f"{crm.base}/query", json={"filter": {"field": "staff", "op": "eq", "value": 9}}
    ).get_json()["data"]
    assert sorted(r["name"] for r in names) == ["A0", "A1", "A2", "A3"]
    searched = crm.bulk(action="tag", query={"q": "b0"}, tag="x", expected_count=1)
    assert searched["updated"] == 1
    both = crm.bulk(400, action="delete", ids=[1], query=query, expected_count=1)
    assert "ids" in both["errors"]
    bad = crm.bulk(
        400, action="delete", query={"filter": {"field": "nope", "op": "eq"}}, expected_count=1
    )
    assert "filter" in bad["errors"]
    chosen = crm.bulk(409, action="delete", ids=[names[0]["id"], 999999], expected_count=2)
    assert chosen["count"] == 1


def test_members_only_touch_records_they_can_see(crm, token_for, app):
    from saas.extensions import db
    from tenants import services
    from tenants.context import tenant_context
    from tenants.teams import set_data_scope

    member, member_api = token_for(crm.company, "member")
    mine = crm.add(name="Mine", owner_id=member.id, band="A")
    theirs = crm.add(name="Theirs", band="A")
    with app.test_request_context(), tenant_context(crm.company.tenant_id, db.session):
        set_data_scope(services.membership(crm.company.owner_id), "member", "own")
    query = {"filter": {"field": "band", "op": "eq", "value": "A"}}
    stale = crm.bulk(409, client=member_api, action="delete", query=query, expected_count=2)
    assert stale["count"] == 1
    done = crm.bulk(client=member_api, action="delete", query=query, expected_count=1)
    assert done["updated"] == 1
    chosen = crm.bulk(
        client=member_api, action="update", ids=[theirs["id"]], field="band", value="B"
    )
    assert (chosen["updated"], chosen["failed"]) == (0, 1)
    assert chosen["failures"] == [
        {"id": theirs["id"], "name": None, "message": "There is no such record."}
    ]
    assert crm.get(theirs["id"])["band"] == "A" and crm.get(theirs["id"])["version"] == 1
    assert crm.api.get(f"{crm.base}/{mine['id']}").status_code == 404  # in the bin


def test_field_access_applies_to_bulk_updates(crm, token_for):
    _member, member_api = token_for(crm.company, "member")
    record = crm.add(name="R", secret="s", locked="l")
    hidden = crm.bulk(
        400, client=member_api, action="update", ids=[record["id"]], field="secret", value="x"
    )
    assert "no field" in hidden["errors"]["field"][0]
    locked = crm.bulk(
        400, client=member_api, action="update", ids=[record["id"]], field="locked", value="x"
    )
    assert "cannot change" in locked["errors"]["field"][0]


def test_read_only_role_cannot_run_bulk_actions(crm, token_for, login, add_member):
    record = crm.add(name="R")
    _reader, reader_api = token_for(crm.company, "read_only")
    denied = crm.bulk(403, client=reader_api, action="delete", ids=[record["id"]])
    assert denied["code"] == 403
    reader_ui = login(add_member(crm.company, "read_only").email)
    page = reader_ui.post(
        f"/t/{crm.slug}/o/account/bulk", data={"action": "delete", "ids": str(record["id"])}
    )
    assert page.status_code == 403
    assert crm.get(record["id"])["version"] == 1


def test_one_audit_event_per_bulk_action_and_one_per_record(crm):
    ids = [crm.add(name=f"R{i}")["id"] for i in range(2)]
    crm.bulk(action="update", ids=ids, field="staff", value="7")
    events = crm.audit()
    bulk = [e for e in events if e["action"] == "records.bulk"]
    assert len(bulk) == 1
    assert bulk[0]["target_type"] == "object" and bulk[0]["target_id"] == "account"
    assert bulk[0]["after"]["field"] == "staff" and bulk[0]["after"]["value"] == "7"
    assert (bulk[0]["after"]["matched"], bulk[0]["after"]["updated"]) == (2, 2)
    assert bulk[0]["actor_user_id"] == crm.company.owner_id
    updates = [e for e in events if e["action"] == "record.updated"]
    assert sorted(int(e["target_id"]) for e in updates) == sorted(ids)
    assert all(e["after"] == {"staff": 7} for e in updates)


def test_many_records_run_as_a_job_with_progress(crm, drain_jobs, monkeypatch, token_for):
    from saas.records import bulk

    monkeypatch.setattr(bulk, "SYNC_LIMIT", 3)
    member, member_api = token_for(crm.company, "member")
    ids = [crm.add(name=f"R{i}", band="A")["id"] for i in range(6)]
    crm.add(name="Full", tags=[f"t{i}" for i in range(20)], band="A")
    query = {"filter": {"field": "band", "op": "eq", "value": "A"}}
    accepted = crm.bulk(
        202, client=member_api, action="tag", query=query, tag="campaign", expected_count=7
    )
    assert accepted["status"] == "queued" and accepted["total"] == 7
    assert accepted["status_url"] == f"/api/v1/t/{crm.slug}/jobs/{accepted['id']}"
    drain_jobs()
    job = crm.api.get(accepted["status_url"]).get_json()
    assert (job["status"], job["done"], job["total"], job["percent"]) == ("succeeded", 7, 7, 100)
    assert job["result"]["updated"] == 6 and job["result"]["failed"] == 1
    assert job["result"]["failures"][0]["name"] == "Full"
    assert all("campaign" in crm.get(i)["tags"] for i in ids)
    events = crm.audit()
    (summary,) = [e for e in events if e["action"] == "records.bulk"]
    assert summary["actor_user_id"] == member.id
    assert summary["after"]["job_id"] == accepted["id"] and summary["after"]["updated"] == 6
    updates = [e for e in events if e["action"] == "record.updated"]
    assert len(updates) == 6 and {e["actor_user_id"] for e in updates} == {member.id}
    assert {e["actor_token_id"] for e in updates} != {None}


def test_a_job_fails_cleanly_when_the_requester_left(crm, drain_jobs, monkeypatch, token_for, app):
    from sqlalchemy import update

    from saas.extensions import db
    from saas.records import bulk
    from tenants.context import tenant_context
    from tenants.models import Membership

    monkeypatch.setattr(bulk, "SYNC_LIMIT", 1)
    member, member_api = token_for(crm.company, "member")
    ids = [crm.add(name=f"R{i}")["id"] for i in range(2)]
    accepted = crm.bulk(202, client=member_api, action="delete", ids=ids)
    with app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        db.session.execute(
            update(Membership).where(Membership.user_id == member.id).values(status="deactivated")
        )
        db.session.commit()
    drain_jobs()
    job = crm.api.get(accepted["status_url"]).get_json()
    assert job["status"] == "failed" and "no longer a member" in job["error"]
    assert all(crm.get(i)["version"] == 1 for i in ids)


# ---- the web form ---------------------------------------------------------------------------


def test_web_bulk_action_redirects_back_with_a_summary(crm, login):
    ids = [crm.add(name=f"R{i}", band="A")["id"] for i in range(2)]
    ui = login(crm.company.owner_email)
    response = ui.post(
        f"/t/{crm.slug}/o/account/bulk",
        data={
            "action": "update",
            "ids": [str(i) for i in ids],
            "field": "band",
            "value": "C",
            "next": f"/t/{crm.slug}/o/account/?sort=name",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{crm.slug}/o/account/?sort=name"
    assert all(crm.get(i)["band"] == "C" for i in ids)
    page = ui.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 records changed" in page
    evil = ui.post(
        f"/t/{crm.slug}/o/account/bulk",
        data={"action": "tag", "ids": str(ids[0]), "tag": "x", "next": "https://evil.test/"},
    )
    assert evil.headers["Location"] == f"/t/{crm.slug}/o/account/"


def test_web_all_matching_asks_again_when_the_count_changed(crm, login):
    for i in range(3):
        crm.add(name=f"R{i}", band="A")
    ui = login(crm.company.owner_email)
    form = {"action": "update", "all": "1", "f": "band:eq:A", "field": "staff", "value": "4"}
    response = ui.post(f"/t/{crm.slug}/o/account/bulk", data={**form, "expected_count": "2"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert 'data-count="3"' in page
    assert 'name="expected_count" value="3"' in page
    assert 'name="f" value="band:eq:A"' in page and 'name="all" value="1"' in page
    confirmed = ui.post(f"/t/{crm.slug}/o/account/bulk", data={**form, "expected_count": "3"})
    assert confirmed.status_code == 302
    rows = crm.api.post(
        f"{crm.base}/query", json={"filter": {"field": "staff", "op": "eq", "value": 4}}
    )
    assert rows.get_json()["count"] == 3


def test_web_failures_are_listed(crm, login):
    holder = crm.add(name="Holder", tax_no="T-9")
    target = crm.add(name="Target")
    ui = login(crm.company.owner_email)
    response = ui.post(
        f"/t/{crm.slug}/o/account/bulk",
        data={"action": "update", "ids": str(target["id"]), "field": "tax_no", "value": "t-9"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-testid="bulk-failures"' in page and "Target" in page
    assert "already used" in page and holder["name"] not in page.split("bulk-failures")[1]
    assert ui.post(f"/t/{crm.slug}/o/account/bulk", data={"action": "delete"}).status_code == 400
    bad_ids = ui.post(f"/t/{crm.slug}/o/account/bulk", data={"action": "delete", "ids": "x"})
    assert bad_ids.status_code == 400


def test_web_job_page_shows_progress_and_outcome(crm, login, drain_jobs, monkeypatch, add_member):
    from saas.records import bulk

    monkeypatch.setattr(bulk, "SYNC_LIMIT", 2)
    ids = [crm.add(name=f"R{i}")["id"] for i in range(4)]
    ui = login(crm.company.owner_email)
    response = ui.post(
        f"/t/{crm.slug}/o/account/bulk",
        data={"action": "delete", "ids": [str(i) for i in ids]},
    )
    assert response.status_code == 303
    job_url = response.headers["Location"]
    assert re.fullmatch(rf"/t/{crm.slug}/o/account/bulk/bulk:[0-9a-f]{{32}}", job_url)
    waiting = ui.get(job_url).get_data(as_text=True)
    assert 'data-status="queued"' in waiting and "<progress" in waiting
    drain_jobs()
    done = ui.get(job_url).get_data(as_text=True)
    assert 'data-status="succeeded"' in done
    assert 'data-testid="bulk-updated">4<' in done
    colleague = login(add_member(crm.company, "member").email)
    assert colleague.get(job_url).status_code == 403
    assert ui.get(job_url.replace("/account/", "/contact/")).status_code == 404
