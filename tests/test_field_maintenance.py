"""Batched maintenance over existing values: purging deleted fields and converting types."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from saas.extensions import db
from tenants.context import tenant_context


@pytest.fixture
def crm(make_company, api):
    company = make_company()
    client = api(company.token)
    base = f"/api/v1/t/{company.slug}"
    client.post(
        f"{base}/objects/account/fields",
        json={"key": "employees_text", "type": "text", "label": "Employees"},
    )
    ids = []
    for name, value in (("A", "12"), ("B", "abc"), ("C", " 7 "), ("D", None)):
        body = {"name": name, **({"employees_text": value} if value is not None else {})}
        ids.append(client.post(f"{base}/records/account", json=body).get_json()["id"])
    return company, client, base, ids


def _data(app, company, record_id):
    from saas.records.models import Account

    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return db.session.execute(select(Account.data).where(Account.id == record_id)).scalar_one()


def test_purge_removes_values_and_frees_the_key(app, crm, drain_jobs):
    company, client, base, ids = crm
    field = f"{base}/objects/account/fields/employees_text"
    assert client.post(f"{field}/purge").status_code == 409  # only deleted fields
    client.delete(field)
    started = client.post(f"{field}/purge")
    assert started.status_code == 202
    job = started.get_json()
    assert job["status"] == "queued" and job["kind"] == "field.purge"
    again = client.post(f"{field}/purge").get_json()
    assert again["id"] == job["id"]  # the same job, not a second one
    drain_jobs()
    done = client.get(f"{base}/jobs/{job['id']}").get_json()
    assert (done["status"], done["done"], done["total"], done["percent"]) == (
        "succeeded",
        3,
        3,
        100,
    )
    assert done["result"] == {"purged_values": 3}
    assert all("employees_text" not in _data(app, company, i) for i in ids)
    assert client.get(field).status_code == 404
    assert (
        client.post(
            f"{base}/objects/account/fields",
            json={"key": "employees_text", "type": "integer", "label": "Employees"},
        ).status_code
        == 201
    )


def test_conversion_preview_names_what_fails(crm):
    _, client, base, ids = crm
    preview = client.post(
        f"{base}/objects/account/fields/employees_text/conversion/preview",
        json={"type": "integer", "min": 0},
    )
    assert preview.status_code == 200
    body = preview.get_json()
    assert (body["total"], body["converts"], body["fails"]) == (3, 2, 1)
    assert body["samples"] == [{"id": ids[1], "value": "abc", "error": "Enter a number."}]
    incompatible = client.post(
        f"{base}/objects/account/fields/employees_text/conversion/preview",
        json={"type": "lookup", "target": "account"},
    )
    assert incompatible.status_code == 400 and "type" in incompatible.get_json()["errors"]


def test_conversion_changes_nothing_unless_failures_may_be_cleared(app, crm, drain_jobs):
    company, client, base, ids = crm
    url = f"{base}/objects/account/fields/employees_text/conversion"
    job = client.post(url, json={"type": "integer"}).get_json()
    drain_jobs()
    failed = client.get(f"{base}/jobs/{job['id']}").get_json()
    assert failed["status"] == "failed" and "1 values do not convert" in failed["error"]
    assert _data(app, company, ids[0])["employees_text"] == "12"
    assert client.get(f"{base}/objects/account/fields/employees_text").get_json()["type"] == "text"

    job = client.post(url, json={"type": "integer", "clear_failures": True}).get_json()
    drain_jobs()
    done = client.get(f"{base}/jobs/{job['id']}").get_json()
    assert done["status"] == "succeeded" and done["result"] == {"converted": 2, "cleared": 1}
    assert _data(app, company, ids[0])["employees_text"] == 12
    assert _data(app, company, ids[2])["employees_text"] == 7
    assert "employees_text" not in _data(app, company, ids[1])
    field = client.get(f"{base}/objects/account/fields/employees_text").get_json()
    assert field["type"] == "integer"
    record = client.get(f"{base}/records/account/{ids[0]}").get_json()
    assert record["employees_text"] == 12
    events = client.get(f"{base}/audit").get_json()
    converted = next(e for e in events if e["action"] == "field.converted")
    assert converted["before"]["cleared_values"] == {str(ids[1]): "abc"}  # nothing is lost


def test_conversion_to_a_picklist(crm, drain_jobs):
    _, client, base, _ = crm
    client.post(
        f"{base}/objects/account/fields", json={"key": "size_text", "type": "text", "label": "Size"}
    )
    record = client.post(f"{base}/records/account", json={"name": "S", "size_text": "L"}).get_json()
    url = f"{base}/objects/account/fields/size_text/conversion"
    job = client.post(url, json={"type": "picklist", "values": ["S", "M", "L"]}).get_json()
    drain_jobs()
    assert client.get(f"{base}/jobs/{job['id']}").get_json()["status"] == "succeeded"
    field = client.get(f"{base}/objects/account/fields/size_text").get_json()
    assert field["type"] == "picklist" and [v["code"] for v in field["values"]] == ["S", "M", "L"]
    assert client.get(f"{base}/records/account/{record['id']}").get_json()["size_text"] == "L"


def test_unknown_job_is_404(crm):
    _, client, base, _ = crm
    assert client.get(f"{base}/jobs/field-purge:999999").status_code == 404


def test_a_job_lost_before_it_ran_can_be_started_again(app, crm, drain_jobs):
    company, client, base, _ = crm
    from saas import tracked
    from saas.jobs import queue

    field = f"{base}/objects/account/fields/employees_text"
    client.delete(field)
    job = client.post(f"{field}/purge").get_json()
    with app.app_context():
        queue("default").empty()  # the queued work is lost (Redis flushed, say)
        with tenant_context(company.tenant_id, db.session):
            assert tracked.get_job(job["id"]).status == "queued"
    again = client.post(f"{field}/purge")
    assert again.status_code == 202 and again.get_json()["id"] == job["id"]
    drain_jobs()
    assert client.get(f"{base}/jobs/{job['id']}").get_json()["status"] == "succeeded"


def test_backfill_gives_the_default_to_records_without_a_value(app, crm, drain_jobs):
    company, client, base, ids = crm
    fields = f"{base}/objects/account/fields"
    client.post(
        fields, json={"key": "tier", "type": "picklist", "label": "Tier", "values": ["A", "B"]}
    )
    keep = client.post(f"{base}/records/account", json={"name": "Has B", "tier": "B"}).get_json()
    assert client.post(f"{fields}/tier/backfill").status_code == 400  # no default yet
    client.patch(f"{fields}/tier", json={"default": "A"})
    job = client.post(f"{fields}/tier/backfill").get_json()
    drain_jobs()
    done = client.get(f"{base}/jobs/{job['id']}").get_json()
    assert done["status"] == "succeeded" and done["result"] == {"filled": len(ids)}
    assert all(_data(app, company, i)["tier"] == "A" for i in ids)
    assert _data(app, company, keep["id"])["tier"] == "B"  # a value is never replaced
    assert client.get(f"{base}/records/account/{ids[0]}").get_json()["version"] == 2


def test_making_a_large_field_unique_runs_as_a_job(crm, drain_jobs, monkeypatch):
    from custom_fields import maintenance

    _, client, base, _ = crm
    monkeypatch.setattr(maintenance, "INLINE_UNIQUE_LIMIT", 1)
    fields = f"{base}/objects/account/fields"
    client.post(fields, json={"key": "vat", "type": "text", "label": "VAT"})
    for value in ("V-1", "V-2"):
        client.post(f"{base}/records/account", json={"name": value, "vat": value})
    inline = client.patch(f"{fields}/vat", json={"unique": True})
    assert inline.status_code == 409 and "/unique" in inline.get_json()["message"]
    job = client.post(f"{fields}/vat/unique")
    assert job.status_code == 202
    drain_jobs()
    done = client.get(f"{base}/jobs/{job.get_json()['id']}").get_json()
    assert done["status"] == "succeeded", done
    assert client.get(f"{fields}/vat").get_json()["unique"] is True
    assert (
        client.post(f"{base}/records/account", json={"name": "dup", "vat": "v-1"}).status_code
        == 409
    )
    assert client.post(f"{fields}/vat/unique").status_code == 409  # already unique


def test_making_a_field_with_duplicates_unique_fails_the_job(crm, drain_jobs):
    _, client, base, _ = crm
    fields = f"{base}/objects/account/fields"
    client.post(fields, json={"key": "dup_code", "type": "text", "label": "Code"})
    for name in ("a", "b"):
        client.post(f"{base}/records/account", json={"name": name, "dup_code": "SAME"})
    job = client.post(f"{fields}/dup_code/unique").get_json()
    drain_jobs()
    failed = client.get(f"{base}/jobs/{job['id']}").get_json()
    assert failed["status"] == "failed" and "SAME" in failed["error"]
    assert client.get(f"{fields}/dup_code").get_json()["unique"] is False
