"""The print API: a record's PDF as a job (202, status, the document's link, one document for
the same request), downloads, a record's documents and who may read them, templates CRUD with
versions, the variables list, the bounded preview, batch printing into a zip, and two companies
that never see each other's templates or documents."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import func, select

from print_templates.models import PrintDocument
from saas.extensions import db
from tenants.context import tenant_context
from tests.print_templates.conftest import LINES, needs_poppler, pdf_fonts, pdf_text

CARD = """<h1>{{ object.label }}: {{ record.name }}</h1>
<p class="phone">{{ record.phone }}</p>
{% if not document.approved %}<p class="draft">DRAFT</p>{% endif %}
<table>{% for line in lines %}<tr><td>{{ line.product }}</td>
<td>{{ line.line_total|money }}</td></tr>{% endfor %}</table>
<p>{{ totals.total|money }} {{ totals.total|cn_amount }}</p>
"""


def _documents(app, company) -> int:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return db.session.execute(select(func.count()).select_from(PrintDocument)).scalar_one()


def _pdf(shop, object_key: str, record_id: int, client=None, **body):
    response = (client or shop.owner).post(
        shop.url(f"/records/{object_key}/{record_id}/pdf"), json=body
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()


@needs_poppler
def test_pdf_of_an_approved_quote_through_the_api(shop, drain_jobs, tmp_path):
    quote_id = shop.quote("Q-2026-0042", LINES)
    job = _pdf(shop, "quote", quote_id)
    assert job["status"] == "queued" and job["kind"] == "print.pdf"
    assert job["status_url"] == shop.url(f"/jobs/{job['id']}")
    drain_jobs()
    status = shop.owner.get(job["status_url"]).get_json()
    assert status["status"] == "succeeded", status
    assert status["result"]["pages"] >= 1
    link = status["links"]["document"]
    response = shop.owner.get(link)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "Q-2026-0042.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.data.startswith(b"%PDF")
    import hashlib

    assert hashlib.sha256(response.data).hexdigest() == status["result"]["sha256"]
    text = pdf_text(response.data, tmp_path)
    assert "北京示例贸易有限公司" in text  # the customer, from the starter template
    assert "服务器 R740" in text
    assert "91,180.00" in text  # the total
    assert "Kehu-Sans-SC" in pdf_fonts(response.data, tmp_path)  # embedded, subset
    # The record's documents list it, with the template version used.
    listed = shop.owner.get(shop.url(f"/records/quote/{quote_id}/documents")).get_json()
    assert [d["id"] for d in listed] == [status["result"]["document_id"]]
    assert listed[0]["template_version"] == 1 and listed[0]["record_version"] >= 1
    assert listed[0]["download_url"] == link


def test_the_same_request_twice_is_one_job_and_one_document(shop, drain_jobs, app):
    quote_id = shop.quote("Q-twice", LINES)
    first = _pdf(shop, "quote", quote_id)
    second = _pdf(shop, "quote", quote_id)
    assert first["id"] == second["id"]
    drain_jobs()
    third = _pdf(shop, "quote", quote_id)  # done already: answered without a new job
    assert third["id"] == first["id"] and third["status"] == "succeeded"
    assert third["document_url"]
    drain_jobs()
    assert _documents(app, shop.company) == 1
    # A caller's key: once per key.
    keyed = _pdf(shop, "quote", quote_id, request_key="order-77:pdf")
    again = _pdf(shop, "quote", quote_id, request_key="order-77:pdf")
    assert keyed["id"] == again["id"] != first["id"]
    drain_jobs()
    assert _documents(app, shop.company) == 2
    # The same key for another record is refused rather than answered with the wrong file.
    other = shop.quote("Q-other", LINES)
    response = shop.owner.post(
        shop.url(f"/records/quote/{other}/pdf"), json={"request_key": "order-77:pdf"}
    )
    assert response.status_code == 409
    assert response.get_json()["errors"] == {"request_key": [response.get_json()["message"]]}
    response = shop.owner.post(
        shop.url(f"/records/quote/{other}/pdf"), json={"request_key": "bad key!"}
    )
    assert response.status_code == 400
    # A change of the record makes a new version.
    response = shop.owner.patch(
        shop.url(f"/records/quote/{quote_id}"),
        json={"tags": ["vip"]},
        headers={"If-Match": f'"v{_version(shop, quote_id)}"'},
    )
    assert response.status_code == 200, response.get_json()
    assert _pdf(shop, "quote", quote_id)["id"] != first["id"]
    drain_jobs()
    assert _documents(app, shop.company) == 3


def _version(shop, quote_id: int) -> int:
    return shop.owner.get(shop.url(f"/records/quote/{quote_id}")).get_json()["version"]


def test_documents_show_what_their_role_may_see(shop, drain_jobs, app, add_member, api):
    """A document rendered for the owner (every field) is not handed to a salesperson, whose
    role may see less; the salesperson's own documents are theirs."""
    quote_id = shop.quote("Q-roles", LINES)
    owner_job = _pdf(shop, "quote", quote_id)
    rep_job = _pdf(shop, "quote", quote_id, client=shop.rep)
    assert owner_job["id"] != rep_job["id"]  # keys are per person
    drain_jobs()
    owner_doc = shop.owner.get(owner_job["status_url"]).get_json()["result"]["document_id"]
    rep_doc = shop.rep.get(rep_job["status_url"]).get_json()["result"]["document_id"]
    assert shop.rep.get(shop.url(f"/documents/{owner_doc}")).status_code == 404
    assert shop.rep.get(shop.url(f"/documents/{rep_doc}")).status_code == 200
    assert shop.owner.get(shop.url(f"/documents/{rep_doc}")).status_code == 200
    seen = shop.rep.get(shop.url(f"/records/quote/{quote_id}/documents")).get_json()
    assert [d["id"] for d in seen] == [rep_doc]
    seen = shop.owner.get(shop.url(f"/records/quote/{quote_id}/documents")).get_json()
    assert {d["id"] for d in seen} == {owner_doc, rep_doc}
    # Another salesperson whose data scope does not cover the quote gets nothing.
    response = shop.owner.patch(shop.url("/roles/member"), json={"data_scope": "own"})
    assert response.status_code == 200, response.get_json()
    stranger = add_member(shop.company, "member")
    from tests.print_templates.conftest import token_for

    stranger_api = api(token_for(app, shop.company, stranger.id))
    assert stranger_api.get(shop.url(f"/documents/{rep_doc}")).status_code == 404
    response = stranger_api.post(shop.url(f"/records/quote/{quote_id}/pdf"), json={})
    assert response.status_code == 404


def test_template_crud_versions_and_variables(shop):
    body = {"object_key": "account", "name": "Customer card", "locale": "en", "source": CARD}
    created = shop.owner.post(shop.url("/print-templates"), json=body)
    assert created.status_code == 201, created.get_json()
    template = created.get_json()
    assert (template["current_version"], template["source"]) == (1, CARD)
    assert shop.rep.post(shop.url("/print-templates"), json=body).status_code == 403
    broken = shop.owner.post(
        shop.url("/print-templates"), json={**body, "source": "<p>\n{% if %}</p>"}
    )
    assert broken.status_code == 422
    assert list(broken.get_json()["errors"]) == ["source"]
    url = shop.url(f"/print-templates/{template['id']}")
    patched = shop.owner.patch(url, json={"source": CARD + "<p>v2</p>", "base_version": 1})
    assert patched.status_code == 200 and patched.get_json()["current_version"] == 2
    stale = shop.owner.patch(url, json={"source": "x", "base_version": 1})
    assert stale.status_code == 409
    versions = shop.owner.get(f"{url}/versions").get_json()
    assert [v["version"] for v in versions] == [2, 1]
    assert shop.owner.get(f"{url}/versions/1").get_json()["source"] == CARD
    restored = shop.owner.post(f"{url}/versions/1/restore")
    assert restored.get_json()["current_version"] == 3
    assert restored.get_json()["source"] == CARD
    listed = shop.rep.get(shop.url("/print-templates?object_key=account")).get_json()
    assert [t["id"] for t in listed] == [template["id"]]
    quotes = shop.rep.get(shop.url("/print-templates?object_key=quote")).get_json()
    assert {t["locale"] for t in quotes} == {"zh_CN", "en"}
    assert all(t["is_default"] for t in quotes)
    archived = shop.owner.patch(url, json={"active": False})
    assert archived.get_json()["active"] is False
    assert shop.rep.get(shop.url("/print-templates?object_key=account")).get_json() == []
    names = {v["name"] for v in shop.rep.get(shop.url("/print-templates/variables/quote")).json}
    assert {"lines[].unit_price", "totals.total", "customer.name", "record.valid_until"} <= names
    assert shop.rep.get(shop.url("/print-templates/variables/nothing")).status_code == 404


def test_preview_is_sandboxed_and_bounded(shop):
    quote_id = shop.quote("Q-preview", LINES, submit=False)
    body = {"object_key": "quote", "name": "Card", "locale": "en", "source": CARD}
    template = shop.owner.post(shop.url("/print-templates"), json=body).get_json()
    url = shop.url(f"/print-templates/{template['id']}/preview")
    response = shop.owner.post(url, json={"record_id": quote_id})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    html = response.get_data(as_text=True)
    assert "Q-preview" in html and "DRAFT" in html and "服务器 R740" in html
    # Unsaved source, as typed in the editor; the saved version is untouched.
    typed = shop.owner.post(
        url, json={"record_id": quote_id, "source": "<b>{{ record.name|upper }}</b>"}
    )
    assert "<b>Q-PREVIEW</b>" in typed.get_data(as_text=True)
    assert shop.owner.get(shop.url(f"/print-templates/{template['id']}")).json["source"] == CARD
    # Escaped: a record's text never becomes markup.
    evil = shop.record("quote", name="<script>alert(1)</script>")
    escaped = shop.owner.post(url, json={"record_id": evil}).get_data(as_text=True)
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped
    broken = shop.owner.post(url, json={"record_id": quote_id, "source": "{{ nope }}"})
    assert broken.status_code == 422
    assert "nope" in broken.get_json()["message"]
    endless = "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}"
    bounded = shop.owner.post(url, json={"record_id": quote_id, "source": endless})
    assert bounded.status_code == 422
    pdf = shop.owner.post(url, json={"record_id": quote_id, "format": "pdf"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert shop.rep.post(url, json={"record_id": quote_id}).status_code == 403
    foreign = shop.owner.post(url, json={"record_id": 2**62})
    assert foreign.status_code == 404


def test_batch_printing_makes_one_zip(shop, drain_jobs, app):
    ids = [shop.quote(f"Q-batch-{n}", LINES) for n in range(3)]
    response = shop.rep.post(shop.url("/records/quote/pdf-batch"), json={"ids": ids})
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["kind"] == "print.batch" and job["total"] == 3
    drain_jobs()
    status = shop.rep.get(job["status_url"]).get_json()
    assert status["status"] == "succeeded", status
    assert (status["done"], status["total"], status["percent"]) == (3, 3, 100)
    assert status["result"]["count"] == 3
    archive = shop.rep.get(status["links"]["document"])
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(f"Q-batch-{n}.pdf" for n in range(3))
        assert all(zf.read(name).startswith(b"%PDF") for name in names)
    # Each PDF is also the record's document; the zip is the requester's.
    listed = shop.rep.get(shop.url(f"/records/quote/{ids[0]}/documents")).get_json()
    assert len(listed) == 1
    assert _documents(app, shop.company) == 4
    again = shop.rep.post(shop.url("/records/quote/pdf-batch"), json={"ids": ids})
    assert again.get_json()["id"] == job["id"] and again.get_json()["status"] == "succeeded"
    assert shop.owner.get(status["links"]["document"]).status_code == 200  # an admin
    too_many = shop.rep.post(
        shop.url("/records/quote/pdf-batch"), json={"ids": list(range(1, 502))}
    )
    assert too_many.status_code == 400
    unknown = shop.rep.post(shop.url("/records/quote/pdf-batch"), json={"ids": [ids[0], 2**62]})
    assert unknown.status_code == 404


def test_two_companies_never_see_each_other(shop, make_company, api, drain_jobs):
    quote_id = shop.quote("Q-private", LINES)
    job = _pdf(shop, "quote", quote_id)
    drain_jobs()
    document = shop.owner.get(job["status_url"]).get_json()["links"]["document"]
    template = shop.owner.get(shop.url("/print-templates?object_key=quote")).get_json()[0]
    other = make_company()
    intruder = api(other.token)
    base = f"/api/v1/t/{other.slug}"
    document_id = document.rsplit("/", 1)[1]
    assert intruder.get(f"{base}/documents/{document_id}").status_code == 404
    assert intruder.get(f"{base}/print-templates/{template['id']}").status_code == 404
    assert intruder.get(f"{base}/print-templates/{template['id']}/versions").status_code == 404
    assert (
        intruder.patch(f"{base}/print-templates/{template['id']}", json={"name": "x"}).status_code
        == 404
    )
    assert intruder.post(f"{base}/records/quote/{quote_id}/pdf", json={}).status_code == 404
    assert (
        intruder.post(f"{base}/records/quote/pdf-batch", json={"ids": [quote_id]}).status_code
        == 404
    )
    assert intruder.get(f"{base}/jobs/{job['id']}").status_code == 404
    # Another company's token on this company's URLs: refused outright.
    assert intruder.get(document).status_code == 401
    # A template id of the first company chosen for the second's own quote: not theirs.
    own_quote = intruder.post(f"{base}/records/quote", json={"name": "Mine"}).get_json()["id"]
    response = intruder.post(
        f"{base}/records/quote/{own_quote}/pdf", json={"template_id": template["id"]}
    )
    assert response.status_code == 400
    assert "template_id" in response.get_json()["errors"]


# ---------------------------------------------------------------- the pages


def test_template_pages_for_admins(shop, login):
    owner = login(shop.company.owner_email)
    base = f"/t/{shop.slug}/print-templates"
    page = owner.get(base)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "报价单（标准）" in html and "Sales contract (standard)" in html
    assert login(shop.rep_email).get(base).status_code == 403
    created = owner.post(base, data={"object_key": "account", "name": "Card", "locale": "en"})
    assert created.status_code == 302
    editor_url = created.headers["Location"]
    editor = owner.get(editor_url).get_data(as_text=True)
    assert 'sandbox title="Preview"' in editor or "sandbox" in editor
    assert "record.phone" in editor  # the field picker lists the object's fields
    assert "北京示例贸易有限公司" in editor  # a record to preview with
    template_id = int(editor_url.rstrip("/").rsplit("/", 1)[1])
    broken = owner.post(
        editor_url, data={"name": "Card", "source": "{% for %}", "css": "", "base_version": "1"}
    )
    assert broken.status_code == 422
    assert "is-invalid" in broken.get_data(as_text=True)
    card = "<h1>{{ object.label }}: {{ record.name }}</h1><p>{{ record.phone }}</p>"
    saved = owner.post(
        editor_url, data={"name": "Card", "source": card, "css": "h1{}", "base_version": "1"}
    )
    assert saved.status_code == 302
    assert "Version 2" in owner.get(editor_url).get_data(as_text=True)
    preview = owner.post(
        f"{base}/{template_id}/preview",
        data={"record_id": str(shop.customer_id), "source": card, "css": "", "format": "html"},
    )
    assert preview.status_code == 200
    assert "sandbox" in preview.headers["Content-Security-Policy"]
    assert "北京示例贸易有限公司" in preview.get_data(as_text=True)
    failed = owner.post(
        f"{base}/{template_id}/preview",
        data={"record_id": str(shop.customer_id), "source": "{{ missing_name }}", "css": ""},
    )
    assert failed.status_code == 422
    assert "missing_name" in failed.get_data(as_text=True)
    restored = owner.post(f"{base}/{template_id}/versions/1/restore")
    assert restored.status_code == 302
    assert "Version 3" in owner.get(editor_url).get_data(as_text=True)
    old = owner.get(f"{base}/{template_id}/versions/2").get_data(as_text=True)
    assert "record.phone" in old
    archived = owner.post(f"{base}/{template_id}/state", data={"active": "0"})
    assert archived.status_code == 302
    assert "Card" in owner.get(f"{base}?archived=1").get_data(as_text=True)


def test_record_pages_make_and_list_pdfs(shop, login, drain_jobs):
    quote_id = shop.quote("Q-page", LINES)
    rep = login(shop.rep_email)
    detail = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}").get_data(as_text=True)
    assert 'data-testid="pdf-button"' in detail and 'data-testid="documents-panel"' in detail
    started = rep.post(
        f"/t/{shop.slug}/o/quote/{quote_id}/pdf", headers={"Accept": "application/json"}
    )
    assert started.status_code == 202
    job = started.get_json()
    assert job["status"] == "queued"
    drain_jobs()
    done = rep.get(job["status_url"]).get_json()
    assert done["status"] == "succeeded" and done["filename"] == "Q-page.pdf"
    download = rep.get(done["document_url"])
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    page = rep.get(job["page_url"]).get_data(as_text=True)
    assert 'data-status="succeeded"' in page and done["document_url"] in page
    listed = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}/documents").get_data(as_text=True)
    assert "Q-page.pdf" in listed
    assert "Q-page.pdf" in rep.get(f"/t/{shop.slug}/o/quote/{quote_id}").get_data(as_text=True)
    # Without the page's script: a redirect to the job page.
    plain = rep.post(f"/t/{shop.slug}/o/quote/{quote_id}/pdf")
    assert plain.status_code == 303 and "/print/jobs/" in plain.headers["Location"]
    printable = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}/print").get_data(as_text=True)
    assert "服务器 R740" in printable and "Q-page" in printable
    # Print selected records of a list into one zip.
    other = shop.quote("Q-page-2", LINES)
    batch = rep.post(
        f"/t/{shop.slug}/o/quote/print-batch", data={"ids": [str(quote_id), str(other)]}
    )
    assert batch.status_code == 303
    drain_jobs()
    page = rep.get(batch.headers["Location"]).get_data(as_text=True)
    assert 'data-status="succeeded"' in page
    nothing = rep.post(f"/t/{shop.slug}/o/quote/print-batch", data={})
    assert nothing.status_code == 302  # back to the list with the message


def test_random_template_bodies_never_fail_the_server(shop):
    """Whatever a client sends to the template endpoints answers 2xx or 4xx, never 500."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.text(max_size=30),
        st.sampled_from(["account", "quote", "zh_CN", "en", "{{", "{% for %}", "</style>"]),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    )
    keys = st.sampled_from(
        ["object_key", "name", "locale", "source", "css", "is_default", "active", "base_version"]
    )
    bodies = st.dictionaries(keys, values, max_size=6)
    template_id = shop.owner.get(shop.url("/print-templates?object_key=quote")).json[0]["id"]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies)
    def check(body):
        created = shop.owner.post(shop.url("/print-templates"), json=body)
        assert created.status_code < 500, (body, created.get_json())
        patched = shop.owner.patch(shop.url(f"/print-templates/{template_id}"), json=body)
        assert patched.status_code < 500, (body, patched.get_json())
        preview = shop.owner.post(
            shop.url(f"/print-templates/{template_id}/preview"),
            json={k: v for k, v in body.items() if k in ("source", "css")} | {"record_id": 1},
        )
        assert preview.status_code < 500, (body, preview.get_data(as_text=True)[:300])

    check()
