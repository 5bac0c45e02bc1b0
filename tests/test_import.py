"""Importing records from CSV and XLSX: encodings, mapping guesses, preview with per-cell errors,
duplicate policies, unique values, required fields, the tracked job, error reports, roles,
tenants, and files written by the export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

FIELDS = (
    {"key": "budget", "type": "currency", "label": {"en": "Budget", "zh": "预算"}},
    {"key": "tax_no", "type": "text", "label": {"en": "Tax number", "zh": "税号"}, "unique": True},
    {
        "key": "tier",
        "type": "picklist",
        "label": {"en": "Tier", "zh": "等级"},
        "values": [
            {"code": "A", "label": {"en": "Key account", "zh": "重点"}},
            {"code": "B", "label": {"en": "Normal", "zh": "普通"}},
        ],
    },
    {"key": "founded", "type": "date", "label": {"en": "Founded", "zh": "成立日期"}},
    {"key": "employees", "type": "integer", "label": {"en": "Employees", "zh": "员工数"}},
    {"key": "vip", "type": "boolean", "label": "VIP"},
    {
        "key": "channels",
        "type": "multi_picklist",
        "label": {"en": "Channels", "zh": "渠道"},
        "values": [
            {"code": "web", "label": {"en": "Website", "zh": "网站"}},
            {"code": "fair", "label": {"en": "Trade fair", "zh": "展会"}},
        ],
    },
    {
        "key": "customer_no",
        "type": "auto_number",
        "label": "Customer no.",
        "pattern": "C-{0000}",
    },
    {"key": "parent", "type": "lookup", "label": "Parent", "target": "account"},
    {"key": "met_at", "type": "datetime", "label": "Met at"},
    {"key": "discount", "type": "percent", "label": "Discount"},
)


@pytest.fixture(autouse=True)
def _import_dir(app, tmp_path):
    before = app.config.get("IMPORT_DIR")
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    yield
    app.config["IMPORT_DIR"] = before


class Crm:
    def __init__(self, company, rest):
        self.company = company
        self.rest = rest
        self.slug = company.slug

    def api(self, path: str, object_key: str = "account") -> str:
        return f"/api/v1/t/{self.slug}/records/{object_key}{path}"

    def upload(self, content: bytes, filename: str = "data.csv", object_key: str = "account"):
        return self.rest.post(
            self.api("/imports", object_key),
            data={"file": (io.BytesIO(content), filename)},
            content_type="multipart/form-data",
        )

    def uploaded(self, content: bytes, filename: str = "data.csv", object_key: str = "account"):
        response = self.upload(content, filename, object_key)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def preview(self, import_id: str, object_key: str = "account", **body):
        response = self.rest.post(self.api(f"/imports/{import_id}/preview", object_key), json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def run(self, import_id: str, drain, object_key: str = "account", **body) -> dict:
        response = self.rest.post(self.api(f"/imports/{import_id}/run", object_key), json=body)
        assert response.status_code == 202, response.get_json()
        drain()
        result = self.rest.get(self.api(f"/imports/{import_id}", object_key))
        assert result.status_code == 200
        return result.get_json()

    def records(self, object_key: str = "account") -> list[dict]:
        response = self.rest.get(self.api("?limit=200&sort=id", object_key))
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]

    def create(self, **body) -> dict:
        response = self.rest.post(self.api(""), json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def errors(self, import_id: str, object_key: str = "account") -> list[list[str]]:
        response = self.rest.get(self.api(f"/imports/{import_id}/errors.csv", object_key))
        assert response.status_code == 200
        text = response.get_data().decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text)))[1:]


@pytest.fixture
def crm(make_company, api):
    company = make_company()
    rest = api(company.token)
    base = f"/api/v1/t/{company.slug}/objects/account/fields"
    for payload in FIELDS:
        assert rest.post(base, json=payload).status_code == 201, payload
    return Crm(company, rest)


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---- upload and mapping -------------------------------------------------------------------------


def test_chinese_headers_are_mapped_and_the_file_described(crm):
    body = crm.uploaded(
        csv_bytes(
            [
                ["名称", "预算", "等级", "负责人", "标签", "Tax  Number", "成立日期", "备注"],
                ["上海示例", "100", "重点", crm.company.owner_email, "a, b", "T1", "2020-1-2", ""],
            ]
        )
    )
    assert body["rows"] == 1 and body["format"] == "csv" and body["status"] == "uploaded"
    assert body["mapping"] == {
        "名称": "name",
        "预算": "budget",
        "等级": "tier",
        "负责人": "owner_id",
        "标签": "tags",
        "Tax Number": "tax_no",  # spaces collapsed
        "成立日期": "founded",
        "备注": None,
    }
    assert body["match_on"] == "tax_no"  # a unique field is the natural key
    keys = {t["key"]: t for t in body["targets"]}
    assert keys["id"]["match_only"] and "customer_no" not in keys  # computed: never imported
    assert "budget.currency" in keys and "met_at" in keys
    preview = crm.preview(body["id"])
    row = preview["rows"][0]
    assert row["action"] == "create" and row["errors"] == {}
    assert row["cells"]["等级"] == "Key account"  # shown in the person's language
    assert row["cells"]["负责人"] in (crm.company.owner_email,)
    assert row["cells"]["成立日期"] == "Jan 2, 2020"
    assert row["cells"]["标签"] == "a, b"


def test_gb18030_csv_is_read(crm, drain_jobs):
    content = csv_bytes([["名称", "等级", "渠道"], ["北京客户", "普通", "网站；展会"]], "gb18030")
    body = crm.uploaded(content)
    assert body["columns"] == ["名称", "等级", "渠道"]
    result = crm.run(body["id"], drain_jobs, mapping=body["mapping"], match_on=None)
    assert result["status"] == "succeeded" and result["result"]["created"] == 1
    (record,) = crm.records()
    assert (record["name"], record["tier"], record["channels"]) == (
        "北京客户",
        "B",
        ["web", "fair"],
    )


def test_utf8_without_bom_semicolons_and_formula_guard(crm, drain_jobs):
    content = b"Name;Tax number\n'=Acme;'-12\n"
    body = crm.uploaded(content)
    assert body["mapping"] == {"Name": "name", "Tax number": "tax_no"}
    result = crm.run(body["id"], drain_jobs, match_on=None)
    assert result["result"]["created"] == 1
    assert (crm.records()[0]["name"], crm.records()[0]["tax_no"]) == ("=Acme", "-12")


def test_xlsx_with_typed_cells(crm, drain_jobs):
    content = xlsx_bytes(
        [
            ["Name", "Founded", "Employees", "VIP", "Met at", "Budget", "Budget (currency)"],
            [
                "Excel Co",
                dt.datetime(2021, 3, 4),
                12.0,
                True,
                dt.datetime(2024, 5, 6, 9, 30),
                12.5,
                "USD",
            ],
            ["Second", dt.date(2019, 1, 31), 3, False, None, None, None],
        ]
    )
    body = crm.uploaded(content, "book.xlsx")
    assert body["format"] == "xlsx" and body["rows"] == 2
    assert body["mapping"]["Budget (currency)"] == "budget.currency"
    result = crm.run(body["id"], drain_jobs, match_on=None)
    assert result["result"] == {"created": 2, "updated": 0, "skipped": 0, "failed": 0}
    first, second = crm.records()
    assert first["founded"] == "2021-03-04" and first["employees"] == 12 and first["vip"] is True
    assert first["budget"] == {"amount": "12.50", "currency": "USD"}
    assert first["met_at"] == "2024-05-06T01:30:00Z"  # read in the person's zone (Shanghai)
    assert (second["founded"], second["vip"], second["budget"]) == ("2019-01-31", False, None)


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "a.csv", "empty"),
        (b"Name\n", "a.csv", "no rows"),
        (b"\x00\x01 not a workbook", "a.xlsx", "Excel"),
        (b"x", "a.xls", ".xls"),
        (b"x", "a.pdf", "CSV or XLSX"),
    ],
)
def test_unreadable_files_are_refused_clearly(crm, content, filename, message):
    response = crm.upload(content, filename)
    assert response.status_code == 400
    assert message in response.get_json()["errors"]["file"][0]


def test_limits(crm, monkeypatch):
    from saas.records import imports

    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    response = crm.upload(csv_bytes([["Name"], ["a"], ["b"], ["c"], ["d"]]))
    assert response.status_code == 400 and "more than 3 rows" in response.get_json()["message"]
    monkeypatch.setattr(imports, "MAX_BYTES", 100)
    response = crm.upload(b"Name\n" + b"x" * 200 + b"\n")
    assert response.status_code == 413 and "larger than" in response.get_json()["message"]


# ---- preview and per-row errors ---------------------------------------------------------------


def test_preview_names_every_bad_cell_and_run_reports_them(app, crm, drain_jobs):
    crm.create(name="Existing", tax_no="TAKEN")
    rows = [
        ["Name", "Tax number", "Employees", "Founded", "Tier", "Discount", "Owner", "Parent"],
        ["Good one", "T-1", "1,200", "2020/05/06", "B", "12.5%", "", "Existing"],
        ["Bad number", "T-2", "many", "", "", "", "", ""],
        ["Bad date", "T-3", "", "2020-13-45", "", "", "", ""],
        ["Bad code", "T-4", "", "", "Z", "", "", ""],
        ["Same tax", "T-1", "", "", "", "", "", ""],
        ["Taken tax", "taken", "", "", "", "", "", ""],
        ["", "T-7", "", "", "", "", "", ""],
        ["Stranger", "T-8", "", "", "", "", "nobody@example.com", ""],
        ["Orphan", "T-9", "", "", "", "", "", "No such parent"],
    ]
    body = crm.uploaded(csv_bytes(rows))
    preview = crm.preview(body["id"], mapping=body["mapping"], match_on=None, policy="skip")
    by_row = {r["row"]: r for r in preview["rows"]}
    assert by_row[2]["action"] == "create" and by_row[2]["errors"] == {}
    assert by_row[2]["cells"]["Employees"] == "1,200"
    assert by_row[2]["cells"]["Discount"] == "12.50%"
    assert by_row[3]["errors"] == {"Employees": ["Employees: Enter a number."]}
    assert by_row[4]["errors"] == {"Founded": ["Founded: Enter a date as YYYY-MM-DD."]}
    assert by_row[5]["errors"] == {"Tier": ["Tier: “Z” is not one of the listed values."]}
    assert by_row[6]["errors"] == {
        "Tax number": ["Tax number: Row 2 of this file has the same value."]
    }
    assert by_row[7]["errors"] == {
        "Tax number": ["Tax number: This value is already used by another record."]
    }
    assert by_row[8]["errors"] == {"Name": ["Enter a name."]}
    assert "No active member" in by_row[9]["errors"]["Owner"][0]
    assert "There is no Customer “No such parent”" in by_row[10]["errors"]["Parent"][0]
    assert preview["counts"] == {"create": 1, "update": 0, "skip": 0, "error": 8}

    result = crm.run(body["id"], drain_jobs)
    assert result["result"] == {"created": 1, "updated": 0, "skipped": 0, "failed": 8}
    names = [r["name"] for r in crm.records()]
    assert names == ["Existing", "Good one"]  # nothing of a failed row is written
    good = crm.records()[1]
    assert good["employees"] == 1200 and good["founded"] == "2020-05-06"
    assert good["discount"] == "12.50" and good["parent"] == crm.records()[0]["id"]
    report = crm.errors(body["id"])
    assert ["3", "Employees", "many", "Employees: Enter a number."] in report
    assert [
        "6",
        "Tax number",
        "T-1",
        "Tax number: Row 2 of this file has the same value.",
    ] in report
    assert {r[0] for r in report} == {"3", "4", "5", "6", "7", "8", "9", "10"}
    # The rows that failed claimed nothing: their values are still free.
    assert crm.rest.post(crm.api(""), json={"name": "Later", "tax_no": "T-2"}).status_code == 201


def test_required_fields_and_defaults(crm, drain_jobs):
    fields = f"/api/v1/t/{crm.slug}/objects/account/fields"
    crm.rest.post(
        fields, json={"key": "territory", "type": "text", "label": "Territory", "required": True}
    )
    crm.rest.post(
        fields, json={"key": "origin", "type": "text", "label": "Origin", "default": "import"}
    )
    body = crm.uploaded(
        csv_bytes([["Name", "Territory"], ["Has territory", "East"], ["No territory", ""]])
    )
    preview = crm.preview(body["id"], match_on=None)
    assert any("Territory" in w for w in preview["warnings"]) is False  # mapped, so no warning
    assert preview["rows"][1]["errors"] == {"Territory": ["Territory: A value is required."]}
    result = crm.run(body["id"], drain_jobs)
    assert result["result"]["created"] == 1 and result["result"]["failed"] == 1
    (record,) = crm.records()
    assert record["origin"] == "import"  # the default applies to the blank cell

    body = crm.uploaded(csv_bytes([["Name"], ["No column for territory"]]))
    preview = crm.preview(body["id"], match_on=None)
    assert any("Territory" in w for w in preview["warnings"])


# ---- policies -----------------------------------------------------------------------------------


def _policy_file(crm) -> bytes:
    return csv_bytes(
        [
            ["Name", "Tax number", "Employees"],
            ["Alpha", "TX-1", "10"],
            ["Beta", "TX-2", "20"],
            ["Gamma", "TX-3", "30"],
        ]
    )


def test_policy_skip_on_name(crm, drain_jobs):
    crm.create(name="Alpha", employees=1)
    body = crm.uploaded(_policy_file(crm))
    result = crm.run(
        body["id"], drain_jobs, mapping=body["mapping"], match_on="name", policy="skip"
    )
    assert result["result"] == {"created": 2, "updated": 0, "skipped": 1, "failed": 0}
    alpha = next(r for r in crm.records() if r["name"] == "Alpha")
    assert alpha["employees"] == 1 and alpha["version"] == 1


def test_policy_update_on_unique_field_changes_only_filled_cells(crm, drain_jobs):
    kept = crm.create(name="Old name", tax_no="tx-1", employees=1, tier="A")
    body = crm.uploaded(
        csv_bytes([["Name", "Tax number", "Employees", "Tier"], ["Alpha", "TX-1", "10", ""]])
    )
    result = crm.run(body["id"], drain_jobs, match_on="tax_no", policy="update")
    assert result["result"] == {"created": 0, "updated": 1, "skipped": 0, "failed": 0}
    (record,) = crm.records()
    assert record["id"] == kept["id"] and record["version"] == 2
    assert (record["name"], record["employees"], record["tier"]) == ("Alpha", 10, "A")
    assert record["tax_no"] == "TX-1"
    # The unique claim moved with the value's case change, and stays single.
    assert crm.rest.post(crm.api(""), json={"name": "x", "tax_no": "Tx-1"}).status_code == 409


def test_policy_update_on_id_then_again_changes_nothing(crm, drain_jobs, app):
    first = crm.create(name="One", employees=1)
    second = crm.create(name="Two", employees=2)
    content = csv_bytes(
        [
            ["ID", "Name", "Employees"],
            [str(first["id"]), "One", "100"],
            [str(second["id"]), "Two renamed", ""],
            ["999999999", "Three", "3"],
        ]
    )
    body = crm.uploaded(content)
    assert body["match_on"] == "id"
    result = crm.run(body["id"], drain_jobs, policy="update")
    assert result["result"] == {"created": 1, "updated": 2, "skipped": 0, "failed": 0}
    records = {r["name"]: r for r in crm.records()}
    assert records["One"]["employees"] == 100 and records["Two renamed"]["employees"] == 2
    assert records["Three"]["id"] != 999999999
    again = crm.uploaded(content)
    result = crm.run(again["id"], drain_jobs, policy="update")
    # The first two rows now match their records exactly: nothing to change, versions stay.
    assert result["result"]["skipped"] == 2 and result["result"]["updated"] == 0
    assert {r["version"] for r in crm.records() if r["name"] != "Three"} == {2}

    from saas.extensions import db
    from tenants.context import tenant_context
    from tenants.models import AuditEvent

    with app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        events = (
            db.session.execute(
                select(AuditEvent).where(AuditEvent.target_id == body["id"]).order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        assert [e.action for e in events] == [
            "import.started",
            "records.imported",
            "import.finished",
        ]
        batch = events[1]
        assert batch.before["updated"][str(first["id"])] == {"employees": 1}
        assert batch.after["updated"][str(first["id"])] == {"employees": 100}
        assert len(batch.after["created"]) == 1
        assert events[2].after["created"] == 1 and events[2].after["updated"] == 2


def test_policy_create_anyway_and_duplicates_within_the_file(crm, drain_jobs):
    crm.create(name="Alpha")
    content = csv_bytes([["Name", "Employees"], ["Alpha", "1"], ["Alpha", "2"], ["Beta", "3"]])
    body = crm.uploaded(content)
    result = crm.run(body["id"], drain_jobs, match_on="name", policy="create")
    assert result["result"]["created"] == 3
    assert [r["name"] for r in crm.records()].count("Alpha") == 3

    body = crm.uploaded(csv_bytes([["Name", "Employees"], ["Delta", "1"], ["Delta", "2"]]))
    preview = crm.preview(body["id"], match_on="name", policy="update")
    assert preview["rows"][0]["action"] == "create"
    assert preview["rows"][1]["errors"] == {"Name": ["Row 2 of this file has the same Name."]}
    preview = crm.preview(body["id"], match_on="name", policy="skip")
    assert [r["action"] for r in preview["rows"]] == ["create", "skip"]
    preview = crm.preview(body["id"], match_on="name", policy="update")
    many = crm.uploaded(csv_bytes([["Name", "Employees"], ["Alpha", "9"]]))
    preview = crm.preview(many["id"], match_on="name", policy="update")
    assert "3 records have this Name" in preview["rows"][0]["errors"]["Name"][0]


def test_auto_numbers_are_consecutive_and_unique_across_batches(crm, drain_jobs, monkeypatch):
    from saas.records import imports

    monkeypatch.setattr(imports, "BATCH", 3)
    crm.create(name="Before")
    rows = [["Name", "Tax number"]] + [[f"R{i}", f"X{i % 5}"] for i in range(8)]
    body = crm.uploaded(csv_bytes(rows))
    result = crm.run(body["id"], drain_jobs, match_on=None)
    # X0…X4 once each; rows 7–9 repeat X0–X2 of rows 2–4, in later batches.
    assert result["result"] == {"created": 5, "updated": 0, "skipped": 0, "failed": 3}
    numbers = [r["customer_no"] for r in crm.records()]
    assert numbers == [f"C-{n:04d}" for n in range(1, 7)]
    report = crm.errors(body["id"])
    assert [r[0] for r in report] == ["7", "8", "9"]
    assert [r[3] for r in report] == [
        f"Tax number: Row {n} of this file has the same value." for n in (2, 3, 4)
    ]
    # Search text is kept for imported records.
    found = crm.rest.get(crm.api("?q=r3")).get_json()["data"]
    assert [r["name"] for r in found] == ["R3"]


# ---- custom objects, roles, tenants, running twice ----------------------------------------------


def test_custom_object_import(crm, drain_jobs):
    objects = f"/api/v1/t/{crm.slug}/objects"
    response = crm.rest.post(
        objects,
        json={"key": "project", "label": {"en": "Project", "zh": "项目"}, "plural": "Projects"},
    )
    assert response.status_code == 201, response.get_json()
    fields = f"{objects}/project/fields"
    crm.rest.post(
        fields,
        json={"key": "code", "type": "text", "label": {"en": "Code", "zh": "代码"}, "unique": True},
    )
    crm.rest.post(fields, json={"key": "hours", "type": "decimal", "label": "Hours"})
    body = crm.uploaded(
        csv_bytes([["名称", "代码", "Hours"], ["项目一", "P1", "1.5"], ["项目二", "P2", "x"]]),
        object_key="project",
    )
    assert body["mapping"] == {"名称": "name", "代码": "code", "Hours": "hours"}
    result = crm.run(body["id"], drain_jobs, object_key="project")
    assert result["result"] == {"created": 1, "updated": 0, "skipped": 0, "failed": 1}
    (record,) = crm.records("project")
    assert (record["name"], record["code"], record["hours"]) == ("项目一", "P1", "1.50")
    assert crm.records() == []  # nothing went to accounts
    # An import of one object is not reachable under another.
    assert crm.rest.get(crm.api(f"/imports/{body['id']}")).status_code == 404


def test_read_only_members_cannot_import(crm, add_member, login, api):
    reader = add_member(crm.company, "read_only")
    person = login(reader.email)
    page = person.post(f"/t/{crm.slug}/tokens", data={"name": "reader"})
    token = re.search(r'data-testid="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    reader_api = api(token)
    response = reader_api.post(
        crm.api("/imports"),
        data={"file": (io.BytesIO(b"Name\nx\n"), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    body = crm.uploaded(b"Name\nx\n")
    assert reader_api.get(crm.api(f"/imports/{body['id']}")).status_code == 403
    assert reader_api.post(crm.api(f"/imports/{body['id']}/run"), json={}).status_code == 403
    assert person.get(f"/t/{crm.slug}/o/account/import").status_code == 403
    member = api(_token(login, add_member(crm.company, "member").email, crm.slug))
    # A colleague's import is theirs alone; admins may see it.
    assert member.get(crm.api(f"/imports/{body['id']}")).status_code == 403


def _token(login, email: str, slug: str) -> str:
    page = login(email).post(f"/t/{slug}/tokens", data={"name": "t"})
    return re.search(r'data-testid="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)


def test_another_tenants_import_is_not_found(crm, make_company, api, login):
    body = crm.uploaded(b"Name\nsecret row\n")
    other = make_company()
    other_api = api(other.token)
    base = f"/api/v1/t/{other.slug}/records/account/imports/{body['id']}"
    assert other_api.get(base).status_code == 404
    assert other_api.post(f"{base}/preview", json={}).status_code == 404
    assert other_api.post(f"{base}/run", json={}).status_code == 404
    assert other_api.get(f"{base}/errors.csv").status_code == 404
    ui = login(other.owner_email)
    assert ui.get(f"/t/{other.slug}/o/account/import/{body['id']}").status_code == 404
    assert crm.rest.get(crm.api("/imports/not-an-id")).status_code == 404


def test_an_import_runs_once(crm, drain_jobs):
    body = crm.uploaded(b"Name\nOnce\n")
    crm.run(body["id"], drain_jobs, match_on=None)
    again = crm.rest.post(crm.api(f"/imports/{body['id']}/run"), json={})
    assert again.status_code == 409
    assert crm.rest.post(crm.api(f"/imports/{body['id']}/preview"), json={}).status_code == 409
    assert [r["name"] for r in crm.records()] == ["Once"]


def test_bad_choices_are_named(crm):
    body = crm.uploaded(b"Name,Tax number\nx,y\n")
    response = crm.rest.post(
        crm.api(f"/imports/{body['id']}/preview"),
        json={"mapping": {"Name": "name", "Tax number": "name"}, "match_on": "employees"},
    )
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert "mapping.Tax number" in errors and "match_on" in errors
    response = crm.rest.post(
        crm.api(f"/imports/{body['id']}/preview"),
        json={"mapping": {"Name": "name", "Tax number": "id"}, "match_on": None},
    )
    assert response.status_code == 200
    assert any("can only find existing records" in w for w in response.get_json()["warnings"])
    response = crm.rest.post(crm.api(f"/imports/{body['id']}/preview"), json={"policy": "merge"})
    assert response.status_code == 400


def test_a_crashed_job_resumes_after_the_last_batch(crm, drain_jobs, monkeypatch, app):
    from saas.records import imports

    monkeypatch.setattr(imports, "BATCH", 2)
    calls = {"n": 0}
    original = imports.Batches.write

    def flaky(self, outcomes, first, last):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker died")
        return original(self, outcomes, first, last)

    monkeypatch.setattr(imports.Batches, "write", flaky)
    body = crm.uploaded(csv_bytes([["Name"]] + [[f"N{i}"] for i in range(5)]))
    response = crm.rest.post(crm.api(f"/imports/{body['id']}/run"), json={"match_on": None})
    assert response.status_code == 202
    drain_jobs()  # first attempt fails in the second batch; RQ retries later
    status = crm.rest.get(crm.api(f"/imports/{body['id']}")).get_json()
    assert status["status"] == "queued" and status["done"] == 2
    assert [r["name"] for r in crm.records()] == ["N0", "N1"]
    with app.app_context():
        from rq.job import Job

        from saas.jobs import queue, redis_connection

        job = Job.fetch(
            f"t{crm.company.tenant_id}-import-{body['id']}", connection=redis_connection()
        )
        queue("default").enqueue_job(job)  # what the retry does once its delay is over
    drain_jobs()
    status = crm.rest.get(crm.api(f"/imports/{body['id']}")).get_json()
    assert status["status"] == "succeeded", status
    assert status["result"] == {"created": 5, "updated": 0, "skipped": 0, "failed": 0}
    assert [r["name"] for r in crm.records()] == [f"N{i}" for i in range(5)]


# ---- the pages ----------------------------------------------------------------------------------


def test_pages_walk_through_an_import_in_chinese(crm, login, drain_jobs, app):
    ui = login(crm.company.owner_email)
    ui.post("/locale", data={"locale": "zh_CN", "next": "/"})
    base = f"/t/{crm.slug}/o/account/import"
    page = ui.get(base)
    assert page.status_code == 200 and 'type="file"' in page.get_data(as_text=True)
    template = ui.get(f"{base}/template.csv")
    assert template.status_code == 200
    assert template.get_data().startswith(b"\xef\xbb\xbf")
    assert "名称" in template.get_data().decode("utf-8-sig")

    content = csv_bytes([["名称", "员工数"], ["页面客户", "7"], ["坏数字", "七"]])
    response = ui.post(
        base, data={"file": (io.BytesIO(content), "客户.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    import_id = mapping_url.rstrip("/").rsplit("/", 1)[1]
    page = ui.get(mapping_url).get_data(as_text=True)
    assert 'id="map-0"' in page and 'value="name" selected' in page

    form = {"map-0": "name", "map-1": "employees", "match_on": "name", "policy": "skip"}
    page = ui.post(f"{base}/{import_id}/preview", data=form)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'data-action="create"' in text and 'data-action="error"' in text
    assert "员工数" in text

    bad = ui.post(f"{base}/{import_id}/preview", data={**form, "map-1": "name"})
    assert bad.status_code == 400 and "is-invalid" in bad.get_data(as_text=True)

    response = ui.post(f"{base}/{import_id}/run")
    assert response.status_code == 302 and response.headers["Location"].endswith("/progress")
    page = ui.get(f"{base}/{import_id}/progress").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page
    drain_jobs()
    page = ui.get(f"{base}/{import_id}/progress").get_data(as_text=True)
    assert 'data-status="succeeded"' in page
    assert 'data-count="created">1<' in page and 'data-count="failed">1<' in page
    report = ui.get(f"{base}/{import_id}/errors.csv")
    assert report.status_code == 200
    rows = list(csv.reader(io.StringIO(report.get_data().decode("utf-8-sig"))))
    assert len(rows[0]) == 4 and rows[0] != ["Row", "Column", "Value", "Error"]  # in Chinese
    assert rows[1][:3] == ["3", "员工数", "七"]
    # Once run, the mapping page leads to the result.
    assert ui.get(mapping_url).status_code == 302
    assert ui.post(f"{base}/{import_id}/run").status_code == 302


def test_upload_page_shows_errors(crm, login):
    ui = login(crm.company.owner_email)
    base = f"/t/{crm.slug}/o/account/import"
    response = ui.post(base, data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and 'data-testid="import-errors"' in response.get_data(
        as_text=True
    )
    response = ui.post(
        base, data={"file": (io.BytesIO(b""), "x.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400


# ---- files written by the export ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_exported_file_imports_back_unchanged(crm, drain_jobs, app, fmt):
    export = pytest.importorskip("saas.records.export")
    parent = crm.create(name="母公司")
    crm.create(
        name="子公司 =1",
        budget={"amount": "1234.50", "currency": "USD"},
        tax_no="+86-1",
        tier="A",
        founded="2020-02-29",
        employees=5,
        vip=True,
        channels=["web", "fair"],
        parent=parent["id"],
        met_at="2024-01-02T03:04:05Z",
        discount="7.25",
        tags=["甲", "b"],
    )
    before = crm.records()
    from saas.extensions import db
    from tenants import services as tenant_services
    from tenants.context import tenant_context

    with app.test_request_context(), tenant_context(crm.company.tenant_id, db.session):
        from flask import g

        from saas.records import services

        actor = tenant_services.membership(crm.company.owner_id)
        g.membership = actor
        st = services.store("account", actor)
        ctx = services.context()
        columns = export.build_columns(st, actor, None, ctx.locale)
        table = export.Table(st, actor, columns, ctx)
        records = list(db.session.execute(st.query().order_by(st.model.id)).scalars())
        if fmt == "csv":
            content = b"".join(export.csv_chunks(table, records))
        else:
            buffer = io.BytesIO()
            export.write_xlsx(table, records, buffer, "Customers")
            content = buffer.getvalue()
    body = crm.uploaded(content, f"export.{fmt}")
    preview = crm.preview(body["id"], match_on="name", policy="update")
    assert [r["errors"] for r in preview["rows"]] == [{}, {}], preview
    result = crm.run(body["id"], drain_jobs)
    assert result["result"]["failed"] == 0, crm.errors(body["id"])
    assert result["result"]["skipped"] == 2, (result, crm.errors(body["id"]))
    assert crm.records() == before


def test_fast_search_text_is_the_record_services_search_text(app):
    from custom_fields.definitions import FieldInfo, ObjectSchema
    from custom_fields.types import FieldSpec
    from saas.records import imports, search

    def info(key: str, kind: str, searchable: bool = False) -> FieldInfo:
        return FieldInfo(1, FieldSpec(key, kind, key, key), False, None, searchable, {})

    schema = ObjectSchema(
        1,
        "account",
        "Customer",
        "客户",
        "Customers",
        "客户",
        True,
        None,
        (
            info("email", "email"),
            info("mobile", "phone"),
            info("city", "text", searchable=True),
            info("budget", "currency", searchable=True),
            info("channels", "multi_picklist", searchable=True),
            info("notes", "text"),
        ),
    )
    names = [
        "上海王氏贸易有限公司",
        "重庆银行长沙分行 No.7",
        "张三",
        "行长 的 长城 乐器行",
        "Acme 中国 (Hong Kong) Ltd. 021-6234 5678",
        "",
        None,
        "ǚ 〇 々 𠀀 ﹏ 丶",
        "差不多 單據 繁體 调查",
    ]
    values = [
        {},
        {"email": "Zhang@Example.com", "mobile": "+8613812345678", "city": "南京 长江路"},
        {"budget": {"amount": "12.50", "currency": "CNY"}, "channels": ["网站", "展会"]},
        {"notes": "not searched 不搜索", "city": "  "},
    ]
    with app.app_context():
        for name in names:
            for data in values:
                expected = search.record_text(schema, name, data)
                assert imports.search_text(schema, name, data) == expected, (name, data)


def test_a_record_changed_during_the_import_is_left_alone(crm, drain_jobs, monkeypatch):
    from sqlalchemy import update as sql_update

    from saas.extensions import db
    from saas.records import imports
    from saas.records.models import Account

    record = crm.create(name="Busy", tax_no="B-1", employees=1)
    original = imports.Batches.write

    def someone_else_first(self, outcomes, first, last):
        # Another person saves the record between validation and writing.
        db.session.execute(
            sql_update(Account)
            .where(Account.id == record["id"])
            .values(version=Account.version + 1, data={"tax_no": "B-1", "employees": 2})
        )
        return original(self, outcomes, first, last)

    monkeypatch.setattr(imports.Batches, "write", someone_else_first)
    body = crm.uploaded(csv_bytes([["Name", "Tax number", "Employees"], ["Busy", "b-2", "9"]]))
    result = crm.run(body["id"], drain_jobs, match_on="name", policy="update")
    assert result["result"] == {"created": 0, "updated": 0, "skipped": 0, "failed": 1}
    (row,) = crm.errors(body["id"])
    assert "changed or deleted this record during the import" in row[3]
    (current,) = crm.records()
    assert (current["employees"], current["tax_no"], current["version"]) == (2, "B-1", 2)
    # The value the failed row would have taken is free again.
    assert crm.rest.post(crm.api(""), json={"name": "x", "tax_no": "B-2"}).status_code == 201


def test_update_never_writes_a_record_shared_to_read_only(crm, drain_jobs, add_member, api, app):
    """A member who sees a colleague's customer only through a read share cannot change it by
    importing a file that matches it on its id: the row is reported, the record stays."""
    from saas.extensions import db
    from tenants import services as tenant_services
    from tenants.context import tenant_context

    base = f"/api/v1/t/{crm.slug}"
    assert crm.rest.patch(f"{base}/roles/member", json={"data_scope": "own"}).status_code == 200
    people = {}
    for name in ("alice", "bob"):
        member = add_member(crm.company, "member")
        with app.app_context(), tenant_context(crm.company.tenant_id, db.session, member.id):
            _, raw = tenant_services.create_token(tenant_services.membership(member.id), "t")
        people[name] = (member.id, Crm(crm.company, api(raw)))
    alice_id, alice = people["alice"]
    bob_id, bob = people["bob"]
    theirs = alice.create(name="Alice's customer", employees=5)
    shared = alice.rest.post(
        f"{base}/records/account/{theirs['id']}/shares", json={"user_id": bob_id}
    )
    assert shared.status_code == 201, shared.get_json()
    mine = bob.create(name="Bob's customer", employees=1)
    content = csv_bytes(
        [
            ["ID", "Name", "Employees"],
            [str(theirs["id"]), "Taken over", "999"],
            [str(mine["id"]), "Bob's customer", "2"],
        ]
    )
    upload = bob.uploaded(content)
    result = bob.run(upload["id"], drain_jobs, policy="update")
    assert result["result"]["updated"] == 1 and result["result"]["failed"] == 1, result
    after = alice.rest.get(f"{base}/records/account/{theirs['id']}").get_json()
    assert (after["name"], after["employees"], after["owner_id"]) == (
        "Alice's customer",
        5,
        alice_id,
    )
    assert bob.rest.get(f"{base}/records/account/{mine['id']}").get_json()["employees"] == 2
