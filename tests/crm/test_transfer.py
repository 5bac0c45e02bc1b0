"""Transferring a leaving member's records: counts per object, the move in the request and as a
tracked job, customers' pool dates and events, quote lines following their quote, permissions,
validation, audit, notifications, the members page, and two tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from saas.crm import transfer
from saas.crm.pool import PoolEvent
from saas.extensions import db
from saas.records.models import Account, Contact
from tenants import notifications
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import AuditEvent


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


@pytest.fixture
def crm(app, make_company, api, add_member):
    company = make_company(name="Transfer Co")
    leaver = add_member(company, "member")
    heir = add_member(company, "member")
    return {
        "app": app,
        "company": company,
        "owner": api(company.token),
        "base": f"/api/v1/t/{company.slug}",
        "leaver": leaver.id,
        "heir": heir.id,
        "leaver_api": api(_token(app, company, leaver.id)),
    }


def _make(crm, object_key: str, n: int, **values) -> list[int]:
    ids = []
    for i in range(n):
        body = {"name": f"{object_key} {i}", "owner_id": crm["leaver"], **values}
        response = crm["owner"].post(f"{crm['base']}/records/{object_key}", json=body)
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


def _owned(crm, user_id: int, client=None, expect=200):
    response = (client or crm["owner"]).get(f"{crm['base']}/members/{user_id}/owned")
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _transfer(crm, body: dict, user_id=None, client=None, expect=200):
    response = (client or crm["owner"]).post(
        f"{crm['base']}/members/{user_id or crm['leaver']}/transfer", json=body
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def test_counts_and_transfer(crm):
    app, company = crm["app"], crm["company"]
    accounts = _make(crm, "account", 3)
    contacts = _make(crm, "contact", 2)
    deleted = _make(crm, "contact", 1)[0]
    assert crm["owner"].delete(f"{crm['base']}/records/contact/{deleted}").status_code == 204
    # An old customer, flagged for review: the transfer starts a fresh window.
    long_ago = datetime.now(UTC) - timedelta(days=400)
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        db.session.execute(
            update(Account)
            .where(Account.id == accounts[0])
            .values(owned_since=long_ago, last_activity_at=long_ago, review_flagged_at=long_ago)
        )
        db.session.commit()
    owned = _owned(crm, crm["leaver"])
    assert owned["counts"]["account"] == 3 and owned["counts"]["contact"] == 2
    assert owned["total"] == 5 and "quote_line" not in owned["counts"]
    result = _transfer(crm, {"to_user_id": crm["heir"]})
    assert result["total"] == 5
    assert result["counts"]["account"] == 3 and result["counts"]["contact"] == 2
    assert _owned(crm, crm["leaver"])["total"] == 0
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        rows = db.session.execute(select(Account).where(Account.id.in_(accounts))).scalars()
        for account in rows:
            assert account.owner_id == crm["heir"] and account.version == 2
            assert account.review_flagged_at is None
            assert account.owned_since > long_ago + timedelta(days=300)
        events = db.session.execute(
            select(PoolEvent).where(PoolEvent.account_id.in_(accounts))
        ).scalars()
        transfers = [e for e in events if e.kind == "transfer"]
        assert len(transfers) == 3
        assert {(e.from_owner_id, e.to_owner_id) for e in transfers} == {
            (crm["leaver"], crm["heir"])
        }
        # The deleted contact stays with its owner (only live records move).
        assert db.session.get(Contact, (company.tenant_id, deleted)).owner_id == crm["leaver"]
        summary = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "member.records_transferred")
        ).scalar_one()
        assert summary.after["total"] == 5 and summary.target_id == str(crm["leaver"])
        batches = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "records.transferred")
        ).scalars()
        assert sorted(e.after["count"] for e in batches) == [2, 3]
        told = {
            n.user_id: n.kind
            for n in db.session.execute(select(notifications.Notification)).scalars()
            if n.kind.startswith("records.transferred")
        }
        assert told == {
            crm["heir"]: "records.transferred_to",
            crm["leaver"]: "records.transferred_from",
        }
    # Each record's history shows the change of owner.
    response = crm["owner"].get(f"{crm['base']}/records/contact/{contacts[0]}/history")
    entry = response.get_json()["entries"][0]
    assert entry["action"] == "record.transferred"
    assert [c["field"] for c in entry["changes"]] == ["owner_id"]


def test_chosen_objects_only(crm):
    _make(crm, "account", 2)
    _make(crm, "contact", 1)
    result = _transfer(crm, {"to_user_id": crm["heir"], "objects": ["contact"]})
    assert result["counts"] == {"contact": 1} and result["total"] == 1
    left = _owned(crm, crm["leaver"])["counts"]
    assert left["account"] == 2 and left["contact"] == 0


def test_validation_and_permissions(crm, add_member, api):
    _make(crm, "account", 1)
    for body, field in (
        ({"to_user_id": crm["leaver"]}, "to_user_id"),
        ({"to_user_id": "7"}, "to_user_id"),
        ({"to_user_id": 99_999_999}, "to_user_id"),
        ({"to_user_id": crm["heir"], "objects": ["spaceship"]}, "objects"),
        ({"to_user_id": crm["heir"], "objects": []}, "objects"),
        ({"to_user_id": crm["heir"], "objects": "account"}, "objects"),
    ):
        answer = _transfer(crm, body, expect=400)
        assert field in str(answer), body
    _transfer(crm, {}, expect=400)
    _transfer(crm, {"to_user_id": crm["heir"]}, user_id=99_999_999, expect=404)
    # A member cannot transfer or even count someone's records.
    _transfer(crm, {"to_user_id": crm["heir"]}, client=crm["leaver_api"], expect=403)
    _owned(crm, crm["leaver"], client=crm["leaver_api"], expect=403)
    # Nobody deactivated may receive records.
    app, company = crm["app"], crm["company"]
    gone = add_member(company, "member")
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        owner = tenant_services.membership(company.owner_id)
        tenant_services.set_member_status(owner, gone.id, active=False)
    _transfer(crm, {"to_user_id": gone.id}, expect=400)
    assert _owned(crm, crm["leaver"])["total"] == 1


def test_job_path(crm, drain_jobs, monkeypatch):
    monkeypatch.setattr(transfer, "SYNC_LIMIT", 3)
    monkeypatch.setattr(transfer, "BATCH", 2)
    _make(crm, "account", 3)
    _make(crm, "contact", 2)
    body = _transfer(crm, {"to_user_id": crm["heir"]}, expect=202)
    assert body["total"] == 5 and body["status"] == "queued"
    drain_jobs()
    job = crm["owner"].get(body["status_url"]).get_json()
    assert job["status"] == "succeeded", job
    assert job["done"] == 5 and job["result"]["total"] == 5
    assert _owned(crm, crm["leaver"])["total"] == 0
    assert _owned(crm, crm["heir"])["total"] == 5
    app, company = crm["app"], crm["company"]
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        batches = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "records.transferred")
        ).scalars()
        assert sorted(e.after["count"] for e in batches) == [1, 2, 2]


def test_quote_lines_follow(crm):
    app, company = crm["app"], crm["company"]
    quote_id = _make(crm, "quote", 1)[0]
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        from saas.crm import quotes

        actor = tenant_services.membership(company.owner_id)
        line = {"name": "Widget", "quantity": "1", "unit_price": "5"}
        quotes.save_lines(actor, quote_id, [line], {}, 1)
    _transfer(crm, {"to_user_id": crm["heir"], "objects": ["quote"]})
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        from saas.records.models import QuoteLine

        owners = set(
            db.session.execute(
                select(QuoteLine.owner_id).where(QuoteLine.data["quote"].astext == str(quote_id))
            ).scalars()
        )
        assert owners == {crm["heir"]}


def test_members_page_and_deactivation(crm, login):
    company = crm["company"]
    _make(crm, "account", 2)
    web = login(company.owner_email)
    users = web.get(f"/t/{company.slug}/users").get_data(as_text=True)
    assert 'data-testid="transfer-link"' in users
    page = web.get(f"/t/{company.slug}/users/{crm['leaver']}/transfer")
    assert page.status_code == 200 and 'data-object="account"' in page.get_data(as_text=True)
    url = f"/t/{company.slug}/users/{crm['leaver']}/transfer"
    confirm = web.post(url, data={"to_user_id": str(crm["heir"]), "objects": ["account"]})
    assert confirm.status_code == 200
    assert 'data-testid="transfer-confirm"' in confirm.get_data(as_text=True)
    assert _owned(crm, crm["leaver"])["total"] == 2  # nothing moved before confirming
    bad = web.post(url, data={"to_user_id": "", "objects": ["account"]})
    assert bad.status_code == 400
    # Deactivating someone who still owns records leads to the transfer page.
    response = web.post(f"/t/{company.slug}/users/{crm['leaver']}/deactivate")
    assert response.status_code == 302 and response.location.endswith(url)
    done = web.post(
        url, data={"to_user_id": str(crm["heir"]), "objects": ["account"], "confirmed": "1"}
    )
    assert done.status_code == 302
    assert _owned(crm, crm["heir"])["counts"]["account"] == 2


def test_two_tenants(crm, make_company, api):
    other = make_company(name="Elsewhere")
    other_api = api(other.token)
    # Their member ids are unknown here: 404 for the source, 400 for the receiver.
    _transfer(crm, {"to_user_id": crm["heir"]}, user_id=other.owner_id, expect=404)
    _make(crm, "account", 1)
    _transfer(crm, {"to_user_id": other.owner_id}, expect=400)
    response = other_api.post(
        f"/api/v1/t/{other.slug}/members/{crm['leaver']}/transfer",
        json={"to_user_id": other.owner_id},
    )
    assert response.status_code == 404
    assert _owned(crm, crm["leaver"])["total"] == 1
