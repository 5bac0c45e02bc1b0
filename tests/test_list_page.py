"""The list page (``/t/<slug>/o/<object>/``): a view with the overrides of its URL (filter, sort,
columns, search, page size, paging), chips, saving views from the page, the default star, the
kanban board and its card moves (PATCH with If-Match, 412 on a conflict), and links to export,
print and bulk actions."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

FIELDS = (
    {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
    {"key": "revenue", "type": "integer", "label": "Revenue"},
    {"key": "city", "type": "text", "label": "City"},
    {"key": "regions", "type": "multi_picklist", "label": "Regions", "values": ["north", "south"]},
)
RECORDS = (
    ("Alpha", "A", 300, "Shanghai"),
    ("Beta", "B", 100, "Beijing"),
    ("Gamma", "A", 100, "Shanghai"),
    ("Delta", None, 50, "Shenzhen"),
    ("张三贸易", "A", 200, "Beijing"),
)


class Crm:
    def __init__(self, company, rest, ui):
        self.company = company
        self.rest = rest
        self.ui = ui
        self.slug = company.slug
        self.ids: dict[str, int] = {}

    def url(self, query: str = "", path: str = "/") -> str:
        return f"/t/{self.slug}/o/account{path}" + (f"?{query}" if query else "")

    def page(self, query: str = "", expect: int = 200, client=None) -> str:
        response = (client or self.ui).get(self.url(query))
        assert response.status_code == expect, response.get_data(as_text=True)[:2000]
        return response.get_data(as_text=True)


@pytest.fixture
def crm(make_company, api, login) -> Crm:
    company = make_company()
    rest = api(company.token)
    for payload in FIELDS:
        response = rest.post(f"/api/v1/t/{company.slug}/objects/account/fields", json=payload)
        assert response.status_code == 201, response.get_json()
    result = Crm(company, rest, login(company.owner_email))
    for name, band, revenue, city in RECORDS:
        body = {"name": name, "revenue": revenue, "city": city}
        if band:
            body["band"] = band
        response = rest.post(f"/api/v1/t/{company.slug}/records/account", json=body)
        assert response.status_code == 201, response.get_json()
        result.ids[name] = response.get_json()["id"]
    return result


def names(page: str) -> list[str]:
    rows = re.findall(r'<tr data-id="\d+">(.*?)</tr>', page, re.S)
    return [
        html.unescape(re.search(r'data-field="name"><a [^>]*>([^<]*)</a>', r).group(1))
        for r in rows
    ]


def headers(page: str) -> list[str]:
    return re.findall(r'<th scope="col" data-key="([^"]+)"', page)


def meta(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="list-meta">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1))


# ---- the URL describes the list --------------------------------------------------------------


def test_default_list_shows_every_record_newest_first(crm):
    page = crm.page()
    assert names(page) == ["张三贸易", "Delta", "Gamma", "Beta", "Alpha"]
    # The first fields of the page layout: the system fields come before the company's own.
    assert headers(page) == ["name", "owner_id", "grade", "lifecycle_stage", "source", "updated_at"]
    assert "5 records" in page
    assert 'data-testid="view-name">All records<' in page
    assert 'aria-pressed="true"' in page  # "all" is the default view


def test_filter_sort_and_columns_from_the_url(crm):
    query = (
        "f=band:eq:A&f=revenue:gte:150&f=city:eq:Beijing&logic=1 AND (2 OR 3)"
        "&sort=-revenue,name&columns=name,revenue:140,city"
    )
    page = crm.page(query.replace(" ", "+"))
    assert names(page) == ["Alpha", "张三贸易"]
    assert headers(page) == ["name", "revenue", "city"]
    assert 'data-key="revenue" data-width="140"' in page
    assert "2 records" in page
    # Sort levels are numbered when there are several.
    assert re.search(r'data-key="revenue".*?aria-sort="descending"', page, re.S)
    levels = re.findall(r'data-testid="sort-level"[^>]*>([^<]*)<sup>(\d)</sup>', page)
    assert levels == [("↑", "2"), ("↓", "1")]  # in the order of the columns
    # Chips, one per condition, and the logic.
    chips = [
        html.unescape(re.sub(r"\s+", " ", c)).strip()
        for c in re.findall(
            r'data-testid="chip">\s*<span class="chip-number">\d+</span>(.*?)<a', page, re.S
        )
    ]
    assert chips == ["Band equals A", "Revenue is at least 150", "City equals Beijing"]
    assert "1 AND (2 OR 3)" in page
    # The builder gets the same tree.
    assert meta(page)["filter"] == {
        "and": [
            {"field": "band", "op": "eq", "value": "A"},
            {
                "or": [
                    {"field": "revenue", "op": "gte", "value": "150"},
                    {"field": "city", "op": "eq", "value": "Beijing"},
                ]
            },
        ]
    }
    assert meta(page)["sort"] == [
        {"field": "revenue", "dir": "desc"},
        {"field": "name", "dir": "asc"},
    ]


def test_removing_a_chip_keeps_the_rest(crm):
    page = crm.page("f=band:eq:A&f=city:eq:Shanghai&sort=name")
    assert names(page) == ["Alpha", "Gamma"]
    removes = [html.unescape(u) for u in re.findall(r'class="chip-remove" href="([^"]+)"', page)]
    args = parse_qs(urlsplit(removes[0]).query)
    assert args["f"] == ["city:eq:Shanghai"] and args["sort"] == ["name"]
    assert names(crm.ui.get(removes[0]).get_data(as_text=True)) == ["Alpha", "Gamma"]
    page = crm.ui.get(removes[1]).get_data(as_text=True)
    assert names(page) == ["Alpha", "Gamma", "张三贸易"]


def test_header_links_sort_and_shift_links_add_levels(crm):
    page = crm.page("sort=band&f=band:is_not_empty&columns=name,band,revenue,city")
    revenue = re.search(
        r'data-key="revenue".*?href="([^"]+)" data-shift-href="([^"]+)"', page, re.S
    )
    plain, shift = (html.unescape(u) for u in revenue.groups())
    assert parse_qs(urlsplit(plain).query)["sort"] == ["revenue"]
    assert parse_qs(urlsplit(shift).query)["sort"] == ["band,revenue"]
    page = crm.ui.get(shift).get_data(as_text=True)
    levels = re.findall(r'data-testid="sort-level"[^>]*>([^<]*)<sup>(\d)</sup>', page)
    assert levels == [("↑", "1"), ("↑", "2")]
    # Picklists sort in their values' order; then revenue.
    assert names(page) == ["Gamma", "张三贸易", "Alpha", "Beta"]
    band = re.search(r'data-key="band".*?href="([^"]+)" data-shift-href="([^"]+)"', page, re.S)
    plain, shift = (html.unescape(u) for u in band.groups())
    assert parse_qs(urlsplit(plain).query)["sort"] == ["-band"]  # again: the other way
    assert parse_qs(urlsplit(shift).query)["sort"] == ["-band,revenue"]
    # Multi-picklists cannot be sorted: no link.
    page = crm.page("columns=name,regions")
    assert not re.search(r'data-key="regions"[^>]*>\s*<span class="th-inner">\s*<a', page)
    # Six levels at most: the seventh header has no shift link.
    page = crm.page("sort=name,band,revenue,city,created_at,updated_at&columns=name,id")
    id_header = re.search(r'data-key="id".*?</th>', page, re.S).group(0)
    assert "data-shift-href" not in id_header


def test_quick_search_finds_pinyin_and_initials(crm):
    assert names(crm.page("q=zs")) == ["张三贸易"]
    assert names(crm.page("q=zhangsan")) == ["张三贸易"]
    assert names(crm.page("q=gam")) == ["Gamma"]
    page = crm.page("q=nobody")
    assert "No records match this view" in page
    assert 'data-testid="search-chip"' in page


def test_paging_by_cursor_and_page_size(crm):
    for i in range(8):
        crm.rest.post(f"/api/v1/t/{crm.slug}/records/account", json={"name": f"Extra {i:02d}"})
    page = crm.page("sort=name&limit=10")
    first = names(page)
    assert len(first) == 10 and "13 records" in page
    next_url = html.unescape(re.search(r'href="([^"]+)" rel="next"', page).group(1))
    assert parse_qs(urlsplit(next_url).query)["limit"] == ["10"]
    second_page = crm.ui.get(next_url).get_data(as_text=True)
    assert len(names(second_page)) == 3
    assert set(first).isdisjoint(names(second_page))
    prev_url = html.unescape(re.search(r'href="([^"]+)" rel="prev"', second_page).group(1))
    assert names(crm.ui.get(prev_url).get_data(as_text=True)) == first
    assert 'data-testid="first-page"' in second_page


def test_bad_urls_show_the_error_not_a_crash(crm):
    for query, message in (
        ("f=colour:eq:red", "There is no field"),
        ("f=band:eq:A&logic=1 AND", "logic"),
        ("f=revenue:gt:lots", "Enter a number"),
        ("sort=regions", "cannot be sorted"),
        ("columns=name,nope", "nope"),
        ("limit=3", "10"),
        ("layout=kanban&group_by=city", "picklist"),
        ("cursor=garbage", "cursor"),
        ("filter=%7Bbad", "JSON"),
    ):
        page = crm.page(query.replace(" ", "+"), expect=400)
        assert 'data-testid="list-errors"' in page, query
        assert message in html.unescape(page), (query, message)
    assert crm.ui.get(crm.url("view=12345678")).status_code == 404
    assert crm.ui.get(crm.url("view=everything")).status_code == 404


def test_empty_states(crm, make_company, login):
    other = make_company()
    ui = login(other.owner_email)
    page = ui.get(f"/t/{other.slug}/o/account/").get_data(as_text=True)
    assert 'data-testid="no-records"' in page and "No Customers yet" in page
    page = crm.page("f=city:eq:Nowhere")
    assert "No records match this view" in page and 'data-testid="clear-filters"' in page


def test_links_to_export_print_and_bulk_carry_the_effective_query(crm):
    page = crm.page("view=mine&f=band:eq:A&sort=-revenue&q=sh&columns=name,city")
    export = html.unescape(re.search(r'href="([^"]+)" data-testid="export-xlsx"', page).group(1))
    parts = urlsplit(export)
    assert parts.path == f"/t/{crm.slug}/o/account/export"
    args = parse_qs(parts.query)
    assert args["format"] == ["xlsx"]
    assert json.loads(args["filter"][0]) == {"field": "band", "op": "eq", "value": "A"}
    assert (args["sort"], args["q"], args["columns"]) == (["-revenue"], ["sh"], ["name,city"])
    printed = html.unescape(re.search(r'href="([^"]+)"[^>]*data-testid="print"', page).group(1))
    assert urlsplit(printed).path == f"/t/{crm.slug}/o/account/print"
    # The view's own filter is part of the effective query.
    page = crm.page("view=mine")
    export = html.unescape(re.search(r'href="([^"]+)" data-testid="export-csv"', page).group(1))
    assert json.loads(parse_qs(urlsplit(export).query)["filter"][0]) == {
        "field": "owner_id",
        "op": "is_me",
    }
    assert f'action="/t/{crm.slug}/o/account/bulk"' in page
    bulk = re.search(r'<form id="bulk-form".*?</form>', page, re.S).group(0)
    hidden = dict(
        re.findall(r'<input type="hidden" name="(filter|columns|next)" value="([^"]*)"', bulk)
    )
    assert json.loads(html.unescape(hidden["filter"])) == {"field": "owner_id", "op": "is_me"}
    assert html.unescape(hidden["next"]) == f"/t/{crm.slug}/o/account/?view=mine"
    assert f'name="ids" value="{crm.ids["Alpha"]}"' in page
    assert 'data-testid="select-all-matching"' not in page  # everything is on this page


def test_read_only_members_have_no_bulk_bar(crm, add_member, login):
    member = add_member(crm.company, "read_only")
    page = crm.page(client=login(member.email))
    assert 'id="bulk-form"' not in page and 'name="ids"' not in page
    assert 'data-testid="save-as"' in page  # they may keep views of their own


# ---- saving views from the page --------------------------------------------------------------


def _post(crm, path: str, data: dict, client=None):
    return (client or crm.ui).post(crm.url(path=path), data=data)


def test_save_as_save_rename_share_and_delete(crm, add_member, login):
    state = "f=band:eq:A&sort=-revenue&columns=name,revenue:120,band&limit=20"
    response = _post(crm, "/views", {"state": state, "name": "Top A", "visibility": "private"})
    assert response.status_code == 302
    view_id = int(parse_qs(urlsplit(response.headers["Location"]).query)["view"][0])
    page = crm.ui.get(response.headers["Location"]).get_data(as_text=True)
    assert "The view “Top A” was saved." in page
    assert 'data-testid="view-name">Top A<' in page
    assert names(page) == ["Alpha", "张三贸易", "Gamma"]
    assert headers(page) == ["name", "revenue", "band"]
    assert 'data-testid="modified"' not in page  # nothing overridden

    # Change it on the page, then "Save view" stores the new state into it.
    page = crm.page(f"view={view_id}&sort=name")
    assert 'data-testid="modified"' in page
    response = _post(
        crm, f"/views/{view_id}", {"state": f"view={view_id}&sort=name", "action": "save"}
    )
    assert response.status_code == 302
    page = crm.ui.get(response.headers["Location"]).get_data(as_text=True)
    assert names(page) == ["Alpha", "Gamma", "张三贸易"]
    assert 'data-key="revenue" data-width="120"' in page  # widths kept

    response = _post(
        crm,
        f"/views/{view_id}",
        {"state": f"view={view_id}", "action": "rename", "name": "A by name"},
    )
    assert response.status_code == 302
    response = _post(
        crm,
        f"/views/{view_id}",
        {
            "state": f"view={view_id}",
            "action": "share",
            "visibility": "roles",
            "shared_roles": ["member"],
        },
    )
    assert response.status_code == 302
    listed = crm.rest.get(f"/api/v1/t/{crm.slug}/objects/account/views/{view_id}").get_json()
    assert (listed["name"], listed["visibility"], listed["shared_with"]) == (
        "A by name",
        "roles",
        ["member"],
    )
    assert listed["sort"] == [{"field": "name", "dir": "asc"}] and listed["page_size"] == 20

    member = login(add_member(crm.company, "member").email)
    page = crm.page(f"view={view_id}", client=member)
    assert 'data-testid="view-name">A by name<' in page
    assert 'data-testid="view-actions"' not in page  # members do not change shared views
    assert _post(crm, f"/views/{view_id}/delete", {"state": ""}, client=member).status_code == 302
    assert crm.rest.get(f"/api/v1/t/{crm.slug}/objects/account/views/{view_id}").status_code == 200

    response = _post(crm, f"/views/{view_id}/delete", {"state": f"view={view_id}"})
    assert response.status_code == 302
    assert crm.rest.get(f"/api/v1/t/{crm.slug}/objects/account/views/{view_id}").status_code == 404


def test_saving_reports_problems(crm, add_member, login):
    response = _post(crm, "/views", {"state": "sort=name", "name": ""})
    assert response.status_code == 302
    page = crm.ui.get(response.headers["Location"]).get_data(as_text=True)
    assert "Enter a name for the view." in page
    member = login(add_member(crm.company, "member").email)
    response = _post(
        crm, "/views", {"state": "", "name": "All", "visibility": "tenant"}, client=member
    )
    assert response.status_code == 302
    page = member.get(response.headers["Location"]).get_data(as_text=True)
    assert "Only owners, administrators and managers share views." in page
    assert _post(crm, "/views/99999999", {"action": "rename", "name": "x"}).status_code == 404


def test_star_makes_a_view_open_first(crm):
    response = _post(crm, "/views", {"state": "f=city:eq:Shanghai", "name": "Shanghai"})
    view_id = parse_qs(urlsplit(response.headers["Location"]).query)["view"][0]
    response = _post(crm, "/views/default", {"view": view_id, "state": f"view={view_id}"})
    assert response.status_code == 302
    page = crm.page()  # no view named: the default opens
    assert 'data-testid="view-name">Shanghai<' in page
    assert names(page) == ["Gamma", "Alpha"]
    assert re.search(
        rf'data-view="{view_id}">\s*<span>Shanghai</span>\s*<span aria-label="default view"', page
    )
    _post(crm, "/views/default", {"view": "mine"})
    assert 'data-testid="view-name">My records<' in crm.page()
    response = _post(crm, "/views/default", {"view": "nonsense"})
    assert response.status_code == 302


def test_query_fields_json(crm, add_member, login):
    body = crm.ui.get(crm.url(path="/query-fields")).get_json()
    fields = {f["key"]: f for f in body["fields"]}
    assert {"name", "owner_id", "created_at", "band", "revenue", "regions"} <= set(fields)
    band = fields["band"]
    assert band["kind"] == "choice" and [c["code"] for c in band["choices"]] == ["A", "B", "C"]
    assert {"op": "in", "label": "is any of", "arity": "list"} in band["operators"]
    created = {o["op"]: o for o in fields["created_at"]["operators"]}
    assert created["last_n_days"]["arity"] == "days" and created["this_month"]["arity"] == "none"
    assert fields["regions"]["sortable"] is False and fields["revenue"]["sortable"] is True
    assert "is_me" in {o["op"] for o in fields["owner_id"]["operators"]}
    crm.rest.put(
        f"/api/v1/t/{crm.slug}/objects/account/fields/city/access", json={"member": "hidden"}
    )
    member = login(add_member(crm.company, "member").email)
    body = member.get(crm.url(path="/query-fields")).get_json()
    assert "city" not in {f["key"] for f in body["fields"]}


def test_count_text():
    from flask import Flask
    from flask_babel import Babel

    from saas.web.lists import count_text

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        assert count_text(1234, True) == "1,234 records"
        assert count_text(1, True) == "1 record"
        assert count_text(10_000, False) == "10,000+ records"
        assert count_text(None, True) == ""


# ---- kanban ----------------------------------------------------------------------------------


def board(page: str) -> dict[str, list[str]]:
    columns = re.findall(
        r'<section class="kanban-column" data-code="([^"]*)".*?</section>', page, re.S
    )
    sections = re.findall(r'(<section class="kanban-column".*?</section>)', page, re.S)
    result = {}
    for code, section in zip(columns, sections, strict=True):
        result[code] = [html.unescape(n) for n in re.findall(r'data-name="([^"]*)"', section)]
    return result


def test_kanban_groups_by_a_picklist(crm):
    page = crm.page("layout=kanban&group_by=band&sort=name")
    assert 'data-testid="kanban"' in page
    assert board(page) == {
        "A": ["Alpha", "Gamma", "张三贸易"],
        "B": ["Beta"],
        "C": [],
        "": ["Delta"],
    }
    assert re.findall(r'data-testid="kanban-count">(\d+)<', page) == ["3", "1", "0", "1"]
    assert "5 records" in page
    # The board keeps the filter.
    page = crm.page("layout=kanban&group_by=band&f=city:eq:Shanghai&sort=name")
    assert board(page) == {"A": ["Alpha", "Gamma"], "B": [], "C": [], "": []}
    # Each card can also be moved with its select (keyboard).
    assert 'data-testid="move"' in page


def _patch(crm, record_id: int, body, version: str | None, client=None):
    headers = {"Accept": "application/json"}
    if version is not None:
        headers["If-Match"] = version
    return (client or crm.ui).patch(crm.url(path=f"/{record_id}"), json=body, headers=headers)


def test_moving_a_card_patches_the_record_with_its_version(crm):
    beta = crm.ids["Beta"]
    response = _patch(crm, beta, {"band": "C"}, '"v1"')
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["band"] == "C" and response.get_json()["version"] == 2
    assert response.headers["ETag"] == '"v2"'
    page = crm.page("layout=kanban&group_by=band&sort=name")
    assert board(page)["C"] == ["Beta"]
    # To the "no value" column.
    response = _patch(crm, beta, {"band": None}, '"v2"')
    assert response.status_code == 200 and response.get_json()["band"] is None


def test_moving_a_stale_card_is_a_412_with_the_current_record(crm):
    alpha = crm.ids["Alpha"]
    changed = crm.rest.patch(
        f"/api/v1/t/{crm.slug}/records/account/{alpha}",
        json={"band": "B"},
        headers={"If-Match": '"v1"'},
    )
    assert changed.status_code == 200
    response = _patch(crm, alpha, {"band": "C"}, '"v1"')
    assert response.status_code == 412
    body = response.get_json()
    assert body["current"]["band"] == "B" and body["current"]["version"] == 2
    assert "Someone else changed" in body["message"]
    assert crm.rest.get(f"/api/v1/t/{crm.slug}/records/account/{alpha}").get_json()["band"] == "B"


def test_card_move_errors(crm, add_member, login, make_company):
    gamma = crm.ids["Gamma"]
    assert _patch(crm, gamma, {"band": "C"}, None).status_code == 428
    assert _patch(crm, gamma, ["band"], '"v1"').status_code == 400
    response = _patch(crm, gamma, {"band": "Z"}, '"v1"')
    assert response.status_code == 400 and "band" in response.get_json()["errors"]
    reader = login(add_member(crm.company, "read_only").email)
    assert _patch(crm, gamma, {"band": "C"}, '"v1"', client=reader).status_code == 403
    assert _patch(crm, 99999999, {"band": "C"}, '"v1"').status_code == 404
    other = make_company()
    theirs = login(other.owner_email)
    response = theirs.patch(
        f"/t/{other.slug}/o/account/{gamma}",
        json={"band": "C"},
        headers={"If-Match": '"v1"', "Accept": "application/json"},
    )
    assert response.status_code == 404
    assert crm.rest.get(f"/api/v1/t/{crm.slug}/records/account/{gamma}").get_json()["version"] == 1


def test_chinese_page(crm, app):
    from saas.accounts.models import User
    from saas.extensions import db

    with app.app_context():
        user = db.session.get(User, crm.company.owner_id)
        user.locale = "zh_CN"
        db.session.commit()
    page = crm.page("f=band:eq:A&layout=kanban&group_by=band")
    assert '<html lang="zh-CN">' in page
    assert 'data-testid="kanban"' in page
