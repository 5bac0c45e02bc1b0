"""Per-record history: entries for each write path (create, update, bulk, import, pool, quote
and contract actions, delete and restore) with old and new values as the page shows them and who
did it; hidden fields never shown; data scope; paging; the record page panel; the API."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from saas.extensions import db
from saas.records import history as history_service
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import AuditEvent


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


@pytest.fixture
def crm(app, make_company, api, add_member):
    company = make_company(name="History Co")
    owner = api(company.token)
    alice = add_member(company, "member")
    bob = add_member(company, "member")
    base = f"/api/v1/t/{company.slug}"
    # A field the member role may not see at all.
    response = owner.post(
        f"{base}/objects/account/fields", json={"key": "h_secret", "type": "text", "label": "S"}
    )
    assert response.status_code == 201, response.get_json()
    response = owner.put(
        f"{base}/objects/account/fields/h_secret/access", json={"member": "hidden"}
    )
    assert response.status_code == 200, response.get_json()
    return {
        "company": company,
        "owner": owner,
        "base": base,
        "alice_id": alice.id,
        "bob_id": bob.id,
        "alice": api(_token(app, company, alice.id)),
        "bob": api(_token(app, company, bob.id)),
        "alice_email": alice.email,
    }


def _history(client, base: str, object_key: str, record_id: int, cursor=None, expect=200):
    url = f"{base}/records/{object_key}/{record_id}/history"
    response = client.get(url, query_string={"cursor": cursor} if cursor else None)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _changes(entry: dict) -> dict[str, tuple[str, str]]:
    return {c["field"]: (c["old"], c["new"]) for c in entry["changes"]}


def _create(client, base, expect=201, **body):
    response = client.post(f"{base}/records/account", json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _patch(client, base, record, **body):
    response = client.patch(
        f"{base}/records/account/{record['id']}",
        json=body,
        headers={"If-Match": f'"v{record["version"]}"'},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_create_update_delete_restore(crm):
    base, owner = crm["base"], crm["owner"]
    rec = _create(owner, base, name="Acme", grade="A", h_secret="classified")
    rec = _patch(owner, base, rec, grade="B", name="Acme Ltd", h_secret="still secret")
    assert owner.delete(f"{base}/records/account/{rec['id']}").status_code == 204
    assert owner.post(f"{base}/records/account/{rec['id']}/restore").status_code == 200
    body = _history(owner, base, "account", rec["id"])
    actions = [e["action"] for e in body["entries"]]
    assert actions == ["record.restored", "record.deleted", "record.updated", "record.created"]
    assert body["next_cursor"] is None
    updated = body["entries"][2]
    # Picklist values as their labels, as the record page shows them.
    assert _changes(updated)["grade"] == ("A — key", "B — important")
    assert _changes(updated)["name"] == ("Acme", "Acme Ltd")
    assert _changes(updated)["h_secret"] == ("classified", "still secret")  # the owner sees it
    created = body["entries"][3]
    assert _changes(created)["grade"] == ("", "A — key")
    assert created["who"] and created["label"] == "Created"


def test_hidden_fields_never_shown_and_scope(crm):
    base, owner = crm["base"], crm["owner"]
    rec = _create(owner, base, name="Shared", h_secret="top", owner_id=crm["alice_id"])
    rec = _patch(owner, base, rec, h_secret="secret two")
    body = _history(crm["alice"], base, "account", rec["id"])
    everything = str(body)
    assert "top" not in everything and "secret two" not in everything
    assert all("h_secret" not in _changes(e) for e in body["entries"])
    # A change of the hidden field alone still shows that something happened, without values.
    assert body["entries"][0]["action"] == "record.updated"
    assert body["entries"][0]["changes"] == []
    # Bob (data scope "own") may not open Alice's customer: 404, as for the record itself.
    response = crm["owner"].patch(f"{base}/roles/member", json={"data_scope": "own"})
    assert response.status_code == 200, response.get_json()
    _history(crm["bob"], base, "account", rec["id"], expect=404)
    _history(crm["alice"], base, "account", rec["id"])
    _history(owner, base, "account", 999_999_999, expect=404)


def test_bulk_and_pool_paths(crm, app):
    base, owner = crm["base"], crm["owner"]
    rec = _create(owner, base, name="Bulk me", grade="C")
    response = owner.post(
        f"{base}/records/account/bulk",
        json={"action": "update", "ids": [rec["id"]], "field": "grade", "value": "D"},
    )
    assert response.status_code == 200, response.get_json()
    response = owner.post(
        f"{base}/records/account/bulk",
        json={"action": "owner", "ids": [rec["id"]], "owner_id": crm["alice_id"]},
    )
    assert response.status_code == 200, response.get_json()
    response = crm["alice"].post(
        f"{base}/accounts/{rec['id']}/release", json={"reason": "not interested"}
    )
    assert response.status_code == 200, response.get_json()
    response = crm["bob"].post(f"{base}/pool/{rec['id']}/claim")
    assert response.status_code == 200, response.get_json()
    entries = _history(owner, base, "account", rec["id"])["entries"]
    by_action = [(e["action"], e["label"], _changes(e)) for e in entries]
    claimed, released, owner_changed, grade_changed = by_action[:4]
    assert grade_changed[0] == "record.updated" and "bulk" in grade_changed[1]
    assert grade_changed[2]["grade"] == ("C — normal", "D — credit risk")
    with app.app_context(), tenant_context(crm["company"].tenant_id, db.session):
        names = {m.user_id: m.user.display_name for m in tenant_services.members()}
    owner_name = names[crm["company"].owner_id]
    assert owner_changed[2]["owner_id"] == (owner_name, names[crm["alice_id"]])
    assert released[0] == "pool.released"
    assert released[2]["owner_id"] == (names[crm["alice_id"]], "")
    assert claimed[0] == "pool.claimed"
    assert claimed[2]["owner_id"] == ("", names[crm["bob_id"]])
    assert entries[0]["who"] == names[crm["bob_id"]]


def test_import_writes_per_record_events(crm, app, drain_jobs, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_DIR", str(tmp_path / "imports"))
    base, owner = crm["base"], crm["owner"]
    rec = _create(owner, base, name="Imported Co", grade="C")
    csv_bytes = b"name,grade\nImported Co,A\nBrand New Co,B\n"
    response = owner.post(
        f"{base}/records/account/imports",
        data={"file": (io.BytesIO(csv_bytes), "update.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    response = owner.post(
        f"{base}/records/account/imports/{body['id']}/run",
        json={
            "mapping": {"name": "name", "grade": "grade"},
            "match_on": "name",
            "policy": "update",
        },
    )
    assert response.status_code == 202, response.get_json()
    drain_jobs()
    entries = _history(owner, base, "account", rec["id"])["entries"]
    assert entries[0]["action"] == "record.imported"
    assert entries[0]["label"] == "Updated by an import"
    assert _changes(entries[0])["grade"] == ("C — normal", "A — key")
    company = crm["company"]
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        events = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "record.imported")
        ).scalars()
        created = [e.after["name"] for e in events if e.before is None]
        assert created == ["Brand New Co"]


def test_quote_and_contract_actions(crm, app):
    base, owner = crm["base"], crm["owner"]
    response = owner.post(
        f"{base}/records/contract",
        json={
            "name": "Deal",
            "amount": {"amount": "1000", "currency": "CNY"},
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
        },
    )
    assert response.status_code == 201, response.get_json()
    contract = response.get_json()
    company = crm["company"]
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        from saas.crm import contracts

        actor = tenant_services.membership(company.owner_id)
        contracts.submit(actor, contract["id"])
        contracts.approve(actor, contract["id"])
    entries = _history(owner, base, "contract", contract["id"])["entries"]
    approved = entries[0]
    assert approved["action"].startswith("contract.")
    changes = _changes(approved)
    assert "status" in changes and changes["status"][0] != changes["status"][1]
    assert changes["signed_on"][0] == ""  # signed on approval: it had no date before
    response = owner.post(f"{base}/records/quote", json={"name": "Offer"})
    assert response.status_code == 201, response.get_json()
    quote = response.get_json()
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        from saas.crm import quotes

        actor = tenant_services.membership(company.owner_id)
        line = {"name": "Widget", "quantity": "2", "unit_price": "10"}
        quotes.save_lines(actor, quote["id"], [line], {}, quote["version"])
    entries = _history(owner, base, "quote", quote["id"])["entries"]
    assert entries[0]["action"] == "quote.lines_saved"
    assert "total" in _changes(entries[0])


def test_payments_are_in_their_contracts_history(crm, app):
    """Received payments (回款), their corrections and deletions show on the contract; the
    amount only to those who see the contract's amount."""
    base, owner = crm["base"], crm["owner"]
    response = owner.post(
        f"{base}/records/contract",
        json={
            "name": "Paid deal",
            "amount": {"amount": "1000", "currency": "CNY"},
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
        },
    )
    assert response.status_code == 201, response.get_json()
    contract = response.get_json()
    company = crm["company"]
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        from saas.crm import contracts

        actor = tenant_services.membership(company.owner_id)
        contracts.submit(actor, contract["id"])
        contracts.approve(actor, contract["id"])
    paid = owner.post(
        f"{base}/contracts/{contract['id']}/payments",
        json={"amount": "300", "received_on": "2026-02-01", "reference": "TX-1"},
    )
    assert paid.status_code == 201, paid.get_json()
    payment_id = paid.get_json()["id"]
    fixed = owner.patch(f"{base}/payments/{payment_id}", json={"amount": "350"})
    assert fixed.status_code == 200, fixed.get_json()
    assert owner.delete(f"{base}/payments/{payment_id}").status_code == 204
    entries = _history(owner, base, "contract", contract["id"])["entries"]
    actions = [e["action"] for e in entries[:3]]
    assert actions == ["payment.deleted", "payment.corrected", "payment.recorded"]
    deleted, corrected, recorded = entries[:3]
    assert _changes(recorded)["reference"] == ("", "TX-1")
    assert "300" in _changes(recorded)["amount"][1]
    old, new = _changes(corrected)["amount"]
    assert "300" in old and "350" in new
    assert set(_changes(corrected)) == {"amount"}
    assert "350" in _changes(deleted)["amount"][0]
    # Another contract's history does not show them.
    other = owner.post(
        f"{base}/records/contract",
        json={"name": "Other", "start_date": "2026-01-01", "end_date": "2026-12-31"},
    ).get_json()
    assert all(
        not e["action"].startswith("payment.")
        for e in _history(owner, base, "contract", other["id"])["entries"]
    )
    # Hide the contract's amount from members: payments keep their dates, lose their amounts.
    response = owner.put(f"{base}/objects/contract/fields/amount/access", json={"member": "hidden"})
    assert response.status_code == 200, response.get_json()
    seen = _history(crm["alice"], base, "contract", contract["id"])["entries"]
    recorded = next(e for e in seen if e["action"] == "payment.recorded")
    assert "amount" not in _changes(recorded)
    assert _changes(recorded)["received_on"][1]


def test_paging_and_page_panel(crm, app, login):
    base, owner = crm["base"], crm["owner"]
    rec = _create(owner, base, name="Busy", grade="C")
    grades = ["A", "B", "C", "D"]
    for i in range(55):
        rec = _patch(owner, base, rec, grade=grades[i % 4])
    first = _history(owner, base, "account", rec["id"])
    assert len(first["entries"]) == 50 and first["next_cursor"]
    second = _history(owner, base, "account", rec["id"], cursor=first["next_cursor"])
    assert len(second["entries"]) == 6 and second["next_cursor"] is None
    ids = [e["id"] for e in first["entries"] + second["entries"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 56
    assert second["entries"][-1]["action"] == "record.created"
    bad = owner.get(f"{base}/records/account/{rec['id']}/history?cursor=abc")
    assert bad.status_code in (400, 422)
    company = crm["company"]
    web = login(company.owner_email)
    page = web.get(f"/t/{company.slug}/o/account/{rec['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="history-panel"' in html and 'data-testid="history-more"' in html
    more = web.get(f"/t/{company.slug}/o/account/{rec['id']}/history?cursor={first['next_cursor']}")
    assert more.status_code == 200
    assert more.get_data(as_text=True).count('data-testid="history-entry"') == 6


def test_history_service_reads_one_index(crm, app):
    """The history query is served by the target index (no scan of the tenant's events)."""
    company = crm["company"]
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        plan = db.session.execute(
            select(AuditEvent.id)
            .where(
                AuditEvent.tenant_id == company.tenant_id,
                AuditEvent.target_type == "account",
                AuditEvent.target_id == "1",
            )
            .order_by(AuditEvent.id.desc())
            .limit(51)
        )
        plan.close()
        from sqlalchemy import text

        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        explained = "\n".join(
            r[0]
            for r in db.session.execute(
                text(
                    "EXPLAIN SELECT id FROM audit_events WHERE tenant_id = :t AND "
                    "target_type = 'account' AND target_id = '1' ORDER BY id DESC LIMIT 51"
                ),
                {"t": company.tenant_id},
            )
        )
        assert "ix_audit_events_target" in explained
    assert history_service.PAGE_SIZE == 50
