"""Files on records and company assets: bytes and hashes round trip, download headers (Chinese
names, nosniff, ETag, inline only for raster images), limits (size, empty, name, count), the
record deciding who sees and changes its files (data scope, read-only role, another company),
audit, the recycle bin and purging, merging, the 360° tab, the pages, the assets and the PDF
renderer's ``asset_content``."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy.engine import make_url

from saas.extensions import db
from tenants.context import tenant_context
from tests.crm.test_activities import Crm

#: A real 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
    b'<rect width="4" height="4"/></svg>'
)


@pytest.fixture
def crm(app, make_company, add_member, api) -> Crm:
    return Crm(app, make_company, add_member, api)


def _files(object_key: str, record_id: int, file_id: int | None = None) -> str:
    path = f"/records/{object_key}/{record_id}/files"
    return path if file_id is None else f"{path}/{file_id}"


def upload(crm: Crm, who: str, object_key: str, record_id: int, name: str, data: bytes, expect=201):
    response = crm.call(
        who,
        "post",
        _files(object_key, record_id),
        expect,
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    return response.get_json()


def _content_rows(file_id: int) -> int:
    """Rows of a file's bytes, counted as the database owner (no row-level security)."""
    url = make_url(os.environ["KEHU_TEST_DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        return conn.execute(
            "SELECT count(*) FROM stored_file_contents WHERE file_id = %s", (file_id,)
        ).fetchone()[0]


# ---------------------------------------------------------------- bytes, types and headers


def test_round_trip_keeps_bytes_and_hash(crm):
    account = crm.create("owner", "account", name="Files customer")["id"]
    data = os.urandom(50_000)
    stored = upload(crm, "owner", "account", account, "report.docx", data)
    assert stored["size"] == len(data)
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored["content_type"].endswith("wordprocessingml.document")
    assert stored["created_by"] == crm.people["owner"]

    response = crm.call("owner", "get", _files("account", account, stored["id"]), 200)
    assert response.data == data
    assert response.headers["ETag"] == f'"{stored["sha256"]}"'
    assert "private" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    again = crm.call(
        "owner",
        "get",
        _files("account", account, stored["id"]),
        304,
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert again.data == b""

    listed = crm.call("owner", "get", _files("account", account), 200).get_json()
    assert listed["count"] == 1 and listed["can_upload"] is True
    assert listed["data"][0]["filename"] == "report.docx"
    assert listed["data"][0]["url"].endswith(_files("account", account, stored["id"]))


def test_types_come_from_the_bytes_and_only_raster_images_show_inline(crm):
    account = crm.create("owner", "account", name="Types")["id"]
    disguised = upload(crm, "owner", "account", account, "notes.txt", PNG)
    assert disguised["content_type"] == "image/png"  # the bytes decide
    fake = upload(crm, "owner", "account", account, "photo.png", b"not an image at all")
    assert fake["content_type"] == "application/octet-stream"  # the name proves nothing
    pdf = upload(crm, "owner", "account", account, "quote.PDF", PDF)
    assert pdf["content_type"] == "application/pdf"
    svg = upload(crm, "owner", "account", account, "drawing.svg", SVG)
    assert svg["content_type"] == "image/svg+xml"
    html = upload(crm, "owner", "account", account, "page.html", b"<script>alert(1)</script>")
    assert html["content_type"] == "text/html"

    def disposition(stored: dict) -> str:
        path = _files("account", account, stored["id"]) + "?inline=1"
        return crm.call("owner", "get", path, 200).headers["Content-Disposition"]

    assert disposition(disguised).startswith("inline;")
    for stored in (fake, pdf, svg, html):
        assert disposition(stored).startswith("attachment;"), stored["filename"]


def test_chinese_names_survive_and_names_are_cleaned(crm):
    account = crm.create("owner", "account", name="中文客户")["id"]
    name = "合同 扫描件（盖章）.pdf"
    stored = upload(crm, "owner", "account", account, name, PDF)
    assert stored["filename"] == name
    response = crm.call("owner", "get", _files("account", account, stored["id"]), 200)
    header = response.headers["Content-Disposition"]
    assert f"filename*=UTF-8''{quote(name, safe='')}" in header
    assert 'filename="file.pdf"' in header  # an ASCII fallback for old clients

    cleaned = upload(crm, "owner", "account", account, "..\\..\\evil\u202e<name>\x00.txt", b"x")
    assert cleaned["filename"] == "evil_name_.txt"
    too_long = crm.call(
        "owner",
        "post",
        _files("account", account),
        400,
        data={"file": (io.BytesIO(b"x"), "长" * 256 + ".txt")},
        content_type="multipart/form-data",
    ).get_json()
    assert "255" in too_long["errors"]["file"][0]


# ---------------------------------------------------------------- limits


def test_size_limit_is_a_413_naming_the_file(crm, app, monkeypatch):
    account = crm.create("owner", "account", name="Big files")["id"]
    # The default limit lets a 20 MiB file through and refuses one byte more.
    limit = 20 * 1024 * 1024
    assert app.config["FILES_MAX_BYTES"] == limit
    exact = upload(crm, "owner", "account", account, "exact.bin", b"\0" * limit)
    assert exact["size"] == limit
    over = crm.call(
        "owner",
        "post",
        _files("account", account),
        413,
        data={"file": (io.BytesIO(b"\0" * (limit + 1)), "over.bin")},
        content_type="multipart/form-data",
    ).get_json()
    assert "20 MB" in over["message"] and over["errors"]["file"]
    # A body far over the limit is refused before it is read.
    monkeypatch.setitem(app.config, "FILES_MAX_BYTES", 1000)
    refused = crm.call(
        "owner",
        "post",
        _files("account", account),
        413,
        data={"file": (io.BytesIO(b"\0" * 200_000), "huge.bin")},
        content_type="multipart/form-data",
    ).get_json()
    assert refused["errors"]["file"] == [refused["message"]]
    assert "1000 B" in refused["message"]
    assert crm.call("owner", "get", _files("account", account), 200).get_json()["count"] == 1


def test_empty_files_and_missing_files_are_400(crm):
    account = crm.create("owner", "account", name="Empty")["id"]
    empty = upload(crm, "owner", "account", account, "empty.txt", b"", expect=400)
    assert empty["errors"]["file"] == ["The file is empty."]
    missing = crm.call("owner", "post", _files("account", account), 400, data={})
    assert "file" in missing.get_json()["errors"]


def test_a_record_holds_a_limited_number_of_files(crm, monkeypatch):
    from saas.files import services

    monkeypatch.setattr(services, "MAX_FILES_PER_RECORD", 2)
    account = crm.create("owner", "account", name="Full")["id"]
    upload(crm, "owner", "account", account, "1.txt", b"1")
    upload(crm, "owner", "account", account, "2.txt", b"2")
    full = upload(crm, "owner", "account", account, "3.txt", b"3", expect=409)
    assert full["errors"]["file"] and "2" in full["message"]


def test_lists_page_by_cursor(crm):
    account = crm.create("owner", "account", name="Many")["id"]
    ids = [upload(crm, "owner", "account", account, f"{i}.txt", b"x")["id"] for i in range(5)]
    first = crm.call("owner", "get", _files("account", account) + "?limit=2", 200).get_json()
    assert [f["id"] for f in first["data"]] == ids[::-1][:2] and first["count"] == 5
    second = crm.call(
        "owner", "get", _files("account", account) + f"?limit=2&cursor={first['next_cursor']}", 200
    ).get_json()
    assert [f["id"] for f in second["data"]] == ids[::-1][2:4]
    crm.call("owner", "get", _files("account", account) + "?limit=999", 400)


# ---------------------------------------------------------------- who sees and changes


def test_another_company_finds_nothing(crm, make_company, api):
    account = crm.create("owner", "account", name="Alpha's customer")["id"]
    stored = upload(crm, "owner", "account", account, "secret.txt", b"alpha secret")
    other = make_company()
    rest = api(other.token)
    base = f"/api/v1/t/{other.slug}"
    assert rest.get(f"{base}{_files('account', account)}").status_code == 404
    response = rest.get(f"{base}{_files('account', account, stored['id'])}")
    assert response.status_code == 404 and b"alpha secret" not in response.data
    assert rest.delete(f"{base}{_files('account', account, stored['id'])}").status_code == 404
    # Another company's token on this company's URL is not let in at all.
    assert rest.get(crm.url(_files("account", account))).status_code == 401
    # B's own record with A's file id: no such file.
    b_account = rest.post(f"{base}/records/account", json={"name": "Bravo"}).get_json()["id"]
    path = f"{base}{_files('account', b_account, stored['id'])}"
    assert rest.get(path).status_code == 404


def test_data_scope_own_hides_a_colleagues_customers_files(crm):
    crm.scope("member", "own")
    theirs = crm.create("owner", "account", name="Sales 2 customer", owner_id=crm.people["sales2"])
    mine = crm.create("owner", "account", name="Sales 1 customer", owner_id=crm.people["sales1"])
    stored = upload(crm, "sales2", "account", theirs["id"], "offer.pdf", PDF)
    crm.call("sales1", "get", _files("account", theirs["id"]), 404)
    crm.call("sales1", "get", _files("account", theirs["id"], stored["id"]), 404)
    crm.call("sales1", "delete", _files("account", theirs["id"], stored["id"]), 404)
    upload(crm, "sales1", "account", theirs["id"], "intrusion.txt", b"x", expect=404)
    # A file id of the colleague's customer under one's own customer is no file either.
    crm.call("sales1", "get", _files("account", mine["id"], stored["id"]), 404)
    assert crm.call("sales2", "get", _files("account", theirs["id"]), 200).get_json()["count"] == 1
    assert crm.call("manager", "get", _files("account", theirs["id"], stored["id"]), 200)


def test_read_only_downloads_but_cannot_upload_or_delete(crm):
    account = crm.create("owner", "account", name="Read only")["id"]
    stored = upload(crm, "owner", "account", account, "terms.pdf", PDF)
    listed = crm.call("viewer", "get", _files("account", account), 200).get_json()
    assert listed["count"] == 1 and listed["can_upload"] is False
    assert crm.call("viewer", "get", _files("account", account, stored["id"]), 200).data == PDF
    upload(crm, "viewer", "account", account, "mine.txt", b"x", expect=403)
    crm.call("viewer", "delete", _files("account", account, stored["id"]), 403)
    assert crm.call("owner", "get", _files("account", account), 200).get_json()["count"] == 1


def test_deletes_are_audited_and_need_the_uploader_or_edit_permission(crm):
    account = crm.create("owner", "account", name="Deletes")["id"]
    own = upload(crm, "sales1", "account", account, "own.txt", b"own")
    theirs = upload(crm, "sales2", "account", account, "theirs.txt", b"theirs")
    crm.call("sales1", "delete", _files("account", account, own["id"]), 204)
    # A member who may edit the record removes a colleague's file too.
    crm.call("sales1", "delete", _files("account", account, theirs["id"]), 204)
    crm.call("sales1", "delete", _files("account", account, theirs["id"]), 404)
    assert _content_rows(own["id"]) == 0 and _content_rows(theirs["id"]) == 0
    events = crm.audit("file.deleted")
    assert [(e.target_type, e.target_id) for e in events] == [
        ("file", str(own["id"])),
        ("file", str(theirs["id"])),
    ]
    assert events[1].before["filename"] == "theirs.txt"
    assert events[1].before["record_id"] == account
    assert events[1].actor_user_id == crm.people["sales1"]
    uploaded = crm.audit("file.uploaded")
    assert {e.after["sha256"] for e in uploaded} == {
        hashlib.sha256(b"own").hexdigest(),
        hashlib.sha256(b"theirs").hexdigest(),
    }


# ---------------------------------------------------------------- recycle bin, purge, merge


def test_the_bin_keeps_files_and_purging_removes_their_bytes(crm):
    account = crm.create("owner", "account", name="Doomed")["id"]
    stored = upload(crm, "owner", "account", account, "keep.txt", b"kept while in the bin")
    crm.call("owner", "delete", f"/records/account/{account}", 204)
    crm.call("owner", "get", _files("account", account), 404)
    assert _content_rows(stored["id"]) == 1
    crm.call("owner", "post", f"/records/account/{account}/restore", 200)
    assert crm.call("owner", "get", _files("account", account), 200).get_json()["count"] == 1
    crm.call("owner", "delete", f"/records/account/{account}", 204)
    crm.call("owner", "post", f"/records/account/{account}/purge", 204)
    assert _content_rows(stored["id"]) == 0
    from saas.files.models import StoredFile

    with crm.app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        assert db.session.get(StoredFile, (crm.company.tenant_id, stored["id"])) is None


def test_the_daily_purge_removes_files_too(crm):
    from datetime import timedelta

    from saas.records import retention

    account = crm.create("owner", "account", name="Old")["id"]
    stored = upload(crm, "owner", "account", account, "old.txt", b"old")
    crm.call("owner", "delete", f"/records/account/{account}", 204)
    with crm.app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        counts = retention.purge_expired(retention.utcnow() + timedelta(days=365))
    assert counts.get("account", 0) >= 1
    assert _content_rows(stored["id"]) == 0


def test_merging_moves_files_to_the_survivor(crm):
    keep = crm.create("owner", "account", name="Acme")
    other = crm.create("owner", "account", name="ACME Co.")
    kept = upload(crm, "owner", "account", keep["id"], "keep.txt", b"keep")
    moved = upload(crm, "owner", "account", other["id"], "moved.txt", b"moved")
    preview = crm.call(
        "owner",
        "post",
        "/records/account/merge/preview",
        200,
        json={"survivor": keep["id"], "others": [other["id"]]},
    ).get_json()
    assert {m["key"]: m["count"] for m in preview["moves"]}["files"] == 1
    crm.call(
        "owner",
        "post",
        "/records/account/merge",
        200,
        json={
            "survivor": keep["id"],
            "others": [other["id"]],
            "expected_versions": {
                str(keep["id"]): keep["version"],
                str(other["id"]): other["version"],
            },
        },
    )
    listed = crm.call("owner", "get", _files("account", keep["id"]), 200).get_json()
    assert {f["id"] for f in listed["data"]} == {kept["id"], moved["id"]}
    response = crm.call("owner", "get", _files("account", keep["id"], moved["id"]), 200)
    assert response.data == b"moved"


# ---------------------------------------------------------------- the 360° tab


def test_the_customer_files_tab_gathers_related_records_in_scope(crm):
    crm.scope("member", "own")
    account = crm.create("owner", "account", name="360", owner_id=crm.people["sales1"])["id"]
    contact = crm.create(
        "owner", "contact", name="Mine", account=account, owner_id=crm.people["sales1"]
    )["id"]
    hidden = crm.create(
        "owner", "contact", name="Theirs", account=account, owner_id=crm.people["sales2"]
    )["id"]
    on_account = upload(crm, "sales1", "account", account, "account.txt", b"a")
    on_contact = upload(crm, "sales1", "contact", contact, "名片.png", PNG)
    upload(crm, "owner", "contact", hidden, "hidden.txt", b"h")

    page = crm.call("sales1", "get", f"/records/account/{account}/related/files", 200).get_json()
    assert [r["id"] for r in page["data"]] == [on_contact["id"], on_account["id"]]
    assert page["count"] == 2 and page["hidden"] == 1
    assert page["data"][0]["values"]["object_key"] == "contact"
    assert page["data"][0]["name"] == "名片.png"
    full = crm.call("owner", "get", f"/records/account/{account}/related/files", 200).get_json()
    assert full["count"] == 3 and full["hidden"] == 0
    paged = crm.call(
        "owner", "get", f"/records/account/{account}/related/files?limit=2", 200
    ).get_json()
    rest = crm.call(
        "owner",
        "get",
        f"/records/account/{account}/related/files?limit=2&cursor={paged['next_cursor']}",
        200,
    ).get_json()
    assert len(paged["data"]) == 2 and [r["id"] for r in rest["data"]] == [on_account["id"]]
    # Only customers have the tab.
    crm.call("owner", "get", f"/records/contact/{contact}/related/files", 404)


# ---------------------------------------------------------------- pages


def test_record_page_panel_upload_and_delete(crm, login):
    account = crm.create("owner", "account", name="Panel customer")["id"]
    client = login(crm.emails["sales1"])
    page_url = f"/t/{crm.slug}/o/account/{account}"
    page = client.get(page_url).get_data(as_text=True)
    assert 'data-testid="files-panel"' in page and 'data-testid="files-empty"' in page
    assert "Up to 20 MB per file." in page
    response = client.post(
        f"{page_url}/files",
        data={"file": (io.BytesIO(b"hello"), "报价单.txt"), "next": f"{page_url}#files"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("#files")
    page = client.get(page_url).get_data(as_text=True)
    assert "报价单.txt" in page and 'data-testid="file-delete"' in page
    file_id = int(re.search(r'data-testid="file-row" data-id="(\d+)"', page).group(1))
    assert "data-confirm=" in page
    download = client.get(f"{page_url}/files/{file_id}")
    assert download.data == b"hello"
    # The read-only colleague sees the file but neither the upload form nor a delete button.
    viewer = login(crm.emails["viewer"]).get(page_url).get_data(as_text=True)
    assert "报价单.txt" in viewer
    assert 'data-testid="files-upload"' not in viewer and 'data-testid="file-delete"' not in viewer
    response = client.post(f"{page_url}/files/{file_id}/delete", data={})
    assert response.status_code == 302
    page = client.get(page_url).get_data(as_text=True)
    assert "“报价单.txt” was deleted." in page and 'data-testid="file-row"' not in page


def test_page_upload_errors_are_4xx_pages(crm, login, app, monkeypatch):
    account = crm.create("owner", "account", name="Errors")["id"]
    client = login(crm.emails["owner"])
    url = f"/t/{crm.slug}/o/account/{account}/files"
    empty = client.post(
        url, data={"file": (io.BytesIO(b""), "e.txt")}, content_type="multipart/form-data"
    )
    assert empty.status_code == 400 and "The file is empty." in empty.get_data(as_text=True)
    monkeypatch.setitem(app.config, "FILES_MAX_BYTES", 100)
    big = client.post(
        url,
        data={"file": (io.BytesIO(b"x" * 200_000), "big.txt")},
        content_type="multipart/form-data",
    )
    assert big.status_code == 413
    assert "The file is larger than 100 B." in big.get_data(as_text=True)
    small_over = client.post(
        url, data={"file": (io.BytesIO(b"x" * 101), "b.txt")}, content_type="multipart/form-data"
    )
    assert small_over.status_code == 413
    viewer = login(crm.emails["viewer"])
    assert viewer.post(url, data={"file": (io.BytesIO(b"x"), "v.txt")}).status_code == 403


def test_customer_page_has_a_files_tab_with_its_count(crm, login):
    account = crm.create("owner", "account", name="Tabbed")["id"]
    upload(crm, "owner", "account", account, "one.txt", b"1")
    upload(crm, "owner", "account", account, "two.txt", b"2")
    client = login(crm.emails["owner"])
    page = client.get(f"/t/{crm.slug}/o/account/{account}").get_data(as_text=True)
    tab = re.search(r'id="related-tab-files"[^>]*>([^<]*)<span[^>]*>(\d+)</span>', page)
    assert tab and tab.group(1).strip() == "Files" and tab.group(2) == "2"
    fragment = client.get(
        f"/t/{crm.slug}/o/account/{account}/related/files", headers={"X-Fragment": "1"}
    ).get_data(as_text=True)
    assert "one.txt" in fragment and "two.txt" in fragment and "Uploaded by" in fragment


def test_assets_page_is_for_admins(crm, login):
    owner = login(crm.emails["owner"])
    page = owner.get(f"/t/{crm.slug}/admin/assets")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'data-name="logo"' in text and 'data-name="seal"' in text
    assert 'data-testid="asset-empty"' in text
    assert 'data-testid="assets-link"' in text
    response = owner.post(
        f"/t/{crm.slug}/admin/assets",
        data={"name": "logo", "file": (io.BytesIO(PNG), "logo.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    text = owner.get(f"/t/{crm.slug}/admin/assets").get_data(as_text=True)
    assert 'data-testid="asset-preview"' in text and "logo.png" in text
    bad = owner.post(
        f"/t/{crm.slug}/admin/assets",
        data={"name": "seal", "file": (io.BytesIO(PDF), "seal.pdf")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "Upload an image" in bad.get_data(as_text=True)
    member = login(crm.emails["sales1"])
    assert member.get(f"/t/{crm.slug}/admin/assets").status_code == 403
    assert 'data-testid="assets-link"' not in member.get(f"/t/{crm.slug}/").get_data(as_text=True)
    assert member.get(f"/t/{crm.slug}/assets/logo").data == PNG
    assert owner.post(f"/t/{crm.slug}/admin/assets/logo/delete").status_code == 302
    assert member.get(f"/t/{crm.slug}/assets/logo").status_code == 404


# ---------------------------------------------------------------- assets


def _put_asset(crm: Crm, who: str, name: str, filename: str, data: bytes, expect: int):
    return crm.call(
        who,
        "put",
        f"/assets/{name}",
        expect,
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_assets_are_admin_only_to_change_and_everyones_to_read(crm):
    _put_asset(crm, "sales1", "logo", "logo.png", PNG, 403)
    _put_asset(crm, "manager", "logo", "logo.png", PNG, 403)
    created = _put_asset(crm, "owner", "logo", "logo.png", PNG, 201).get_json()
    assert created["content_type"] == "image/png" and created["name"] == "logo"
    replaced = _put_asset(crm, "owner", "logo", "logo-2.png", PNG + b"\0", 200).get_json()
    assert replaced["filename"] == "logo-2.png" and replaced["size"] == len(PNG) + 1
    response = crm.call("sales1", "get", "/assets/logo", 200)
    assert response.data == PNG + b"\0" and response.headers["ETag"] == f'"{replaced["sha256"]}"'
    assert crm.call("viewer", "get", "/assets", 200).get_json()["data"][0]["name"] == "logo"

    _put_asset(crm, "owner", "seal", "seal.pdf", PDF, 400)
    _put_asset(crm, "owner", "Bad Name", "x.png", PNG, 400)
    script = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    _put_asset(crm, "owner", "seal", "seal.svg", script, 400)
    entity = b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "b">]><svg>&a;</svg>'
    refused = _put_asset(crm, "owner", "seal", "seal.svg", entity, 400).get_json()
    assert "not a plain drawing" in refused["errors"]["file"][0]
    # The SVG DTD named by an editor's export is fine (nothing is fetched).
    exported = (
        b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">' + SVG.split(b"?>", 1)[1]
    )
    _put_asset(crm, "owner", "stamp", "stamp.svg", exported, 201)
    _put_asset(crm, "owner", "seal", "seal.svg", SVG, 201)
    svg = crm.call("sales1", "get", "/assets/seal?inline=1", 200)
    assert svg.headers["Content-Type"] == "image/svg+xml"
    assert svg.headers["Content-Disposition"].startswith("attachment;")

    crm.call("sales1", "delete", "/assets/logo", 403)
    crm.call("owner", "delete", "/assets/logo", 204)
    crm.call("owner", "delete", "/assets/logo", 404)
    crm.call("sales1", "get", "/assets/logo", 404)
    actions = [e.action for e in crm.audit("asset.put")] + [
        e.action for e in crm.audit("asset.deleted")
    ]
    assert actions == ["asset.put"] * 4 + ["asset.deleted"]


def test_asset_content_reads_the_current_tenant_only(crm, make_company, app):
    from saas.files.services import asset_content

    _put_asset(crm, "owner", "logo", "logo.png", PNG, 201)
    _put_asset(crm, "owner", "seal", "seal.svg", SVG, 201)
    other = make_company()
    with app.app_context():
        with tenant_context(crm.company.tenant_id, db.session):
            assert asset_content("logo") == (PNG, "image/png")
            assert asset_content("seal") == (SVG, "image/svg+xml")
            assert asset_content("signature") is None
            assert asset_content("../logo") is None
        with tenant_context(other.tenant_id, db.session):
            assert asset_content("logo") is None


def test_openapi_documents_the_file_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert "/api/v1/t/{slug}/records/{object_key}/{record_id}/files" in paths
    assert "/api/v1/t/{slug}/assets/{name}" in paths
    assert {"FileOut", "FilePageOut", "AssetOut"} <= set(spec["components"]["schemas"])
