"""Exporting list views to CSV and XLSX (streamed, or through a job with a download link), and
the printable list."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

FIELDS = (
    {"key": "city", "type": "text", "label": {"en": "City", "zh": "城市"}},
    {"key": "staff", "type": "integer", "label": {"en": "Staff", "zh": "员工数"}},
    {"key": "score", "type": "decimal", "label": "Score", "scale": 2},
    {"key": "revenue", "type": "currency", "label": {"en": "Revenue", "zh": "收入"}},
    {"key": "signed", "type": "date", "label": {"en": "Signed", "zh": "签约日"}},
    {"key": "met_at", "type": "datetime", "label": "Met at"},
    {"key": "vip", "type": "boolean", "label": "VIP"},
    {
        "key": "band",
        "type": "picklist",
        "label": {"en": "Band", "zh": "等级"},
        "values": [
            {"code": "A", "label": {"en": "Band A", "zh": "甲级"}},
            {"code": "B", "label": {"en": "Band B", "zh": "乙级"}},
        ],
    },
    {"key": "rep", "type": "lookup", "label": "Rep", "target": "user"},
    {"key": "parent", "type": "lookup", "label": "Parent", "target": "account"},
    {"key": "double_staff", "type": "formula", "label": "Double", "expression": "staff * 2"},
    {"key": "secret", "type": "text", "label": "Secret"},
)


@dataclass
class Crm:
    company: Any
    api: Any
    slug: str

    @property
    def base(self) -> str:
        return f"/api/v1/t/{self.slug}/records/account"

    def add(self, **values: Any) -> dict[str, Any]:
        response = self.api.post(self.base, json=values)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def crm(make_company, api, app, monkeypatch, tmp_path) -> Crm:
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    company = make_company(name="Export Co 导出")
    client = api(company.token)
    for payload in FIELDS:
        response = client.post(f"/api/v1/t/{company.slug}/objects/account/fields", json=payload)
        assert response.status_code == 201, (payload, response.get_json())
    response = client.put(
        f"/api/v1/t/{company.slug}/objects/account/fields/secret/access",
        json={"member": "hidden", "read_only": "hidden"},
    )
    assert response.status_code == 200, response.get_json()
    return Crm(company, client, company.slug)


def _rows(response) -> list[list[str]]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def _set_locale(app, user_id: int, locale: str, timezone: str | None = None) -> None:
    from saas.accounts.models import User
    from saas.extensions import db

    with app.app_context():
        values: dict[str, Any] = {"locale": locale}
        if timezone:
            values["timezone"] = timezone
        db.session.execute(update(User).where(User.id == user_id).values(**values))
        db.session.commit()


def _sample(crm: Crm) -> dict[str, Any]:
    parent = crm.add(name="Parent Group")
    first = crm.add(
        name="上海示例贸易有限公司",
        city="上海",
        staff=120,
        score="4.50",
        revenue={"amount": "1234567.89", "currency": "CNY"},
        signed="2024-03-01",
        met_at="2024-03-01T02:30:00Z",
        vip=True,
        band="A",
        rep=crm.company.owner_id,
        parent=parent["id"],
        secret="TOP SECRET",
        tags=["重点", "2024"],
    )
    second = crm.add(name='=HYPERLINK("x")', staff=8, band="B", revenue="10")
    return {"parent": parent, "first": first, "second": second}


def test_csv_has_every_visible_field_in_the_users_language(crm, login, app):
    _sample(crm)
    _set_locale(app, crm.company.owner_id, "zh_CN", "Asia/Shanghai")
    ui = login(crm.company.owner_email)
    response = ui.get(f"/t/{crm.slug}/o/account/export?format=csv&sort=name")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    rows = _rows(response)
    header = rows[0]
    # The system fields come first (in catalogue order), then the company's own.
    system = ["客户等级", "生命周期", "客户来源", "行业", "区域"]
    system += ["上级客户", "电话", "邮箱", "网址", "地址"]
    assert header[:12] == ["名称", *system, "城市"]
    assert "收入" in header
    assert header[header.index("收入") + 1].startswith("收入")  # its currency beside it
    assert "等级" in header and "Secret" in header  # the owner sees every field
    by_name = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    first = by_name["上海示例贸易有限公司"]
    assert first["城市"] == "上海"
    assert first["员工数"] == "120"
    assert first["Score"] == "4.50"
    assert first["收入"] == "1234567.89"
    assert first["签约日"] == "2024-03-01"
    assert first["Met at"] == "2024-03-01 10:30:00"  # 02:30 UTC in Shanghai
    assert first["VIP"] == "TRUE"
    assert first["等级"] == "甲级"
    assert first["Parent"] == "Parent Group"
    assert first["Double"] == "240"
    # The system fields' defaults, in the user's language.
    assert (first["客户等级"], first["生命周期"], first["上级客户"]) == ("C 一般", "潜在", "")
    # A text that a spreadsheet would run as a formula stays text.
    assert '\'=HYPERLINK("x")' in by_name
    assert len(rows) == 4


def test_hidden_fields_are_never_exported(crm, login, add_member):
    _sample(crm)
    member = login(add_member(crm.company, "member").email)
    response = member.get(f"/t/{crm.slug}/o/account/export")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Secret" not in _rows(response)[0]
    assert "TOP SECRET" not in body
    asked = member.get(f"/t/{crm.slug}/o/account/export?columns=name,secret")
    assert asked.status_code == 400
    assert "TOP SECRET" not in asked.get_data(as_text=True)


def test_filters_sort_and_columns_are_honoured(crm, login):
    for name, staff, band in (("Alpha", 5, "A"), ("Beta", 50, "A"), ("Gamma", 30, "B")):
        crm.add(name=name, staff=staff, band=band)
    ui = login(crm.company.owner_email)
    response = ui.get(
        f"/t/{crm.slug}/o/account/export?f=band:eq:A&sort=-staff&columns=name,staff,owner_id"
    )
    rows = _rows(response)
    assert rows[0] == ["Name", "Staff", "Owner"]
    assert [r[:2] for r in rows[1:]] == [["Beta", "50"], ["Alpha", "5"]]
    assert rows[1][2]  # the owner's name, not an id
    tree = (
        '{"or": [{"field": "staff", "op": "lt", "value": 10}, '
        '{"field": "name", "op": "eq", "value": "Gamma"}]}'
    )
    rows = _rows(
        ui.get(
            f"/t/{crm.slug}/o/account/export",
            query_string={"filter": tree, "sort": "name", "columns": "name"},
        )
    )
    assert rows[1:] == [["Alpha"], ["Gamma"]]
    assert _rows(ui.get(f"/t/{crm.slug}/o/account/export?q=gam&columns=name"))[1:] == [["Gamma"]]
    bad = ui.get(f"/t/{crm.slug}/o/account/export?f=nope:eq:1")
    assert bad.status_code == 400
    assert ui.get(f"/t/{crm.slug}/o/account/export?format=pdf").status_code == 400
    assert ui.get(f"/t/{crm.slug}/o/account/export?sort=tags").status_code == 400


def test_xlsx_keeps_numbers_and_dates(crm, api):
    from openpyxl import load_workbook

    _sample(crm)
    response = crm.api.post(
        f"{crm.base}/export", json={"format": "xlsx", "sort": [{"field": "name"}]}
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    by_name = {r[0]: dict(zip(header, [*r, *[None] * len(header)], strict=False)) for r in rows[1:]}
    first = by_name["上海示例贸易有限公司"]
    assert first["Staff"] == 120 and isinstance(first["Staff"], int)
    assert first["Score"] == 4.5
    assert first["Revenue"] == pytest.approx(1234567.89)
    assert first["Revenue (currency)"] == "CNY"
    assert first["Signed"] == dt.datetime(2024, 3, 1)  # a date cell
    assert first["Met at"] == dt.datetime(2024, 3, 1, 10, 30)  # the tenant's zone: Shanghai
    assert first["VIP"] is True
    assert first["Band"] == "Band A"
    assert first["Double"] == 240
    assert by_name['=HYPERLINK("x")']["Staff"] == 8  # a text, not a formula
    full = load_workbook(io.BytesIO(response.get_data())).active
    assert full["A1"].font.bold and full.freeze_panes == "A2"
    row = next(c.row for c in full["A"] if c.value == "上海示例贸易有限公司")
    signed = full.cell(row=row, column=header.index("Signed") + 1)
    assert signed.is_date and signed.number_format == "yyyy-mm-dd"


def test_api_export_streams_small_views_and_audits(crm, app):
    _sample(crm)
    response = crm.api.post(
        f"{crm.base}/export", json={"filter": {"field": "band", "op": "eq", "value": "B"}}
    )
    assert response.status_code == 200
    assert [r[0] for r in _rows(response)[1:]] == ['\'=HYPERLINK("x")']
    assert response.headers["X-Record-Count"] == "1"
    assert crm.api.post(f"{crm.base}/export", json={"format": "doc"}).status_code == 400
    assert crm.api.post(f"{crm.base}/export", json={"colour": 1}).status_code == 400
    events = crm.api.get(f"/api/v1/t/{crm.slug}/audit").get_json()
    exported = next(e for e in events if e["action"] == "records.exported")
    assert exported["target_type"] == "object" and exported["target_id"] == "account"
    assert exported["after"]["count"] == 1 and exported["after"]["format"] == "csv"
    assert exported["actor_user_id"] == crm.company.owner_id


def test_big_exports_run_as_a_job_with_a_download_link(crm, login, drain_jobs, monkeypatch, app):
    from saas.records import export

    monkeypatch.setattr(export, "STREAM_LIMIT", 3)
    monkeypatch.setattr(export, "BATCH", 2)
    for i in range(7):
        crm.add(name=f"客户 {i}", staff=i)
    ui = login(crm.company.owner_email)
    response = ui.get(f"/t/{crm.slug}/o/account/export?format=csv&sort=-staff")
    assert response.status_code == 303
    page_url = response.headers["Location"]
    assert re.fullmatch(rf"/t/{crm.slug}/exports/export:[0-9a-f]{{32}}", page_url)
    job_id = page_url.rsplit("/", 1)[1]
    waiting = ui.get(page_url)
    assert waiting.status_code == 200
    assert 'data-status="queued"' in waiting.get_data(as_text=True)
    assert 'http-equiv="refresh"' in waiting.get_data(as_text=True)
    assert ui.get(f"{page_url}/download").status_code == 409
    drain_jobs()
    done = ui.get(page_url).get_data(as_text=True)
    assert 'data-status="succeeded"' in done and "export-download" in done
    job = crm.api.get(f"/api/v1/t/{crm.slug}/jobs/{job_id}").get_json()
    assert (job["status"], job["done"], job["total"], job["percent"]) == ("succeeded", 7, 7, 100)
    download = ui.get(f"{page_url}/download")
    assert download.status_code == 200
    assert "Customers-" in download.headers["Content-Disposition"]
    rows = _rows(download)
    download.close()
    assert [r[0] for r in rows[1:]] == [f"客户 {i}" for i in range(6, -1, -1)]
    stored = os.listdir(os.path.join(app.config["EXPORT_DIR"], str(crm.company.tenant_id)))
    assert stored == [f"{job_id.split(':')[1]}.csv"]
    events = crm.api.get(f"/api/v1/t/{crm.slug}/audit").get_json()
    exported = next(e for e in events if e["action"] == "records.exported")
    assert exported["after"]["count"] == 7 and exported["after"]["job_id"] == job_id
    assert exported["actor_user_id"] == crm.company.owner_id


def test_api_background_export_and_download(crm, drain_jobs):
    from openpyxl import load_workbook

    _sample(crm)
    response = crm.api.post(f"{crm.base}/export", json={"format": "xlsx", "background": True})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status_url"] == f"/api/v1/t/{crm.slug}/jobs/{body['id']}"
    assert body["download_url"] == f"/api/v1/t/{crm.slug}/exports/{body['id']}/download"
    assert crm.api.get(body["download_url"]).status_code == 409
    drain_jobs()
    job = crm.api.get(body["status_url"]).get_json()
    assert job["status"] == "succeeded" and job["result"]["rows"] == 3
    file = crm.api.get(body["download_url"])
    assert file.status_code == 200
    sheet = load_workbook(io.BytesIO(file.get_data())).active
    assert sheet.max_row == 4


def test_exports_expire_after_a_day(crm, login, drain_jobs, app):
    from saas.extensions import db
    from saas.tracked import TrackedJob
    from tenants.context import tenant_context

    crm.add(name="Old")
    body = crm.api.post(f"{crm.base}/export", json={"background": True}).get_json()
    drain_jobs()
    assert crm.api.get(body["download_url"]).status_code == 200
    folder = os.path.join(app.config["EXPORT_DIR"], str(crm.company.tenant_id))
    assert len(os.listdir(folder)) == 1
    with app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        db.session.execute(
            update(TrackedJob)
            .where(TrackedJob.id == body["id"])
            .values(finished_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
        )
        db.session.commit()
    gone = crm.api.get(body["download_url"])
    assert gone.status_code == 410
    assert os.listdir(folder) == []
    page = login(crm.company.owner_email).get(f"/t/{crm.slug}/exports/{body['id']}")
    assert "export-expired" in page.get_data(as_text=True)


def test_old_files_are_swept_by_the_next_export(crm, drain_jobs, app):
    first = crm.api.post(f"{crm.base}/export", json={"background": True}).get_json()
    drain_jobs()
    folder = os.path.join(app.config["EXPORT_DIR"], str(crm.company.tenant_id))
    (old,) = os.listdir(folder)
    stale = (dt.datetime.now() - dt.timedelta(hours=30)).timestamp()
    os.utime(os.path.join(folder, old), (stale, stale))
    elsewhere = os.path.join(app.config["EXPORT_DIR"], "999999999")
    os.makedirs(elsewhere)
    for name in ("old.csv", ".crashed.xlsx.part", "fresh.csv"):
        with open(os.path.join(elsewhere, name), "w") as handle:
            handle.write("x")
        if name != "fresh.csv":
            os.utime(os.path.join(elsewhere, name), (stale, stale))
    crm.api.post(f"{crm.base}/export", json={"background": True})
    drain_jobs()
    assert old not in os.listdir(folder) and len(os.listdir(folder)) == 1
    assert os.listdir(elsewhere) == ["fresh.csv"]
    assert crm.api.get(first["download_url"]).status_code == 410


def test_only_the_requester_or_admins_download(
    crm, login, add_member, drain_jobs, make_company, api
):
    crm.add(name="Private")
    requester = add_member(crm.company, "member")
    requester_ui = login(requester.email)
    response = requester_ui.get(f"/t/{crm.slug}/o/account/export?background=1")
    assert response.status_code == 303
    page_url = response.headers["Location"]
    job_id = page_url.rsplit("/", 1)[1]
    drain_jobs()
    assert requester_ui.get(f"{page_url}/download").status_code == 200
    colleague = login(add_member(crm.company, "member").email)
    assert colleague.get(page_url).status_code == 403
    assert colleague.get(f"{page_url}/download").status_code == 403
    admin = login(add_member(crm.company, "admin").email)
    assert admin.get(f"{page_url}/download").status_code == 200
    other = make_company()
    other_ui = login(other.owner_email)
    assert other_ui.get(f"/t/{other.slug}/exports/{job_id}/download").status_code == 404
    assert other_ui.get(f"/t/{other.slug}/exports/{job_id}").status_code == 404
    assert other_ui.get(f"{page_url}/download").status_code == 404  # not a member there
    other_api = api(other.token)
    assert other_api.get(f"/api/v1/t/{other.slug}/exports/{job_id}/download").status_code == 404
    assert other_api.get(f"/api/v1/t/{crm.slug}/exports/{job_id}/download").status_code == 401
    # Other jobs are not exports.
    assert requester_ui.get(f"/t/{crm.slug}/exports/field-purge:1").status_code == 404


def test_a_member_exports_only_the_records_in_their_scope(crm, login, add_member, app):
    from saas.extensions import db
    from tenants import services
    from tenants.context import tenant_context
    from tenants.teams import set_data_scope

    member = add_member(crm.company, "member")
    crm.add(name="Owner's")
    crm.add(name="Member's", owner_id=member.id)
    with app.test_request_context(), tenant_context(crm.company.tenant_id, db.session):
        set_data_scope(services.membership(crm.company.owner_id), "member", "own")
    rows = _rows(login(member.email).get(f"/t/{crm.slug}/o/account/export?columns=name"))
    assert rows[1:] == [["Member's"]]


def test_print_view(crm, login, monkeypatch):
    from saas.records import export

    for name, staff, band in (("Alpha", 5, "A"), ("Beta", 50, "A"), ("Gamma", 30, "B")):
        crm.add(name=name, staff=staff, band=band, revenue="12.5", secret="TOP SECRET")
    ui = login(crm.company.owner_email)
    response = ui.get(f"/t/{crm.slug}/o/account/print?f=band:eq:A&sort=-staff")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "navbar" not in page and "print.css" in page
    assert 'data-testid="print-table"' in page
    assert page.index("Beta") < page.index("Alpha") and "Gamma" not in page
    assert "Band equals Band A" in page
    assert "Staff (descending)" in page
    assert re.search(r'data-testid="print-count">2<', page)
    assert "print-capped" not in page
    assert "CN¥12.50" in page or "¥12.50" in page
    monkeypatch.setattr(export, "PRINT_LIMIT", 2)
    capped = ui.get(f"/t/{crm.slug}/o/account/print?sort=name").get_data(as_text=True)
    assert "print-capped" in capped and "Gamma" not in capped
    assert re.search(r'data-testid="print-count">3<', capped)
    assert ui.get(f"/t/{crm.slug}/o/account/print?f=nope:eq:1").status_code == 400


def test_print_view_hides_hidden_fields(crm, login, add_member):
    crm.add(name="Alpha", secret="TOP SECRET")
    member = login(add_member(crm.company, "member").email)
    page = member.get(f"/t/{crm.slug}/o/account/print").get_data(as_text=True)
    assert "Alpha" in page and "TOP SECRET" not in page and "Secret" not in page


def test_query_json_round_trips():
    from custom_fields.query.filters import parse_tree, parse_url
    from saas.records.export import tree_json

    tree = parse_url(["band:eq:A", "staff:between:1,5", "name:is_empty"], "1 AND (2 OR NOT 3)")
    assert parse_tree(tree_json(tree)) == parse_tree(tree_json(parse_tree(tree_json(tree))))
    assert tree_json(tree) == {
        "and": [
            {"field": "band", "op": "eq", "value": "A"},
            {
                "or": [
                    {"field": "staff", "op": "between", "value": ["1", "5"]},
                    {"not": {"field": "name", "op": "is_empty"}},
                ]
            },
        ]
    }


def test_csv_cells():
    from saas.records.export import _csv_cell

    assert _csv_cell(Decimal("1E+2")) == "100"
    assert _csv_cell(None) == "" and _csv_cell(False) == "FALSE"
    assert _csv_cell("+86 138") == "'+86 138" and _csv_cell("@x") == "'@x"
    assert _csv_cell(dt.date(2024, 1, 2)) == "2024-01-02"


@pytest.mark.parametrize(
    "sort",
    [
        "staff",
        "-staff",
        "band,-name",
        "-signed",
        "owner_id,name",
        "-double_staff",
        "revenue,-vip",
        "-met_at",
        "city,-score",
        "-parent",
    ],
)
def test_exports_read_in_pages_keep_every_record_once(crm, login, monkeypatch, sort):
    from saas.records import export

    monkeypatch.setattr(export, "BATCH", 2)
    parent = crm.add(name="P")["id"]
    values = [
        (5, "A", "2024-01-01", "10", True, "2024-01-01T01:00:00Z", "Xi'an", "1.5", parent),
        (None, None, None, None, None, None, None, None, None),
        (5, "B", None, "10", False, "2024-01-01T01:00:00Z", "beijing", None, parent),
        (1, None, "2023-05-05", "2.5", None, None, "Beijing", "1.5", None),
    ]
    keys = ("staff", "band", "signed", "revenue", "vip", "met_at", "city", "score", "parent")
    for i in range(9):
        row = dict(zip(keys, values[i % len(values)], strict=True))
        crm.add(name=f"R{i}", **{k: v for k, v in row.items() if v is not None})
    ui = login(crm.company.owner_email)
    paged = _rows(ui.get(f"/t/{crm.slug}/o/account/export?columns=name&sort={sort}"))
    monkeypatch.setattr(export, "BATCH", 500)
    whole = _rows(ui.get(f"/t/{crm.slug}/o/account/export?columns=name&sort={sort}"))
    assert sorted(r[0] for r in paged[1:]) == ["P"] + [f"R{i}" for i in range(9)]
    assert paged == whole


def test_print_view_describes_nested_filters(crm, login):
    ui = login(crm.company.owner_email)
    page = ui.get(
        f"/t/{crm.slug}/o/account/print",
        query_string={
            "f": ["band:in:A,B", "staff:gt:10", "staff:is_empty", "owner_id:is_me"],
            "logic": "1 AND (2 OR NOT 3) AND 4",
            "q": "张",
        },
    ).get_data(as_text=True)
    assert (
        "Band is any of Band A, Band B and (Staff is greater than 10 or "
        "not (Staff is empty)) and Owner is me"
    ) in page
    assert "print-empty" in page


def test_content_disposition_has_an_ascii_fallback():
    from saas.records.export import content_disposition

    assert content_disposition("客户-20240301-1430.csv", "account") == (
        'attachment; filename="account-20240301-1430.csv"; '
        "filename*=UTF-8''%E5%AE%A2%E6%88%B7-20240301-1430.csv"
    )
    assert content_disposition('Deals "Q1"-1.xlsx').startswith('attachment; filename="Deals Q1-1')
