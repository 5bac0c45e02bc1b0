"""Record pages (/t/<slug>/o/<object>/…): list, detail, create and edit forms rendered from the
page layout with one input per field type, field access per role, stale edits, recycle bin;
and page layouts (service, API, editor)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from werkzeug.datastructures import MultiDict

from custom_fields.system_fields import ACCOUNT

FIELDS = (
    {"key": "budget", "type": "currency", "label": {"en": "Budget", "zh": "预算"}},
    {"key": "tier", "type": "picklist", "label": "Tier", "values": ["A", "B", "C"]},
    {"key": "vip", "type": "boolean", "label": "VIP"},
    {"key": "notes", "type": "long_text", "label": "Notes"},
    {"key": "founded", "type": "date", "label": "Founded"},
    {"key": "met_at", "type": "datetime", "label": "Met at"},
    {"key": "channels", "type": "multi_picklist", "label": "Channels", "values": ["web", "fair"]},
    {"key": "employees", "type": "integer", "label": "Employees"},
    {"key": "weight", "type": "decimal", "label": "Weight"},
    {"key": "discount", "type": "percent", "label": "Discount"},
    {"key": "contact_email", "type": "email", "label": "Contact email"},
    {"key": "mobile", "type": "phone", "label": "Mobile"},
    {"key": "homepage", "type": "url", "label": "Homepage"},
    {"key": "parent", "type": "lookup", "label": "Parent", "target": "account"},
    {"key": "customer_no", "type": "auto_number", "label": "Customer no.", "pattern": "C-{000}"},
    {"key": "secret", "type": "text", "label": "Secret margin"},
    {"key": "rating", "type": "text", "label": "Credit rating"},
)
#: The system fields every company has on customers; the fixture puts them after FIELDS.
SYSTEM = [f.key for f in ACCOUNT]


class Crm:
    def __init__(self, company, rest, admin):
        self.company = company
        self.rest = rest
        self.admin = admin
        self.slug = company.slug

    def url(self, path: str = "/", object_key: str = "account") -> str:
        return f"/t/{self.slug}/o/{object_key}{path}"

    def api_record(self, record_id: int) -> dict:
        response = self.rest.get(f"/api/v1/t/{self.slug}/records/account/{record_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def create(self, **body) -> dict:
        response = self.rest.post(f"/api/v1/t/{self.slug}/records/account", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def crm(make_company, api, login):
    company = make_company()
    rest = api(company.token)
    base = f"/api/v1/t/{company.slug}/objects/account/fields"
    for payload in FIELDS:
        response = rest.post(base, json=payload)
        assert response.status_code == 201, response.get_json()
    response = rest.put(f"{base}/order", json={"keys": [f["key"] for f in FIELDS] + SYSTEM})
    assert response.status_code == 200, response.get_json()
    response = rest.put(f"{base}/secret/access", json={"member": "hidden", "read_only": "hidden"})
    assert response.status_code == 200, response.get_json()
    response = rest.put(f"{base}/rating/access", json={"member": "read_only"})
    assert response.status_code == 200, response.get_json()
    return Crm(company, rest, login(company.owner_email))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def errors_of(page: str, key: str) -> list[str]:
    """The messages shown next to the input of ``key`` (a field key, ``name`` or ``owner_id``)."""
    block = re.search(
        rf'class="invalid-feedback d-block" data-field="{re.escape(key)}">'
        rf"((?:<div>[^<]*</div>)*)</div>",
        page,
    )
    if block is None:
        return []
    return [html.unescape(m) for m in re.findall(r"<div>([^<]*)</div>", block.group(1))]


class _FormReader(HTMLParser):
    """What a browser would post from the record form: enabled inputs, chosen options."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self.inside = False
        self.select: str | None = None
        self.multiple = False
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("data-testid") == "record-form"
        if not self.inside or "disabled" in a:
            return
        if tag == "input" and "name" in a and a.get("type") not in ("submit", "button"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.pairs.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self.select, self.multiple, self.options = a.get("name"), "multiple" in a, []
        elif tag == "option" and self.select:
            self.options.append((a.get("value") or "", "selected" in a))
        elif tag == "textarea":
            self.textarea, self.text = a.get("name"), ""

    def handle_data(self, data):
        if self.textarea:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            chosen = [v for v, selected in self.options if selected]
            if not chosen and not self.multiple and self.options:
                chosen = [self.options[0][0]]
            self.pairs += [(self.select, v) for v in chosen]
            self.select = None
        elif tag == "textarea" and self.textarea:
            text = self.text[1:] if self.text.startswith("\n") else self.text
            self.pairs.append((self.textarea, text.replace("\n", "\r\n")))
            self.textarea = None


def form_data(page: str) -> MultiDict:
    reader = _FormReader()
    reader.feed(page)
    return MultiDict(reader.pairs)


def version_in(page: str) -> int:
    return int(re.search(r'name="version" value="(\d+)"', page).group(1))


def section_titles(page: str) -> list[str]:
    return [
        html.unescape(t)
        for t in re.findall(r'<h2 class="card-header h6 mb-0" id="section-\d+">([^<]*)</h2>', page)
    ]


def detail_keys(page: str) -> list[str]:
    """The field keys of the detail page, in page order."""
    return re.findall(r'<dd class="mb-0 text-break record-value" data-field="([^"]+)"', page)


def value_on(page: str, key: str) -> str:
    match = re.search(
        rf'<dd class="mb-0 text-break record-value" data-field="{re.escape(key)}">(.*?)</dd>',
        page,
        re.S,
    )
    assert match, f"no {key} on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


FULL_FORM = {
    "name": "上海示例贸易有限公司",
    "field-budget": "1000000",
    "field-budget-currency": "USD",
    "field-tier": "B",
    "field-vip": "true",
    "field-notes": "Line one\r\nLine two",
    "field-founded": "2020-05-04",
    "field-met_at": "2026-03-05T09:30",
    "field-channels": ["web", "fair"],
    "field-employees": "120",
    "field-weight": "12.5",
    "field-discount": "7.5",
    "field-contact_email": "Buyer@Example.com",
    "field-mobile": "+86 138 1234 5678",
    "field-homepage": "example.com",
    "field-secret": "42%",
    "field-rating": "AAA",
}


# --- list, create, detail ------------------------------------------------------------------


def test_empty_list_form_with_every_widget_create_and_detail(crm):
    page = text_of(crm.admin.get(crm.url("/")))
    assert 'data-testid="no-records"' in page
    assert f'href="{crm.url("/new")}"' in page

    form = crm.admin.get(crm.url("/new"))
    assert form.status_code == 200
    page = text_of(form)
    for kind, name in (
        ('type="number" step="any"', "field-budget"),
        ("<select", "field-budget-currency"),
        ("<select", "field-tier"),
        ("<select", "field-vip"),
        ("<textarea", "field-notes"),
        ('type="date"', "field-founded"),
        ('type="datetime-local"', "field-met_at"),
        ("<select multiple", "field-channels"),
        ('type="number" step="1"', "field-employees"),
        ('type="email"', "field-contact_email"),
        ('type="tel"', "field-mobile"),
        ('type="url"', "field-homepage"),
        ("<select", "field-parent"),
    ):
        assert re.search(rf'{re.escape(kind)}[^>]*id="{name}"', page), (kind, name)
    assert 'name="field-customer_no"' not in page  # auto-number: shown, never typed in
    assert "Assigned when the record is saved." in page
    assert '<option value="USD"' in page and '<option value="CNY" selected>' in page
    assert "<script>" not in page and " style=" not in page  # CSP: no inline code or styles

    response = crm.admin.post(crm.url("/new"), data=FULL_FORM)
    assert response.status_code == 302, errors_of(text_of(response), "name")
    record_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    body = crm.api_record(record_id)
    assert body["name"] == "上海示例贸易有限公司"
    assert body["budget"] == {"amount": "1000000.00", "currency": "USD"}
    assert (body["tier"], body["vip"], body["channels"]) == ("B", True, ["web", "fair"])
    assert body["notes"] == "Line one\nLine two"
    assert body["founded"] == "2020-05-04"
    assert body["met_at"] == "2026-03-05T01:30:00Z"  # 09:30 in Asia/Shanghai
    assert (body["employees"], body["weight"], body["discount"]) == (120, "12.50", "7.50")
    assert body["contact_email"] == "buyer@example.com"
    assert body["mobile"] == "+8613812345678"
    assert body["homepage"] == "https://example.com"
    assert body["customer_no"] == "C-001"
    assert body["parent"] is None
    assert body["owner_id"] == crm.company.owner_id

    detail = crm.admin.get(response.headers["Location"])
    assert detail.status_code == 200
    page = text_of(detail)
    assert value_on(page, "budget") == "$1,000,000.00"
    assert value_on(page, "tier") == "B"
    assert value_on(page, "vip") == "Yes"
    assert value_on(page, "channels") == "web, fair"
    assert value_on(page, "customer_no") == "C-001"
    assert value_on(page, "secret") == "42%"
    assert 'data-testid="record-version"' in page and "Version 1" in page
    assert "Delete" in page and "data-confirm=" in page

    listing = text_of(crm.admin.get(crm.url("/")))
    assert "上海示例贸易有限公司" in listing
    assert f'href="{crm.url(f"/{record_id}")}"' in listing
    assert "$1,000,000.00" in listing  # budget is among the first fields shown


def test_the_home_page_links_every_object_to_its_list(crm):
    page = text_of(crm.admin.get(f"/t/{crm.slug}/"))
    for key in ("account", "contact", "opportunity"):
        assert f'href="/t/{crm.slug}/o/{key}/"' in page
    assert crm.admin.get(crm.url("/", "contact")).status_code == 200
    assert crm.admin.get(crm.url("/", "no_such_object")).status_code == 404


def test_lookup_offers_the_target_records(crm):
    parent = crm.create(name="Parent company")
    page = text_of(crm.admin.get(crm.url("/new")))
    assert (
        f'<option value="{parent["id"]}" data-search="parent company">Parent company</option>'
        in page
    )
    response = crm.admin.post(
        crm.url("/new"), data={"name": "Child", "field-parent": str(parent["id"])}
    )
    assert response.status_code == 302
    child_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert crm.api_record(child_id)["parent"] == parent["id"]


def test_list_pages_by_cursor_newest_first(crm):
    ids = [crm.create(name=f"Customer {i:02d}")["id"] for i in range(52)]
    first = text_of(crm.admin.get(crm.url("/")))
    shown = [int(i) for i in re.findall(r'<tr data-id="(\d+)">', first)]
    assert shown == sorted(ids, reverse=True)[:50]
    link = re.search(r'href="([^"]*cursor=[^"]+)" rel="next" data-testid="next-page"', first)
    assert link
    second = text_of(crm.admin.get(html.unescape(link.group(1))))
    assert [int(i) for i in re.findall(r'<tr data-id="(\d+)">', second)] == sorted(ids)[:2][::-1]
    assert 'data-testid="next-page"' not in second


# --- validation and stale edits ------------------------------------------------------------


def test_validation_errors_are_shown_next_to_the_fields_with_400(crm):
    response = crm.admin.post(
        crm.url("/new"),
        data={
            "name": "",
            "field-employees": "many",
            "field-contact_email": "not an email",
            "field-budget": "12",
            "field-budget-currency": "USD",
        },
    )
    assert response.status_code == 400
    page = text_of(response)
    assert errors_of(page, "name") == ["Enter a name."]
    assert errors_of(page, "employees") == ["Employees: Enter a number."]
    assert errors_of(page, "contact_email")
    assert 'id="field-employees" name="field-employees" class="form-control is-invalid"' in page
    # What was typed is kept.
    assert 'value="many"' in page and 'value="not an email"' in page
    assert '<option value="USD" selected>' in page
    assert crm.rest.get(f"/api/v1/t/{crm.slug}/records/account").get_json()["data"] == []


def test_unique_conflict_is_shown_next_to_the_field(crm):
    crm.rest.patch(
        f"/api/v1/t/{crm.slug}/objects/account/fields/contact_email", json={"unique": True}
    )
    crm.create(name="First", contact_email="buyer@example.com")
    response = crm.admin.post(
        crm.url("/new"), data={"name": "Second", "field-contact_email": "buyer@example.com"}
    )
    assert response.status_code == 409
    assert errors_of(text_of(response), "contact_email") == [
        "Contact email: This value is already used by another record."
    ]


def test_edit_changes_only_what_was_changed(crm):
    record = crm.create(name="Acme", tier="A", employees=10, notes="Keep\nme")
    # A value that is no longer offered stays on the record as long as nobody touches it.
    crm.rest.patch(
        f"/api/v1/t/{crm.slug}/objects/account/fields/tier",
        json={"values": [{"code": "B", "label": "B"}, {"code": "C", "label": "C"}]},
    )
    form = crm.admin.get(crm.url(f"/{record['id']}/edit"))
    assert form.status_code == 200
    page = text_of(form)
    assert version_in(page) == 1
    assert '<option value="A" data-search="a (retired)" selected>A (retired)</option>' in page
    data = form_data(page)
    assert data["field-tier"] == "A" and data["field-notes"] == "Keep\r\nme"
    data["name"] = "Acme Ltd"
    data["field-employees"] = "11"
    response = crm.admin.post(crm.url(f"/{record['id']}/edit"), data=data)
    assert response.status_code == 302, text_of(response)[:2000]
    body = crm.api_record(record["id"])
    assert (body["name"], body["tier"], body["employees"], body["notes"]) == (
        "Acme Ltd",
        "A",
        11,
        "Keep\nme",
    )
    assert body["version"] == 2
    assert "Version 2" in text_of(crm.admin.get(response.headers["Location"]))

    # Emptying an input clears the value.
    data = form_data(text_of(crm.admin.get(crm.url(f"/{record['id']}/edit"))))
    data["field-employees"] = ""
    assert crm.admin.post(crm.url(f"/{record['id']}/edit"), data=data).status_code == 302
    assert crm.api_record(record["id"])["employees"] is None


def test_a_stale_edit_shows_the_other_persons_values_and_overwrites_nothing(crm, api):
    record = crm.create(name="Acme", employees=10)
    page = text_of(crm.admin.get(crm.url(f"/{record['id']}/edit")))
    assert version_in(page) == 1
    # Meanwhile someone else changes the record.
    response = crm.rest.patch(
        f"/api/v1/t/{crm.slug}/records/account/{record['id']}",
        json={"employees": 99, "tier": "C"},
        headers={"If-Match": '"v1"'},
    )
    assert response.status_code == 200
    mine = form_data(page)
    mine["field-employees"] = "12"
    response = crm.admin.post(crm.url(f"/{record['id']}/edit"), data=mine)
    assert response.status_code == 412
    page = text_of(response)
    assert "Someone else changed this record." in page
    assert 'data-testid="conflict"' in page
    their = re.search(r'data-testid="their-values">(.*?)</dl>', page, re.S).group(1)
    assert '<dd class="col-sm-8" data-field="employees">99</dd>' in their
    assert '<dd class="col-sm-8" data-field="tier">C</dd>' in their
    assert crm.api_record(record["id"])["employees"] == 99  # nothing was overwritten
    # The form keeps my change, shows their other values, and names their version.
    again = form_data(page)
    assert (again["field-employees"], again["field-tier"], again["version"]) == ("12", "C", "2")
    # Saving again, knowingly, applies my change on top of theirs.
    assert crm.admin.post(crm.url(f"/{record['id']}/edit"), data=again).status_code == 302
    body = crm.api_record(record["id"])
    assert (body["employees"], body["tier"], body["version"]) == (12, "C", 3)


def test_edit_without_a_version_is_refused(crm):
    record = crm.create(name="Acme")
    response = crm.admin.post(crm.url(f"/{record['id']}/edit"), data={"name": "X"})
    assert response.status_code == 400
    assert crm.api_record(record["id"])["name"] == "Acme"


# --- delete, recycle bin, restore ----------------------------------------------------------


def test_delete_to_the_recycle_bin_and_restore(crm):
    record = crm.create(name="Doomed Ltd")
    response = crm.admin.post(crm.url(f"/{record['id']}/delete"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(crm.url("/"))
    assert 'data-testid="no-records"' in text_of(crm.admin.get(crm.url("/")))
    assert crm.admin.get(crm.url(f"/{record['id']}")).status_code == 404
    assert crm.admin.get(crm.url(f"/{record['id']}/edit")).status_code == 404

    bin_page = text_of(crm.admin.get(crm.url("/bin")))
    assert "Doomed Ltd" in bin_page
    restore_url = crm.url(f"/{record['id']}/restore")
    assert f'action="{restore_url}"' in bin_page
    response = crm.admin.post(crm.url(f"/{record['id']}/restore"))
    assert response.status_code == 302
    assert crm.admin.get(response.headers["Location"]).status_code == 200
    assert 'data-testid="empty-bin"' in text_of(crm.admin.get(crm.url("/bin")))
    # Restoring what is not in the bin is a 404.
    assert crm.admin.post(crm.url(f"/{record['id']}/restore")).status_code == 404


# --- field access and roles ----------------------------------------------------------------


def test_hidden_and_read_only_fields_for_a_member(crm, add_member, login):
    record = crm.create(name="Acme", secret="Margin 42 pct", rating="AAA")
    member = add_member(crm.company, "member")
    client = login(member.email)
    for path in ("/", f"/{record['id']}", f"/{record['id']}/edit", "/new"):
        response = client.get(crm.url(path))
        assert response.status_code == 200, path
        page = text_of(response)
        assert "Secret margin" not in page and "Margin 42 pct" not in page, path
        assert "field-secret" not in page, path

    page = text_of(client.get(crm.url(f"/{record['id']}/edit")))
    assert re.search(r'<input type="text" value="AAA" id="field-rating"[^>]* disabled', page)
    assert 'data-testid="readonly-note"' in page
    # A read-only value posted anyway changes nothing; the other changes apply.
    response = client.post(
        crm.url(f"/{record['id']}/edit"),
        data={
            "name": "Acme",
            "version": "1",
            "field-rating": "D",
            "field-employees": "5",
            "field-secret": "0",
        },
    )
    assert response.status_code == 302, text_of(response)[:2000]
    body = crm.api_record(record["id"])
    assert (body["rating"], body["employees"], body["secret"]) == ("AAA", 5, "Margin 42 pct")
    # Creating: the read-only field is not offered, and posting it is ignored.
    response = client.post(crm.url("/new"), data={"name": "Mine", "field-rating": "D"})
    assert response.status_code == 302
    created = crm.api_record(int(response.headers["Location"].rsplit("/", 1)[1]))
    assert created["rating"] is None and created["owner_id"] == member.id


def test_read_only_role_can_read_but_not_write(crm, add_member, login):
    record = crm.create(name="Acme")
    reader = login(add_member(crm.company, "read_only").email)
    for path in ("/", f"/{record['id']}", "/bin"):
        response = reader.get(crm.url(path))
        assert response.status_code == 200, path
        page = text_of(response)
        assert crm.url("/new") not in page and "/edit" not in page
    assert "Delete" not in text_of(reader.get(crm.url(f"/{record['id']}")))
    for method, path in (
        ("get", "/new"),
        ("post", "/new"),
        ("get", f"/{record['id']}/edit"),
        ("post", f"/{record['id']}/edit"),
        ("post", f"/{record['id']}/delete"),
        ("post", f"/{record['id']}/restore"),
    ):
        response = getattr(reader, method)(crm.url(path), data={"name": "Hijacked", "version": "1"})
        assert response.status_code == 403, (method, path)
    assert crm.api_record(record["id"])["name"] == "Acme"


def test_pages_need_a_login_and_membership(crm, client, make_company, login):
    response = client.get(crm.url("/"))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    outsider = login(make_company().owner_email)
    assert outsider.get(crm.url("/")).status_code == 404


# --- page layouts --------------------------------------------------------------------------


def layout_api(crm) -> str:
    return f"/api/v1/t/{crm.slug}/objects/account/layout"


def test_default_layout_then_saved_layout_orders_the_detail_page(crm):
    record = crm.create(name="Acme", tier="A", employees=7, budget="5")
    response = crm.rest.get(layout_api(crm))
    assert response.status_code == 200
    body = response.get_json()
    assert body["default"] is True and body["unplaced"] == []
    assert [s["title_en"] for s in body["sections"]] == ["Details"]
    assert body["sections"][0]["fields"] == [f["key"] for f in FIELDS] + SYSTEM
    page = text_of(crm.admin.get(crm.url(f"/{record['id']}")))
    assert section_titles(page) == ["Details"]
    assert detail_keys(page) == [f["key"] for f in FIELDS] + SYSTEM

    sections = [
        {"title_en": "Money", "title_zh": "金额", "columns": 2, "fields": ["employees", "budget"]},
        {"title_en": "Grading", "title_zh": "分级", "fields": ["rating", "tier"]},
    ]
    response = crm.rest.put(layout_api(crm), json={"sections": sections})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["default"] is False
    assert body["sections"][1] == {
        "title_en": "Grading",
        "title_zh": "分级",
        "columns": 1,
        "fields": ["rating", "tier"],
    }
    rest = [f["key"] for f in FIELDS if f["key"] not in {"employees", "budget", "rating", "tier"}]
    rest += SYSTEM
    assert body["unplaced"] == rest
    assert crm.rest.get(layout_api(crm)).get_json() == body

    page = text_of(crm.admin.get(crm.url(f"/{record['id']}")))
    assert section_titles(page) == ["Money", "Grading", "Other"]
    assert detail_keys(page) == ["employees", "budget", "rating", "tier", *rest]
    assert value_on(page, "employees") == "7"
    # The form follows the same layout.
    form = text_of(crm.admin.get(crm.url(f"/{record['id']}/edit")))
    order = re.findall(r'data-testid="input-([a-z_]+)"', form)
    assert order == ["employees", "budget", "rating", "tier", *rest]
    assert '<legend class="h5 border-bottom pb-1">Money</legend>' in form
    # Chinese titles for people who read Chinese.
    crm.admin.post("/locale", data={"locale": "zh_CN", "next": "/"})
    page = text_of(crm.admin.get(crm.url(f"/{record['id']}")))
    assert section_titles(page) == ["金额", "分级", "其他"]


def test_layout_hides_nothing_and_a_member_sees_no_hidden_field(crm, add_member, login):
    record = crm.create(name="Acme", secret="Margin 42 pct")
    sections = [{"title_en": "Top secret", "title_zh": "机密", "fields": ["secret"]}]
    assert crm.rest.put(layout_api(crm), json={"sections": sections}).status_code == 200
    member = login(add_member(crm.company, "member").email)
    page = text_of(member.get(crm.url(f"/{record['id']}")))
    assert "Top secret" not in page and "Margin 42 pct" not in page  # an empty section goes
    assert section_titles(page) == ["Other"]
    assert "tier" in detail_keys(page)


def test_layout_api_validation(app, crm, add_member, api):
    def put(sections):
        return crm.rest.put(layout_api(crm), json={"sections": sections})

    response = put([{"title_en": "A", "fields": ["tier", "no_such_field"]}])
    assert response.status_code == 400
    assert response.get_json()["errors"] == {
        "sections.0.fields": ["There is no field “no_such_field”."]
    }
    response = put([{"title_en": "A", "fields": ["tier"]}, {"title_en": "B", "fields": ["tier"]}])
    assert response.status_code == 400
    assert response.get_json()["errors"] == {
        "sections.1.fields": ["The field “tier” is placed more than once."]
    }
    response = put([{"title_en": "x" * 101, "columns": 3, "colour": "red", "fields": "tier"}])
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {
        "sections.0.title_en",
        "sections.0.columns",
        "sections.0.colour",
        "sections.0.fields",
    }
    response = put([{"title_zh": "", "fields": []}])
    assert response.get_json()["errors"] == {"sections.0.title_en": ["Give the section a title."]}
    response = put([{"title_en": f"S{i}", "fields": []} for i in range(21)])
    assert response.status_code == 400 and "sections" in response.get_json()["errors"]
    assert crm.rest.put(layout_api(crm), json={}).status_code == 400
    assert crm.rest.get(layout_api(crm)).get_json()["default"] is True
    # A deleted field is no longer placed; one title serves both languages.
    assert put([{"title_zh": "只有中文", "fields": ["tier", "vip"]}]).status_code == 200
    crm.rest.delete(f"/api/v1/t/{crm.slug}/objects/account/fields/vip")
    body = crm.rest.get(layout_api(crm)).get_json()
    assert body["sections"] == [
        {"title_en": "只有中文", "title_zh": "只有中文", "columns": 1, "fields": ["tier"]}
    ]
    # Only owners and admins change layouts; everyone may read them.
    member = add_member(crm.company, "member")
    other = api(_token_for(app, crm, member))
    assert other.get(layout_api(crm)).status_code == 200
    assert other.put(layout_api(crm), json={"sections": []}).status_code == 403
    assert crm.rest.get(f"/api/v1/t/{crm.slug}/objects/nothing/layout").status_code == 404


def _token_for(app, crm, member) -> str:
    from saas.extensions import db
    from tenants import services
    from tenants.context import tenant_context

    with app.test_request_context(), tenant_context(crm.company.tenant_id, db.session, member.id):
        _token, raw = services.create_token(services.membership(member.id), "member token")
    return raw


def test_layout_saves_are_audited(crm):
    sections = [{"title_en": "Main", "fields": ["tier"]}]
    assert crm.rest.put(layout_api(crm), json={"sections": sections}).status_code == 200
    events = crm.rest.get(f"/api/v1/t/{crm.slug}/audit").get_json()
    event = next(e for e in events if e["action"] == "layout.saved")
    assert event["target_id"] == "account"
    assert event["after"]["sections"][0]["fields"] == ["tier"]


# --- the layout editor ---------------------------------------------------------------------


def editor_url(crm) -> str:
    return f"/t/{crm.slug}/admin/objects/account/layout"


def editor_state(page: str) -> dict[str, str]:
    """Field key → the section id its select has chosen."""
    state = {}
    for key, options in re.findall(
        r'<select[^>]*name="place-([a-z_]+)"[^>]*>(.*?)</select>', page, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)"[^>]* selected>', options)
        state[key] = chosen.group(1) if chosen else None
    return state


def test_layout_editor_without_javascript(crm, add_member, login):
    page = text_of(crm.admin.get(editor_url(crm)))
    assert 'data-testid="default-layout"' in page
    assert set(editor_state(page).values()) == {"0"}
    fields_page = text_of(crm.admin.get(f"/t/{crm.slug}/admin/objects/account/fields"))
    assert f'href="{editor_url(crm)}"' in fields_page

    keys = [f["key"] for f in FIELDS] + SYSTEM
    base = {
        "section": ["0"],
        "section-0-title_zh": "详细信息",
        "section-0-title_en": "Details",
        "section-0-columns": "1",
        "field": keys,
        **{f"place-{k}": "0" for k in keys},
    }
    # Add a section: nothing is saved yet.
    response = crm.admin.post(editor_url(crm), data={**base, "add_section": "1"})
    assert response.status_code == 200
    page = text_of(response)
    assert "Save to keep it." in page
    assert 'name="section-1-title_en"' in page
    assert crm.rest.get(layout_api(crm)).get_json()["default"] is True

    # Move two fields to the new section, and one up; then save.
    data = {
        **base,
        "section": ["0", "1"],
        "section-1-title_zh": "联系",
        "section-1-title_en": "Contact",
        "section-1-columns": "2",
        "place-mobile": "1",
        "place-contact_email": "1",
        "place-notes": "",
        "move": "mobile:up",
    }
    page = text_of(crm.admin.post(editor_url(crm), data=data))
    state = editor_state(page)
    assert (state["mobile"], state["contact_email"], state["notes"]) == ("1", "1", "")
    order = re.findall(r'<input type="hidden" name="field" value="([a-z_]+)">', page)
    assert order.index("mobile") < order.index("contact_email")
    assert 'id="move-mobile-up"' in page and "autofocus" in page

    data.pop("move")
    data["field"] = order
    response = crm.admin.post(editor_url(crm), data=data)
    assert response.status_code == 302
    body = crm.rest.get(layout_api(crm)).get_json()
    assert [s["title_en"] for s in body["sections"]] == ["Details", "Contact"]
    assert body["sections"][1] == {
        "title_en": "Contact",
        "title_zh": "联系",
        "columns": 2,
        "fields": ["mobile", "contact_email"],
    }
    assert body["unplaced"] == ["notes"]

    # Errors show next to the section they concern.
    data["section-1-title_en"] = "x" * 101
    response = crm.admin.post(editor_url(crm), data=data)
    assert response.status_code == 400
    assert 'data-field="section-1-title_en">Use at most 100 characters.' in text_of(response)

    # Removing a section leaves its fields unplaced ("Other"), once saved.
    data["section-1-title_en"] = "Contact"
    page = text_of(crm.admin.post(editor_url(crm), data={**data, "remove_section": "1"}))
    assert editor_state(page)["mobile"] == ""
    assert 'name="section-1-title_en"' not in page

    member = login(add_member(crm.company, "member").email)
    assert member.get(editor_url(crm)).status_code == 403
    assert member.post(editor_url(crm), data=data).status_code == 403
