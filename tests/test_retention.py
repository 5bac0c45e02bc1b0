"""Recycle-bin retention: the ``recycle_days`` setting, the daily purge on a moving clock (day 29
kept, day 31 removed, 0 never), what goes with a record (quote lines, payments, unique values),
records a live record still needs, removing one record at once, the bin page and the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import BigInteger, literal_column, select, text

from saas import jobs
from saas.crm.models import Payment
from saas.extensions import db
from saas.records import retention
from saas.records.models import Account, Contract, Quote, QuoteLine
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import AuditEvent

#: A quote line's quote as a column, kept by a trigger (migration 0011).
QUOTE_OF_LINE = literal_column("quote_lines.quote_id", BigInteger())
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def co(make_company, api):
    company = make_company(name="Retention Co")
    client = api(company.token)
    return company, client, f"/api/v1/t/{company.slug}"


def _create(client, base, object_key="account", **body):
    response = client.post(f"{base}/records/{object_key}", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _delete(client, base, record_id, object_key="account"):
    response = client.delete(f"{base}/records/{object_key}/{record_id}")
    assert response.status_code == 204, response.get_json()


def _age(app, company, table: str, record_id: int, days: int) -> None:
    """Pretend the record was deleted ``days`` days before :data:`NOW`."""
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        db.session.execute(
            text(f"UPDATE {table} SET deleted_at = :at WHERE id = :id"),
            {"at": NOW - timedelta(days=days), "id": record_id},
        )
        db.session.commit()


def _purge(app, company) -> dict[str, int]:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return retention.purge_expired(NOW)


def _exists(app, company, model, record_id: int) -> bool:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return db.session.execute(select(model.id).where(model.id == record_id)).first() is not None


def test_setting_validated(co):
    _company, client, base = co
    assert client.get(f"{base}/settings").get_json()["recycle_days"] == 30
    for bad in (-1, 3651, "x", True):
        response = client.patch(f"{base}/settings", json={"recycle_days": bad})
        assert response.status_code == 400, bad
        assert "recycle_days" in str(response.get_json())
    response = client.patch(f"{base}/settings", json={"recycle_days": 45})
    assert response.status_code == 200 and response.get_json()["recycle_days"] == 45


def test_moving_clock(app, co):
    company, client, base = co
    kept = _create(client, base, name="Day 29")
    gone = _create(client, base, name="Day 31")
    live = _create(client, base, name="Live")
    for record_id in (kept, gone):
        _delete(client, base, record_id)
    _age(app, company, "accounts", kept, 29)
    _age(app, company, "accounts", gone, 31)
    assert _purge(app, company) == {"account": 1}
    assert _exists(app, company, Account, kept)
    assert not _exists(app, company, Account, gone)
    assert _exists(app, company, Account, live)
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        events = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "records.purged")
        ).scalars()
        purged = [e.after for e in events if e.target_id == "account"]
        assert purged and purged[0]["purged"] == 1 and purged[0]["days"] == 30
    # Zero keeps them for ever.
    response = client.patch(f"{base}/settings", json={"recycle_days": 0})
    assert response.status_code == 200
    _age(app, company, "accounts", kept, 4000)
    assert _purge(app, company) == {}
    assert _exists(app, company, Account, kept)


def test_unique_value_freed(app, co):
    company, client, base = co
    response = client.post(
        f"{base}/objects/account/fields",
        json={"key": "r_tax", "type": "text", "label": "Tax", "unique": True},
    )
    assert response.status_code == 201, response.get_json()
    first = _create(client, base, name="First", r_tax="T-1")
    _delete(client, base, first)
    taken = client.post(f"{base}/records/account", json={"name": "Second", "r_tax": "T-1"})
    assert taken.status_code == 409  # still claimed while it may be restored
    _age(app, company, "accounts", first, 31)
    _purge(app, company)
    _create(client, base, name="Second", r_tax="T-1")


def test_children_go_with_parent(app, co):
    company, client, base = co
    quote_id = _create(client, base, "quote", name="Offer")
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        from saas.crm import contracts, quotes

        actor = tenant_services.membership(company.owner_id)
        line = {"name": "Widget", "quantity": "1", "unit_price": "5"}
        quotes.save_lines(actor, quote_id, [line], {}, 1)
        line_ids = list(
            db.session.execute(select(QuoteLine.id).where(QUOTE_OF_LINE.in_([quote_id])))
            .scalars()
            .all()
        )
    contract_id = _create(
        client,
        base,
        "contract",
        name="Deal",
        amount={"amount": "100", "currency": "CNY"},
        start_date="2026-01-01",
        end_date="2026-12-31",
    )
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        actor = tenant_services.membership(company.owner_id)
        contracts.submit(actor, contract_id)
        contracts.approve(actor, contract_id)
        contracts.record_payment(actor, contract_id, {"amount": "10", "received_on": "2026-02-01"})
    assert line_ids
    _delete(client, base, quote_id, "quote")
    _delete(client, base, contract_id, "contract")
    _age(app, company, "quotes", quote_id, 40)
    _age(app, company, "contracts", contract_id, 40)
    counts = _purge(app, company)
    assert counts.get("quote") == 1 and counts.get("contract") == 1
    assert not _exists(app, company, Quote, quote_id)
    assert not any(_exists(app, company, QuoteLine, i) for i in line_ids)
    assert not _exists(app, company, Contract, contract_id)
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        assert (
            db.session.execute(select(Payment.id).where(Payment.contract_id == contract_id)).first()
            is None
        )


def test_required_link_keeps_record(app, co):
    company, client, base = co
    response = client.post(
        f"{base}/objects/contact/fields",
        json={
            "key": "r_company",
            "type": "lookup",
            "label": "Company",
            "target": "account",
            "required": True,
        },
    )
    assert response.status_code == 201, response.get_json()
    account = _create(client, base, name="Needed")
    _create(client, base, "contact", name="Pat", r_company=account)
    _delete(client, base, account)
    _age(app, company, "accounts", account, 60)
    assert _purge(app, company) == {}
    assert _exists(app, company, Account, account)
    response = client.post(f"{base}/records/account/{account}/purge")
    assert response.status_code == 409


def test_purge_one_now(app, co, add_member, api, login):
    company, client, base = co
    doomed = _create(client, base, name="Doomed")
    live = _create(client, base, name="Live one")
    assert client.post(f"{base}/records/account/{live}/purge").status_code == 404
    _delete(client, base, doomed)
    member = add_member(company, "member")
    with app.app_context(), tenant_context(company.tenant_id, db.session, member.id):
        _, raw = tenant_services.create_token(tenant_services.membership(member.id), "m")
        from tenants import notifications

        notifications.notify(member.id, "record.shared", object_key="account", record_id=doomed)
        notifications.notify(member.id, "record.shared", object_key="account", record_id=live)
        db.session.commit()
    assert api(raw).post(f"{base}/records/account/{doomed}/purge").status_code == 403
    web = login(company.owner_email)
    page = web.get(f"/t/{company.slug}/o/account/bin")
    html = page.get_data(as_text=True)
    assert "removed for good after 30 days" in html and 'data-testid="purge"' in html
    assert client.post(f"{base}/records/account/{doomed}/purge").status_code == 204
    assert not _exists(app, company, Account, doomed)
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "record.purged")
        ).scalar_one()
        assert event.target_id == str(doomed) and event.before == {"name": "Doomed"}
        # Notifications about it went with it (they would link to nothing); others stay.
        from tenants.notifications import Notification

        linked = db.session.execute(select(Notification.record_id)).scalars().all()
        assert linked == [live]


def test_two_tenants_and_schedule(app, co, make_company, api, drain_jobs):
    company, client, base = co
    other = make_company(name="Other Co")
    other_client = api(other.token)
    other_base = f"/api/v1/t/{other.slug}"
    theirs = _create(other_client, other_base, name="Theirs")
    _delete(other_client, other_base, theirs)
    _age(app, other, "accounts", theirs, 31)
    assert _purge(app, company) == {}  # our purge never touches their bin
    assert _exists(app, other, Account, theirs)
    assert client.post(f"{base}/records/account/{theirs}/purge").status_code == 404
    assert ("saas.records.retention.schedule_bin_purges", 3600) in jobs.PERIODIC
    with app.app_context():
        queued = retention.schedule_bin_purges("2099-01-01")
        assert queued >= 2
        assert retention.schedule_bin_purges("2099-01-01") == 0  # once a day
    drain_jobs()
