"""Saved views (service and API ``/api/v1/t/<slug>/objects/<object>/views``): CRUD, validation by
the query engine, visibility and sharing by role and team, default views, built-in views and
recently viewed records; another tenant's view ids are 404."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from saas.extensions import db
from tenants.context import tenant_context

FIELDS = (
    {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
    {"key": "regions", "type": "multi_picklist", "label": "Regions", "values": ["north", "south"]},
    {"key": "revenue", "type": "currency", "label": "Revenue"},
    {"key": "city", "type": "text", "label": "City"},
    {"key": "margin", "type": "decimal", "label": "Margin"},
)


@dataclass
class Person:
    user_id: int
    email: str
    rest: object


@dataclass
class Crm:
    company: object
    owner: Person
    people: dict

    @property
    def slug(self) -> str:
        return self.company.slug

    def url(self, path: str = "", object_key: str = "account") -> str:
        return f"/api/v1/t/{self.slug}/objects/{object_key}/views{path}"


def _token_for(app, company, user_id: int) -> str:
    from tenants import services

    with app.test_request_context(), tenant_context(company.tenant_id, db.session, user_id):
        _token, raw = services.create_token(services.membership(user_id), "views test")
        return raw


@pytest.fixture
def crm(app, make_company, add_member, api) -> Crm:
    company = make_company()
    rest = api(company.token)
    for payload in FIELDS:
        response = rest.post(f"/api/v1/t/{company.slug}/objects/account/fields", json=payload)
        assert response.status_code == 201, response.get_json()
    response = rest.put(
        f"/api/v1/t/{company.slug}/objects/account/fields/margin/access",
        json={"member": "hidden", "read_only": "hidden"},
    )
    assert response.status_code == 200, response.get_json()
    people = {}
    for name, role in (
        ("admin", "admin"),
        ("manager", "manager"),
        ("member", "member"),
        ("member2", "member"),
        ("read_only", "read_only"),
    ):
        member = add_member(company, role)
        people[name] = Person(member.id, member.email, api(_token_for(app, company, member.id)))
    return Crm(company, Person(company.owner_id, company.owner_email, rest), people)


def create(person: Person, crm: Crm, expect: int = 201, **body):
    response = person.rest.post(crm.url(), json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def keys(person: Person, crm: Crm) -> list[str]:
    response = person.rest.get(crm.url())
    assert response.status_code == 200, response.get_json()
    return [v["key"] for v in response.get_json()]


# ---- CRUD -----------------------------------------------------------------------------------


def test_create_read_list_update_delete(app, crm):
    owner = crm.owner
    body = create(
        owner,
        crm,
        name="  Big   A customers ",
        filter={
            "and": [
                {"field": "band", "op": "eq", "value": "A"},
                {"field": "revenue", "op": "gt", "value": 100},
            ]
        },
        sort=[{"field": "revenue", "dir": "desc"}, {"field": "name"}],
        columns=["name", {"key": "revenue", "width": 140}, "band"],
        page_size=20,
    )
    assert body["name"] == "Big A customers"
    assert body["visibility"] == "private" and body["shared_with"] == []
    assert body["owner_id"] == crm.company.owner_id
    assert body["columns"] == [
        {"key": "name", "width": None},
        {"key": "revenue", "width": 140},
        {"key": "band", "width": None},
    ]
    assert body["sort"] == [{"field": "revenue", "dir": "desc"}, {"field": "name", "dir": "asc"}]
    assert (body["page_size"], body["layout"], body["builtin"], body["can_edit"]) == (
        20,
        "list",
        False,
        True,
    )
    view_id = body["id"]
    assert body["key"] == str(view_id)

    listed = owner.rest.get(crm.url()).get_json()
    assert [v["key"] for v in listed] == ["all", "mine", "my_team", "recent", str(view_id)]
    assert listed[0]["builtin"] and listed[0]["name"] == "All records" and listed[0]["id"] is None
    assert listed[1]["filter"] == {"field": "owner_id", "op": "is_me"}
    assert listed[0]["is_default"]

    got = owner.rest.get(crm.url(f"/{view_id}"))
    assert got.status_code == 200 and got.get_json()["filter"] == body["filter"]

    changed = owner.rest.patch(
        crm.url(f"/{view_id}"),
        json={"name": "A customers", "layout": "kanban", "group_by": "band"},
    )
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["name"], changed.get_json()["layout"]) == ("A customers", "kanban")
    assert changed.get_json()["sort"] == body["sort"]  # untouched

    assert owner.rest.delete(crm.url(f"/{view_id}")).status_code == 204
    assert owner.rest.get(crm.url(f"/{view_id}")).status_code == 404
    assert keys(owner, crm) == ["all", "mine", "my_team", "recent"]

    from tenants.models import AuditEvent

    with app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        events = db.session.execute(
            select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
            .where(AuditEvent.target_type == "saved_view", AuditEvent.target_id == str(view_id))
            .order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in events] == ["view.created", "view.updated", "view.deleted"]
    assert events[1].before == {"group_by": None, "layout": "list", "name": "Big A customers"}
    assert events[1].after == {"group_by": "band", "layout": "kanban", "name": "A customers"}


def test_numbered_conditions_with_logic_are_kept(crm):
    body = create(
        crm.owner,
        crm,
        name="Logic",
        filter={
            "conditions": [
                {"field": "band", "op": "eq", "value": "A"},
                {"field": "city", "op": "contains", "value": "上海"},
                {"field": "created_at", "op": "last_n_days", "value": 30},
            ],
            "logic": "1 AND (2 OR NOT 3)",
        },
    )
    assert body["filter"]["logic"] == "1 AND (2 OR NOT 3)"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "v", "page_size": 5}, "page_size"),
        ({"name": "v", "page_size": 201}, "page_size"),
        ({"name": "v", "page_size": "many"}, "page_size"),
        ({"name": "v", "filter": {"field": "colour", "op": "eq", "value": "red"}}, "filter"),
        ({"name": "v", "filter": {"field": "band", "op": "contains", "value": "A"}}, "filter"),
        ({"name": "v", "filter": {"field": "band", "op": "eq", "value": "Z"}}, "filter"),
        (
            {
                "name": "v",
                "filter": {
                    "conditions": [{"field": "city", "op": "eq", "value": "x"}],
                    "logic": "1 AND 2",
                },
            },
            "logic",
        ),
        ({"name": "v", "filter": {"and": {"field": "city"}}}, "filter"),
        ({"name": "v", "sort": [{"field": "regions"}]}, "sort"),
        ({"name": "v", "sort": [{"field": "nope"}]}, "sort"),
        (
            {
                "name": "v",
                "sort": [
                    {"field": f}
                    for f in ("name", "city", "band", "revenue", "id", "created_at", "updated_at")
                ],
            },
            "sort",
        ),
        ({"name": "v", "sort": [{"field": "name", "dir": "up"}]}, "sort"),
        ({"name": "v", "columns": ["name", "colour"]}, "columns"),
        ({"name": "v", "columns": ["name", "name"]}, "columns"),
        ({"name": "v", "columns": [{"key": "city", "width": 5}]}, "columns"),
        ({"name": "v", "columns": ["account.band"]}, "columns"),
        ({"name": "v", "layout": "grid"}, "layout"),
        ({"name": "v", "layout": "kanban"}, "group_by"),
        ({"name": "v", "layout": "kanban", "group_by": "city"}, "group_by"),
        ({"name": "v", "visibility": "world"}, "visibility"),
        ({"name": "v", "visibility": "roles"}, "shared_with"),
        ({"name": "v", "visibility": "roles", "shared_with": ["pirate"]}, "shared_with"),
        ({"name": "v", "visibility": "teams", "shared_with": [999999]}, "shared_with"),
        ({"name": "v", "visibility": "private", "shared_with": ["member"]}, "shared_with"),
        ({"name": "v", "colour": "red"}, "colour"),
    ],
)
def test_validation_errors_are_400_with_the_field(crm, body, key):
    response = crm.owner.rest.post(crm.url(), json=body)
    assert response.status_code == 400, response.get_json()
    errors = response.get_json()["errors"]
    assert key in errors, errors
    assert all(isinstance(m, str) and m for m in errors[key])


def test_every_error_at_once_and_nothing_saved(crm):
    response = crm.owner.rest.post(crm.url(), json={"page_size": 3, "columns": ["nope"]})
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"name", "page_size", "columns"}
    assert keys(crm.owner, crm) == ["all", "mine", "my_team", "recent"]


def test_field_access_applies_to_what_a_view_names(crm):
    member = crm.people["member"]
    for body in (
        {"name": "m", "columns": ["name", "margin"]},
        {"name": "m", "filter": {"field": "margin", "op": "gt", "value": 1}},
        {"name": "m", "sort": [{"field": "margin"}]},
    ):
        response = member.rest.post(crm.url(), json=body)
        assert response.status_code == 400, body
        assert "margin" in response.get_json()["message"]
    create(crm.owner, crm, name="Margins", columns=["name", "margin"])


def test_unknown_object_is_404(crm):
    assert crm.owner.rest.get(crm.url(object_key="spaceship")).status_code == 404
    assert (
        crm.owner.rest.post(crm.url(object_key="spaceship"), json={"name": "x"}).status_code == 404
    )


def test_views_belong_to_their_object(crm):
    view_id = create(crm.owner, crm, name="Customers only")["id"]
    assert crm.owner.rest.get(crm.url(f"/{view_id}", "contact")).status_code == 404
    listed = crm.owner.rest.get(crm.url(object_key="contact")).get_json()
    assert str(view_id) not in [v["key"] for v in listed]


# ---- visibility and sharing -----------------------------------------------------------------


def test_private_views_are_their_owners_alone(crm):
    member = crm.people["member"]
    view_id = create(member, crm, name="Mine alone")["id"]
    assert str(view_id) in keys(member, crm)
    for other in (crm.owner, crm.people["admin"], crm.people["manager"], crm.people["member2"]):
        assert str(view_id) not in keys(other, crm)
        assert other.rest.get(crm.url(f"/{view_id}")).status_code == 404
        assert other.rest.patch(crm.url(f"/{view_id}"), json={"name": "x"}).status_code == 404
        assert other.rest.delete(crm.url(f"/{view_id}")).status_code == 404
    assert member.rest.get(crm.url(f"/{view_id}")).get_json()["can_edit"] is True


def test_only_managers_share_and_edit_shared_views(crm):
    member, manager = crm.people["member"], crm.people["manager"]
    response = member.rest.post(crm.url(), json={"name": "For all", "visibility": "tenant"})
    assert response.status_code == 403
    own = create(member, crm, name="Mine")["id"]
    response = member.rest.patch(crm.url(f"/{own}"), json={"visibility": "tenant"})
    assert response.status_code == 403

    shared = create(manager, crm, name="Team pipeline", visibility="tenant")
    assert shared["can_edit"] is True
    seen = member.rest.get(crm.url(f"/{shared['id']}"))
    assert seen.status_code == 200 and seen.get_json()["can_edit"] is False
    assert member.rest.patch(crm.url(f"/{shared['id']}"), json={"name": "x"}).status_code == 403
    assert member.rest.delete(crm.url(f"/{shared['id']}")).status_code == 403
    assert crm.people["read_only"].rest.get(crm.url(f"/{shared['id']}")).status_code == 200
    # Another manager or an admin may change it.
    response = crm.people["admin"].rest.patch(
        crm.url(f"/{shared['id']}"), json={"name": "Pipeline"}
    )
    assert response.status_code == 200 and response.get_json()["name"] == "Pipeline"
    # Made private by an admin: it is the admin's from then on.
    response = crm.people["admin"].rest.patch(
        crm.url(f"/{shared['id']}"), json={"visibility": "private"}
    )
    assert response.status_code == 200
    assert response.get_json()["owner_id"] == crm.people["admin"].user_id
    assert manager.rest.get(crm.url(f"/{shared['id']}")).status_code == 404


def test_read_only_members_keep_private_views(crm):
    view = create(crm.people["read_only"], crm, name="Reading list", sort=[{"field": "name"}])
    assert view["visibility"] == "private"


def test_shared_with_roles(crm):
    view_id = create(
        crm.people["manager"], crm, name="For members", visibility="roles", shared_with=["member"]
    )["id"]
    assert str(view_id) in keys(crm.people["member"], crm)
    assert str(view_id) in keys(crm.people["member2"], crm)
    assert str(view_id) not in keys(crm.people["read_only"], crm)
    assert crm.people["read_only"].rest.get(crm.url(f"/{view_id}")).status_code == 404
    # Managers and admins see every shared view, to look after them.
    assert str(view_id) in keys(crm.owner, crm)
    response = crm.owner.rest.patch(
        crm.url(f"/{view_id}"), json={"shared_with": ["member", "read_only"]}
    )
    assert response.status_code == 200, response.get_json()
    assert str(view_id) in keys(crm.people["read_only"], crm)


def test_shared_with_teams_reaches_teams_below(app, crm):
    from tenants.models import Membership, Team

    with app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        region = Team(name="East region")
        db.session.add(region)
        db.session.flush()
        city = Team(name="Shanghai", parent_id=region.id)
        other = Team(name="West region")
        db.session.add_all([city, other])
        db.session.flush()
        teams = {"region": region.id, "city": city.id, "other": other.id}
        for role, team in (("member", city.id), ("member2", other.id)):
            db.session.execute(
                Membership.__table__.update()
                .where(
                    Membership.tenant_id == crm.company.tenant_id,
                    Membership.user_id == crm.people[role].user_id,
                )
                .values(team_id=team)
            )
        db.session.commit()
    body = create(
        crm.owner, crm, name="East", visibility="teams", shared_with=[str(teams["region"])]
    )
    assert body["shared_with"] == [teams["region"]]
    assert str(body["id"]) in keys(crm.people["member"], crm)  # in a team below the region
    assert str(body["id"]) not in keys(crm.people["member2"], crm)
    assert str(body["id"]) not in keys(crm.people["read_only"], crm)  # no team at all

    # Deleting a team takes it out of the views shared with it; shared with it alone, a view
    # becomes private (a team made later must not inherit the id's audience).
    both = create(
        crm.owner,
        crm,
        name="Both",
        visibility="teams",
        shared_with=[str(teams["other"]), str(teams["city"])],
    )
    deleted = crm.owner.rest.delete(f"/api/v1/t/{crm.company.slug}/teams/{teams['region']}")
    assert deleted.status_code == 204
    assert crm.owner.rest.get(crm.url(f"/{body['id']}")).get_json()["visibility"] == "private"
    assert (
        crm.owner.rest.delete(f"/api/v1/t/{crm.company.slug}/teams/{teams['city']}").status_code
        == 204
    )
    kept = crm.owner.rest.get(crm.url(f"/{both['id']}")).get_json()
    assert (kept["visibility"], kept["shared_with"]) == ("teams", [teams["other"]])


# ---- default view ----------------------------------------------------------------------------


def test_default_view(crm):
    member = crm.people["member"]
    assert member.rest.get(crm.url("/default")).get_json() == {"view": "all"}
    response = member.rest.put(crm.url("/default"), json={"view": "mine"})
    assert response.status_code == 200 and response.get_json() == {"view": "mine"}
    listed = member.rest.get(crm.url()).get_json()
    assert [v["key"] for v in listed if v["is_default"]] == ["mine"]
    # Someone else's default is their own.
    assert crm.owner.rest.get(crm.url("/default")).get_json() == {"view": "all"}

    view_id = create(member, crm, name="Mine", page_size=10)["id"]
    response = member.rest.put(crm.url("/default"), json={"view": view_id})
    assert response.get_json() == {"view": str(view_id)}
    assert member.rest.get(crm.url(f"/{view_id}")).get_json()["is_default"] is True
    # The view goes: the default falls back to all records.
    assert member.rest.delete(crm.url(f"/{view_id}")).status_code == 204
    assert member.rest.get(crm.url("/default")).get_json() == {"view": "all"}

    private = create(crm.owner, crm, name="Owner's")["id"]
    for bad in ("everything", str(private), "", None, 12.5, "999999999"):
        response = member.rest.put(crm.url("/default"), json={"view": bad})
        assert response.status_code == 400, (bad, response.get_json())
        assert "view" in response.get_json()["errors"]
    assert member.rest.put(crm.url("/default"), json={}).status_code == 400


# ---- built-in views and the list state --------------------------------------------------------


def _state(app, crm, person: Person, **args):
    from saas.records import views
    from tenants import services

    with (
        app.test_request_context(),
        tenant_context(crm.company.tenant_id, db.session, person.user_id),
    ):
        from flask import g

        g.membership = services.membership(person.user_id)
        state = views.list_state(g.membership, "account", MultiDict(args))
        return state, views.tree_json(state.tree)


def test_builtin_views_and_url_overrides(app, crm):
    member = crm.people["member"]
    state, tree = _state(app, crm, member, view="mine")
    assert (state.view.key, tree) == ("mine", {"field": "owner_id", "op": "is_me"})
    state, tree = _state(app, crm, member, view="my_team")
    assert tree == {"field": "owner_id", "op": "in_my_team_and_below"}
    state, tree = _state(app, crm, member)
    assert (state.view.key, tree, state.page_size) == ("all", None, 50)

    view_id = create(
        crm.owner,
        crm,
        name="Shared",
        visibility="tenant",
        filter={"field": "band", "op": "eq", "value": "A"},
        sort=[{"field": "name"}],
        columns=["name", "band"],
        page_size=20,
    )["id"]
    state, tree = _state(app, crm, member, view=str(view_id))
    assert tree == {"field": "band", "op": "eq", "value": "A"}
    assert [k.field for k in state.sort] == ["name"]
    assert state.overrides == set()
    state, tree = _state(
        app,
        crm,
        member,
        view=str(view_id),
        f=["band:in:A,B", "city:contains:上海"],
        logic="1 OR 2",
        sort="-revenue,name",
        columns="name,city:150",
        limit="100",
        layout="kanban",
        group_by="band",
        q="zs",
    )
    assert tree == {
        "or": [
            {"field": "band", "op": "in", "value": ["A", "B"]},
            {"field": "city", "op": "contains", "value": "上海"},
        ]
    }
    assert [(k.field, k.desc) for k in state.sort] == [("revenue", True), ("name", False)]
    assert state.columns == [{"key": "name", "width": None}, {"key": "city", "width": 150}]
    assert (state.page_size, state.layout, state.group_by, state.search) == (
        100,
        "kanban",
        "band",
        "zs",
    )
    assert state.overrides == {"filter", "sort", "columns", "limit", "layout", "group_by"}
    assert state.view_payload()["filter"] == tree
    # An empty filter parameter clears the view's filter.
    state, tree = _state(app, crm, member, view=str(view_id), filter="")
    assert tree is None


def test_list_state_errors(app, crm):
    from saas.errors import ValidationFailed
    from saas.records.views import ViewNotFound

    member = crm.people["member"]
    for args, key in (
        ({"f": "margin:gt:1"}, "filter"),
        ({"f": "band:eq:A", "logic": "1 AND"}, "logic"),
        ({"sort": "regions"}, "sort"),
        ({"columns": "name,margin"}, "columns"),
        ({"limit": "7"}, "limit"),
        ({"layout": "kanban"}, "group_by"),
        ({"layout": "kanban", "group_by": "city"}, "group_by"),
        ({"filter": "{not json"}, "filter"),
    ):
        with pytest.raises(ValidationFailed) as info:
            _state(app, crm, member, **args)
        assert key in info.value.errors, (args, info.value.errors)
    private = create(crm.owner, crm, name="Owner's")["id"]
    for view in (str(private), "nope", "0", "99999999999999999999"):
        with pytest.raises(ViewNotFound):
            _state(app, crm, member, view=view)


# ---- recently viewed --------------------------------------------------------------------------


def test_recent_records_keep_the_last_fifty_newest_first(app, crm):
    from saas.records import views
    from saas.records.models import RecentRecord
    from tenants import services

    member = crm.people["member"]
    with (
        app.test_request_context(),
        tenant_context(crm.company.tenant_id, db.session, member.user_id),
    ):
        actor = services.membership(member.user_id)
        for record_id in range(1, 56):
            views.note_recent(actor, "account", record_id)
        views.note_recent(actor, "account", 10)  # opened again: first once more
        ids = views.recent_ids(actor, "account")
        assert len(ids) == views.RECENT_KEEP
        assert ids[:3] == [10, 55, 54]
        assert 5 not in ids and 6 in ids  # 1–5 went when 51–55 came
        stored = db.session.execute(
            select(RecentRecord.record_id).where(RecentRecord.user_id == member.user_id)
        ).scalars()
        assert len(list(stored)) == views.RECENT_KEEP
        owner = services.membership(crm.company.owner_id)
        assert views.recent_ids(owner, "account") == []
        assert views.recent_ids(actor, "contact") == []


def test_recent_view_lists_opened_records(crm, login):
    rest = crm.owner.rest
    ids = []
    for name in ("First", "Second", "Third"):
        response = rest.post(f"/api/v1/t/{crm.slug}/records/account", json={"name": name})
        ids.append(response.get_json()["id"])
    ui = login(crm.owner.email)
    page = ui.get(f"/t/{crm.slug}/o/account/?view=recent").get_data(as_text=True)
    assert 'data-testid="no-records"' in page and "You have not opened any" in page
    for record_id in (ids[1], ids[0], ids[2], ids[1]):
        assert ui.get(f"/t/{crm.slug}/o/account/{record_id}").status_code == 200
    page = ui.get(f"/t/{crm.slug}/o/account/?view=recent").get_data(as_text=True)
    import re

    order = re.findall(r'<tr data-id="(\d+)"', page)
    assert order == [str(ids[1]), str(ids[2]), str(ids[0])]
    # Another person's recent list is their own.
    other = login(crm.people["admin"].email)
    page = other.get(f"/t/{crm.slug}/o/account/?view=recent").get_data(as_text=True)
    assert "You have not opened any" in page


# ---- tenants ----------------------------------------------------------------------------------


def test_another_tenants_view_ids_are_404(crm, make_company, api):
    other = make_company()
    other_rest = api(other.token)
    theirs = other_rest.post(
        f"/api/v1/t/{other.slug}/objects/account/views",
        json={"name": "Bravo secret view", "visibility": "tenant"},
    )
    assert theirs.status_code == 201
    view_id = theirs.get_json()["id"]
    rest = crm.owner.rest
    assert rest.get(crm.url(f"/{view_id}")).status_code == 404
    assert rest.patch(crm.url(f"/{view_id}"), json={"name": "hijacked"}).status_code == 404
    assert rest.delete(crm.url(f"/{view_id}")).status_code == 404
    response = rest.put(crm.url("/default"), json={"view": view_id})
    assert response.status_code == 400
    assert "Bravo" not in rest.get(crm.url()).get_data(as_text=True)
    # A's token on B's slug: 401.
    assert rest.get(f"/api/v1/t/{other.slug}/objects/account/views").status_code == 401
    still = other_rest.get(f"/api/v1/t/{other.slug}/objects/account/views/{view_id}")
    assert still.get_json()["name"] == "Bravo secret view"


def test_views_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/t/{slug}/objects/{object_key}/views" in paths
    assert {"get", "patch", "delete"} <= set(
        paths["/api/v1/t/{slug}/objects/{object_key}/views/{view_id}"]
    )
    assert "put" in paths["/api/v1/t/{slug}/objects/{object_key}/views/default"]
