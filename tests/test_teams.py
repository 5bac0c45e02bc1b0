"""Teams, members' teams and the data scope of roles: service rules, API, pages, and what each
scope lets a member see of the records."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from saas.extensions import db
from tenants import services
from tenants.context import tenant_context
from tenants.models import AuditEvent, Membership, Role, Team


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = services.create_token(services.membership(user_id), "test")
    return raw


def _audit(app, company, action: str) -> list[AuditEvent]:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return list(
            db.session.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            ).scalars()
        )


def _team_row(app, company, team_id: int) -> Team | None:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return db.session.execute(select(Team).where(Team.id == team_id)).scalar_one_or_none()


def _member_team(app, company, user_id: int) -> int | None:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return db.session.execute(
            select(Membership.team_id).where(Membership.user_id == user_id)
        ).scalar_one()


class Teams:
    """The teams API of one company, as its owner."""

    def __init__(self, rest, slug: str):
        self.rest = rest
        self.base = f"/api/v1/t/{slug}"

    def create(self, name: str, parent_id: int | None = None, expect: int = 201) -> dict:
        response = self.rest.post(f"{self.base}/teams", json={"name": name, "parent_id": parent_id})
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def patch(self, team_id: int, expect: int = 200, **body) -> dict:
        response = self.rest.patch(f"{self.base}/teams/{team_id}", json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def tree(self) -> list[dict]:
        response = self.rest.get(f"{self.base}/teams")
        assert response.status_code == 200
        return response.get_json()

    def assign(self, user_id: int, team_id: int | None, expect: int = 200) -> dict:
        response = self.rest.patch(f"{self.base}/users/{user_id}", json={"team_id": team_id})
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def scope(self, role: str, scope: str, expect: int = 200) -> dict:
        response = self.rest.patch(f"{self.base}/roles/{role}", json={"data_scope": scope})
        assert response.status_code == expect, response.get_json()
        return response.get_json()


@pytest.fixture
def company(make_company):
    return make_company()


@pytest.fixture
def owner_api(company, api) -> Teams:
    return Teams(api(company.token), company.slug)


def _shape(nodes: list[dict]) -> list:
    return [(n["name"], n["member_count"], _shape(n["children"])) for n in nodes]


# ---------------------------------------------------------------- CRUD


def test_create_rename_and_read_teams(app, company, owner_api, add_member):
    sales = owner_api.create("Sales 销售")
    north = owner_api.create("North", sales["id"])
    owner_api.create("Alpha")
    assert north["parent_id"] == sales["id"]
    assert north["member_count"] == 0
    rep = add_member(company, "member")
    owner_api.assign(rep.id, north["id"])
    assert _shape(owner_api.tree()) == [
        ("Alpha", 0, []),
        ("Sales 销售", 0, [("North", 1, [])]),
    ]
    renamed = owner_api.patch(north["id"], name="  North   China ")
    assert renamed["name"] == "North China"
    assert renamed["parent_id"] == sales["id"]  # a rename leaves the parent alone
    one = owner_api.rest.get(f"{owner_api.base}/teams/{north['id']}").get_json()
    assert (one["name"], one["member_count"]) == ("North China", 1)

    (created, *_) = _audit(app, company, "team.created")
    assert created.after == {"name": "Sales 销售", "parent_id": None}
    (updated,) = _audit(app, company, "team.updated")
    assert (updated.before, updated.after) == ({"name": "North"}, {"name": "North China"})


def test_team_names_are_checked(owner_api):
    sales = owner_api.create("Sales")
    for name in ("", "   "):
        body = owner_api.create(name, expect=400)
        assert "name" in body["errors"]
    assert "name" in owner_api.create("x" * 101, expect=400)["errors"]
    owner_api.create("x" * 100)
    taken = owner_api.create("SALES", expect=409)
    assert "name" in taken["errors"]
    other = owner_api.create("Service")
    assert "name" in owner_api.patch(other["id"], name="sales", expect=409)["errors"]
    owner_api.patch(sales["id"], name="sales")  # its own name in another case is fine
    assert "parent_id" in owner_api.create("Orphan", 999_999_999, expect=400)["errors"]
    response = owner_api.rest.post(f"{owner_api.base}/teams", json={"parent_id": None})
    assert response.status_code == 400
    assert "name" in response.get_json()["errors"]
    response = owner_api.rest.post(f"{owner_api.base}/teams", json={"name": "A", "colour": "x"})
    assert response.status_code == 400


def test_moves_refuse_cycles_and_self_parenting(app, company, owner_api):
    top = owner_api.create("Top")
    mid = owner_api.create("Mid", top["id"])
    leaf = owner_api.create("Leaf", mid["id"])

    own = owner_api.patch(top["id"], parent_id=top["id"], expect=400)
    assert list(own["errors"]) == ["parent_id"]
    assert "own parent" in own["message"]
    for below in (mid, leaf):
        cycle = owner_api.patch(top["id"], parent_id=below["id"], expect=400)
        assert list(cycle["errors"]) == ["parent_id"]
        assert "sub-teams" in cycle["message"]
    assert "parent_id" in owner_api.patch(top["id"], parent_id=123_456_789, expect=400)["errors"]
    assert _shape(owner_api.tree()) == [("Top", 0, [("Mid", 0, [("Leaf", 0, [])])])]

    moved = owner_api.patch(leaf["id"], parent_id=top["id"])
    assert moved["parent_id"] == top["id"]
    owner_api.patch(mid["id"], parent_id=None)  # to the top level
    owner_api.patch(top["id"], parent_id=mid["id"])  # no longer a cycle: Mid is not below Top
    assert _shape(owner_api.tree()) == [("Mid", 0, [("Top", 0, [("Leaf", 0, [])])])]
    moves = _audit(app, company, "team.updated")
    assert moves[-1].before == {"parent_id": None}
    assert moves[-1].after == {"parent_id": mid["id"]}


def test_delete_detaches_members_and_moves_sub_teams_up(app, company, owner_api, add_member, login):
    root = owner_api.create("Root")
    mid = owner_api.create("Mid", root["id"])
    left = owner_api.create("Left", mid["id"])
    right = owner_api.create("Right", mid["id"])
    a, b = add_member(company, "member"), add_member(company, "member")
    owner_api.assign(a.id, mid["id"])
    owner_api.assign(b.id, mid["id"])
    owner_api.assign(company.owner_id, left["id"])

    page = login(company.owner_email).get(f"/t/{company.slug}/teams/{mid['id']}/delete")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "2 members will be left without a team." in text
    assert "2 sub-teams will move under “Root”." in text
    assert _team_row(app, company, mid["id"]) is not None  # asking deletes nothing

    response = owner_api.rest.delete(f"{owner_api.base}/teams/{mid['id']}")
    assert response.status_code == 204
    assert _team_row(app, company, mid["id"]) is None
    assert _member_team(app, company, a.id) is None
    assert _member_team(app, company, b.id) is None
    assert _member_team(app, company, company.owner_id) == left["id"]
    assert _team_row(app, company, left["id"]).parent_id == root["id"]
    assert _team_row(app, company, right["id"]).parent_id == root["id"]
    assert _shape(owner_api.tree()) == [("Root", 0, [("Left", 1, []), ("Right", 0, [])])]
    (event,) = _audit(app, company, "team.deleted")
    assert event.before == {
        "name": "Mid",
        "parent_id": root["id"],
        "members": sorted([a.id, b.id]),
        "sub_teams": sorted([left["id"], right["id"]]),
    }
    assert event.after == {"members_detached": 2, "sub_teams_moved_to": root["id"]}

    # Deleting a top team makes its sub-teams top teams.
    assert owner_api.rest.delete(f"{owner_api.base}/teams/{root['id']}").status_code == 204
    assert _shape(owner_api.tree()) == [("Left", 1, []), ("Right", 0, [])]
    assert owner_api.rest.delete(f"{owner_api.base}/teams/{root['id']}").status_code == 404
    assert owner_api.rest.get(f"{owner_api.base}/teams/{root['id']}").status_code == 404


# ---------------------------------------------------------------- members and roles


def test_member_team_assignment(app, company, owner_api, add_member):
    sales = owner_api.create("Sales")
    rep = add_member(company, "member")
    assert owner_api.assign(rep.id, sales["id"])["team_id"] == sales["id"]
    listed = owner_api.rest.get(f"{owner_api.base}/users").get_json()
    assert {m["user"]["id"]: m["team_id"] for m in listed} == {
        company.owner_id: None,
        rep.id: sales["id"],
    }
    bad = owner_api.assign(rep.id, 987_654_321, expect=400)
    assert list(bad["errors"]) == ["team_id"]
    # All or nothing: a bad team leaves the role as it was.
    response = owner_api.rest.patch(
        f"{owner_api.base}/users/{rep.id}", json={"role": "manager", "team_id": 987_654_321}
    )
    assert response.status_code == 400
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        assert services.membership(rep.id).role_key == "member"
    response = owner_api.rest.patch(
        f"{owner_api.base}/users/{rep.id}", json={"role": "manager", "team_id": None}
    )
    assert response.status_code == 200
    assert (response.get_json()["role"], response.get_json()["team_id"]) == ("manager", None)
    assert owner_api.assign(999_999_999, sales["id"], expect=404)
    changes = _audit(app, company, "membership.team_changed")
    assert [(e.before, e.after) for e in changes] == [
        ({"team_id": None}, {"team_id": sales["id"]}),
        ({"team_id": sales["id"]}, {"team_id": None}),
    ]


def test_role_data_scope(app, company, owner_api):
    roles = owner_api.rest.get(f"{owner_api.base}/roles").get_json()
    assert [(r["key"], r["data_scope"], r["data_scope_editable"]) for r in roles] == [
        ("owner", "all", False),
        ("admin", "all", False),
        ("manager", "all", True),
        ("member", "all", True),
        ("read_only", "all", True),
    ]
    changed = owner_api.scope("manager", "team_and_below")
    assert (changed["key"], changed["data_scope"]) == ("manager", "team_and_below")
    assert changed["data_scope_label"] == "Records of my team and the teams below it"
    for fixed in ("owner", "admin"):
        refused = owner_api.scope(fixed, "own", expect=400)
        assert list(refused["errors"]) == ["data_scope"]
    owner_api.scope("admin", "all")  # unchanged, allowed
    assert "data_scope" in owner_api.scope("member", "everything", expect=400)["errors"]
    owner_api.scope("no_such_role", "own", expect=404)
    (event,) = _audit(app, company, "role.data_scope_changed")
    assert (event.target_id, event.before, event.after) == (
        "manager",
        {"data_scope": "all"},
        {"data_scope": "team_and_below"},
    )
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        scopes = dict(db.session.execute(select(Role.key, Role.data_scope)).all())
    assert scopes["owner"] == scopes["admin"] == "all"


# ---------------------------------------------------------------- what a scope shows


def _add_account(rest, slug: str, name: str, owner_id: int) -> int:
    response = rest.post(
        f"/api/v1/t/{slug}/records/account", json={"name": name, "owner_id": owner_id}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _names(rest, slug: str) -> list[str]:
    response = rest.get(f"/api/v1/t/{slug}/records/account?sort=name")
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["data"]]


def test_scope_own_shows_only_own_records(app, company, owner_api, add_member, api):
    rep, other = add_member(company, "member"), add_member(company, "member")
    mine = _add_account(owner_api.rest, company.slug, "Rep's customer", rep.id)
    theirs = _add_account(owner_api.rest, company.slug, "Other's customer", other.id)
    _add_account(owner_api.rest, company.slug, "Owner's customer", company.owner_id)
    rep_api = api(_token(app, company, rep.id))
    assert len(_names(rep_api, company.slug)) == 3  # "all" by default

    owner_api.scope("member", "own")
    assert _names(rep_api, company.slug) == ["Rep's customer"]
    base = f"/api/v1/t/{company.slug}/records/account"
    assert rep_api.get(f"{base}/{mine}").status_code == 200
    assert rep_api.get(f"{base}/{theirs}").status_code == 404
    response = rep_api.patch(f"{base}/{theirs}", json={"name": "x"}, headers={"If-Match": '"v1"'})
    assert response.status_code == 404
    # The owner still sees everything.
    assert len(_names(owner_api.rest, company.slug)) == 3


def test_team_scopes_follow_the_tree(app, company, owner_api, add_member, api):
    sales = owner_api.create("Sales")
    north = owner_api.create("North", sales["id"])
    owner_api.create("Support")
    boss = add_member(company, "manager")
    rep = add_member(company, "member")
    peer = add_member(company, "member")
    outsider = add_member(company, "member")
    owner_api.assign(boss.id, sales["id"])
    owner_api.assign(peer.id, sales["id"])
    owner_api.assign(rep.id, north["id"])
    for member, name in ((boss, "Boss"), (rep, "Rep"), (peer, "Peer"), (outsider, "Outsider")):
        _add_account(owner_api.rest, company.slug, f"{name}'s customer", member.id)
    boss_api = api(_token(app, company, boss.id))
    rep_api = api(_token(app, company, rep.id))

    owner_api.scope("manager", "team_and_below")
    assert _names(boss_api, company.slug) == [
        "Boss's customer",
        "Peer's customer",
        "Rep's customer",
    ]
    owner_api.scope("manager", "team")
    assert _names(boss_api, company.slug) == ["Boss's customer", "Peer's customer"]
    owner_api.scope("member", "team_and_below")
    assert _names(rep_api, company.slug) == ["Rep's customer"]  # nothing below North

    # Moving North out from under Sales takes the rep's records out of the manager's view.
    owner_api.scope("manager", "team_and_below")
    owner_api.patch(north["id"], parent_id=None)
    assert _names(boss_api, company.slug) == ["Boss's customer", "Peer's customer"]
    # Deleting Sales leaves its members without a team: they see their own records only.
    owner_api.rest.delete(f"{owner_api.base}/teams/{sales['id']}")
    assert _names(boss_api, company.slug) == ["Boss's customer"]


# ---------------------------------------------------------------- who may, which tenant


def test_only_admins_change_teams_and_scopes(app, company, owner_api, add_member, api, login):
    sales = owner_api.create("Sales")
    member = add_member(company, "manager")
    member_api = Teams(api(_token(app, company, member.id)), company.slug)
    assert _shape(member_api.tree()) == [("Sales", 0, [])]  # reading is open to members
    assert member_api.rest.get(f"{member_api.base}/roles").status_code == 200
    member_api.create("Mine", expect=403)
    member_api.patch(sales["id"], name="hijacked", expect=403)
    assert member_api.rest.delete(f"{member_api.base}/teams/{sales['id']}").status_code == 403
    member_api.assign(member.id, sales["id"], expect=403)
    member_api.scope("manager", "all", expect=403)
    member_api.scope("member", "own", expect=403)

    ui = login(member.email)
    base = f"/t/{company.slug}"
    assert ui.get(f"{base}/teams").status_code == 403
    assert ui.post(f"{base}/teams", data={"name": "Mine"}).status_code == 403
    assert ui.get(f"{base}/teams/{sales['id']}").status_code == 403
    assert ui.post(f"{base}/teams/{sales['id']}/delete").status_code == 403
    assert ui.post(f"{base}/teams/scopes", data={"scope-member": "own"}).status_code == 403
    assert ui.post(f"{base}/users/{member.id}/team", data={"team_id": ""}).status_code == 403
    users = ui.get(f"{base}/users").get_data(as_text=True)
    assert 'name="team_id"' not in users
    assert _team_row(app, company, sales["id"]).name == "Sales"
    assert _audit(app, company, "role.data_scope_changed") == []


def test_another_tenants_teams_are_not_found(app, make_company, api):
    a, b = make_company(), make_company()
    a_api = Teams(api(a.token), a.slug)
    b_api = Teams(api(b.token), b.slug)
    b_team = b_api.create("Bravo team")
    a_team = a_api.create("Alpha team")
    assert a_api.rest.get(f"{a_api.base}/teams/{b_team['id']}").status_code == 404
    a_api.patch(b_team["id"], name="hijacked", expect=404)
    assert a_api.rest.delete(f"{a_api.base}/teams/{b_team['id']}").status_code == 404
    assert "parent_id" in a_api.create("Under B", b_team["id"], expect=400)["errors"]
    assert "parent_id" in a_api.patch(a_team["id"], parent_id=b_team["id"], expect=400)["errors"]
    assert "team_id" in a_api.assign(a.owner_id, b_team["id"], expect=400)["errors"]
    a_api.assign(b.owner_id, a_team["id"], expect=404)
    assert _shape(a_api.tree()) == [("Alpha team", 0, [])]
    assert _team_row(app, b, b_team["id"]).name == "Bravo team"
    # B's own token does not work on A's teams.
    assert api(b.token).get(f"/api/v1/t/{a.slug}/teams").status_code == 401


# ---------------------------------------------------------------- pages


def test_teams_page(app, company, login, add_member):
    ui = login(company.owner_email)
    base = f"/t/{company.slug}"
    home = ui.get(f"{base}/").get_data(as_text=True)
    assert f'href="{base}/teams"' in home  # in the admin navigation
    assert ui.get(f"{base}/teams").status_code == 200

    response = ui.post(f"{base}/teams", data={"name": "Sales", "parent_id": ""})
    assert response.status_code == 302
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        sales = db.session.execute(select(Team).where(Team.name == "Sales")).scalar_one().id
    ui.post(f"{base}/teams", data={"name": "North", "parent_id": str(sales)})
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        north = db.session.execute(select(Team).where(Team.name == "North")).scalar_one().id
    page = ui.get(f"{base}/teams").get_data(as_text=True)
    assert re.search(rf'id="team-{sales}".*id="team-{north}"', page, re.S)

    empty = ui.post(f"{base}/teams", data={"name": "", "parent_id": ""})
    assert empty.status_code == 400
    assert "Enter a team name." in empty.get_data(as_text=True)
    taken = ui.post(f"{base}/teams", data={"name": "sales", "parent_id": ""})
    assert taken.status_code == 409
    assert "There is already a team with this name." in taken.get_data(as_text=True)

    edit = ui.get(f"{base}/teams/{sales}").get_data(as_text=True)
    assert f'value="{north}"' not in edit  # its own sub-teams are not offered as parents
    cycle = ui.post(f"{base}/teams/{sales}", data={"name": "Sales", "parent_id": str(north)})
    assert cycle.status_code == 400
    assert "sub-teams" in cycle.get_data(as_text=True)
    renamed = ui.post(f"{base}/teams/{north}", data={"name": "North China", "parent_id": ""})
    assert renamed.status_code == 302
    assert _team_row(app, company, north).parent_id is None
    assert _team_row(app, company, north).name == "North China"

    rep = add_member(company, "member")
    users = ui.get(f"{base}/users").get_data(as_text=True)
    assert f'id="team-{rep.id}"' in users
    assert ui.post(f"{base}/users/{rep.id}/team", data={"team_id": str(sales)}).status_code == 302
    assert _member_team(app, company, rep.id) == sales
    users = ui.get(f"{base}/users").get_data(as_text=True)
    assert re.search(rf'<option value="{sales}" selected>Sales</option>', users)
    bad = ui.post(f"{base}/users/{rep.id}/team", data={"team_id": "nope"}, follow_redirects=True)
    assert "Choose a valid team." in bad.get_data(as_text=True)
    assert _member_team(app, company, rep.id) == sales

    confirm = ui.get(f"{base}/teams/{sales}/delete").get_data(as_text=True)
    assert "1 member will be left without a team." in confirm
    assert ui.post(f"{base}/teams/{sales}/delete").status_code == 302
    assert _team_row(app, company, sales) is None
    assert _member_team(app, company, rep.id) is None


def test_data_scope_form(app, company, login):
    ui = login(company.owner_email)
    base = f"/t/{company.slug}"
    page = ui.get(f"{base}/teams").get_data(as_text=True)
    assert 'name="scope-manager"' in page
    assert 'name="scope-owner"' not in page  # owners and admins always see all
    response = ui.post(
        f"{base}/teams/scopes",
        data={"scope-manager": "team_and_below", "scope-member": "own", "scope-owner": "own"},
    )
    assert response.status_code == 302
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        scopes = dict(db.session.execute(select(Role.key, Role.data_scope)).all())
    assert scopes == {
        "owner": "all",
        "admin": "all",
        "manager": "team_and_below",
        "member": "own",
        "read_only": "all",
    }
    bad = ui.post(f"{base}/teams/scopes", data={"scope-member": "everything"})
    assert bad.status_code == 400
    assert "Choose a valid data scope." in bad.get_data(as_text=True)


def test_chinese_teams_page(company, login):
    ui = login(company.owner_email)
    ui.post("/locale", data={"locale": "zh_CN", "next": "/"})
    response = ui.get(f"/t/{company.slug}/teams")
    assert response.status_code == 200
    assert 'lang="zh-CN"' in response.get_data(as_text=True)


def test_openapi_documents_teams_and_roles(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/t/{slug}/teams"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/t/{slug}/teams/{team_id}"])
    assert "get" in paths["/api/v1/t/{slug}/roles"]
    assert "patch" in paths["/api/v1/t/{slug}/roles/{role_key}"]
    patch_user = paths["/api/v1/t/{slug}/users/{user_id}"]["patch"]
    body = patch_user["requestBody"]["content"]["application/json"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[-1]
    assert "team_id" in spec["components"]["schemas"][ref]["properties"]


def test_member_position(app, company, owner_api, add_member, login):
    sales = owner_api.create("Sales")
    rep = add_member(company, "member")
    url = f"{owner_api.base}/members/{rep.id}"
    response = owner_api.rest.patch(
        url, json={"team_id": sales["id"], "position": "  Regional   manager "}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "user_id": rep.id,
        "team_id": sales["id"],
        "position": "Regional manager",
    }
    # Position alone keeps the team; too long is a 400 naming the field and changes nothing.
    response = owner_api.rest.patch(url, json={"position": "x" * 61})
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["position"]
    response = owner_api.rest.patch(url, json={"position": "销售经理"})
    assert response.get_json()["team_id"] == sales["id"]
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        assert services.membership(rep.id).position == "销售经理"
    # Only owners and admins; an unknown member is a 404.
    rep_api = owner_api.rest.__class__(_token(app, company, rep.id))
    assert rep_api.patch(url, json={"position": "Boss"}).status_code == 403
    assert (
        owner_api.rest.patch(
            f"{owner_api.base}/members/999999999", json={"position": "x"}
        ).status_code
        == 404
    )
    changes = _audit(app, company, "membership.position_changed")
    assert [(e.before, e.after) for e in changes] == [
        ({"position": None}, {"position": "Regional manager"}),
        ({"position": "Regional manager"}, {"position": "销售经理"}),
    ]

    # The pages: set on the users page with the team, shown there and on the teams page.
    ui = login(company.owner_email)
    base = f"/t/{company.slug}"
    form = {"team_id": str(sales["id"]), "position": " Key accounts "}
    assert ui.post(f"{base}/users/{rep.id}/team", data=form).status_code == 302
    users = ui.get(f"{base}/users").get_data(as_text=True)
    assert 'value="Key accounts"' in users
    teams_page = ui.get(f"{base}/teams").get_data(as_text=True)
    assert "(Key accounts)" in teams_page
    # An empty position clears it.
    ui.post(f"{base}/users/{rep.id}/team", data={"team_id": str(sales["id"]), "position": ""})
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        assert services.membership(rep.id).position is None
