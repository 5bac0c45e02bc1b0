"""The permission matrix: role × data scope × object, module rights per action, and sharing.

One company is built once for the module: a region team with a city team below it and an
unrelated team; a manager in the region, two salespeople and a read-only member in the city, a
salesperson in the other team; and a customer, an opportunity and a custom-object record owned
by each person. Every case sets the rights it needs through the API first, so the cases do not
depend on their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from saas.extensions import db
from tenants.context import tenant_context
from tests.conftest import TEST_PASSWORD, unique

OBJECTS = ("account", "opportunity", "vehicle")
SCOPES = ("own", "team", "team_and_below", "all")
#: The member who speaks for each role in the matrix.
SUBJECT = {"manager": "mgr", "member": "rep", "read_only": "viewer"}
TEAM_OF = {"mgr": "region", "rep": "city", "peer": "city", "viewer": "city", "outsider": "other"}
ROLE_OF = {
    "mgr": "manager",
    "rep": "member",
    "peer": "member",
    "viewer": "read_only",
    "outsider": "member",
}
OWNERS = ("owner", "mgr", "rep", "peer", "outsider")


@dataclass
class Org:
    slug: str
    tokens: dict[str, str]
    user_ids: dict[str, int]
    team_ids: dict[str, int]
    #: object key → person → the record that person owns
    records: dict[str, dict[str, int]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def org(app) -> Org:
    from saas.accounts.models import User
    from saas.accounts.passwords import hash_password
    from tenants import services, teams
    from tenants.models import Membership

    slug = unique("perm-")
    owner_email = f"{unique('owner')}@example.com"
    client = app.test_client()
    response = client.post(
        "/api/v1/signup",
        json={
            "company": "Matrix Co",
            "slug": slug,
            "email": owner_email,
            "password": TEST_PASSWORD,
            "locale": "en",
        },
    )
    assert response.status_code == 201, response.get_json()
    tokens = {"owner": response.get_json()["token"]}
    with app.test_request_context():
        tenant = services.tenant_by_slug(slug)
        with tenant_context(tenant.id, db.session):
            owner_id = db.session.execute(
                select(User.id).where(User.email == owner_email)
            ).scalar_one()
            admin = services.membership(owner_id)
            region = teams.create_team(admin, "Region").id
            team_ids = {
                "region": region,
                "city": teams.create_team(admin, "City", region).id,
                "other": teams.create_team(admin, "Other").id,
            }
            user_ids = {"owner": owner_id}
            for person, role in ROLE_OF.items():
                user = User(
                    email=f"{unique(person)}@example.com",
                    password_hash=hash_password(TEST_PASSWORD),
                    name=person,
                )
                db.session.add(user)
                db.session.flush()
                db.session.add(Membership(user_id=user.id, role_key=role))
                db.session.commit()
                user_ids[person] = user.id
                teams.set_member_team(admin, user.id, team_ids[TEAM_OF[person]])
                _token, raw = services.create_token(services.membership(user.id), "matrix")
                tokens[person] = raw
    result = Org(slug, tokens, user_ids, team_ids)
    owner = _api(app, result, "owner")
    assert owner("post", "/objects", json={"key": "vehicle", "label": "Vehicle"}).status_code == 201
    for object_key in OBJECTS:
        result.records[object_key] = {}
        for person in OWNERS:
            body = {"name": f"{object_key} of {person}", "owner_id": user_ids[person]}
            if object_key == "opportunity":
                body["stage"] = "qualification"
            created = owner("post", f"/records/{object_key}", json=body)
            assert created.status_code == 201, created.get_json()
            result.records[object_key][person] = created.get_json()["id"]
    return result


def _api(app, org: Org, person: str):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {org.tokens[person]}"}

    def call(method: str, path: str, **kwargs):
        merged = headers | kwargs.pop("headers", {})
        return getattr(client, method)(f"/api/v1/t/{org.slug}{path}", headers=merged, **kwargs)

    return call


def _rights(role: str, scope: str | None, **overrides: bool) -> dict:
    writes = role != "read_only"
    base = {"view": True, "create": writes, "edit": writes, "delete": writes, "export": True}
    return base | overrides | {"data_scope": scope}


def _set(app, org: Org, role: str, objects: dict[str, dict]) -> None:
    response = _api(app, org, "owner")(
        "put", f"/roles/{role}/permissions", json={"objects": objects}
    )
    assert response.status_code == 200, response.get_json()


def _expected(person: str, scope: str) -> set[str]:
    """The owners whose records ``person`` sees with ``scope`` (computed from the org chart,
    independently of the service)."""
    if scope == "all":
        return set(OWNERS)
    if scope == "own":
        return {person} & set(OWNERS)
    teams = {TEAM_OF[person]}
    if scope == "team_and_below" and TEAM_OF[person] == "region":
        teams.add("city")
    return {p for p in OWNERS if TEAM_OF.get(p) in teams} | ({person} & set(OWNERS))


def _listed(app, org: Org, person: str, object_key: str) -> set[int]:
    response = _api(app, org, person)("get", f"/records/{object_key}?limit=200")
    assert response.status_code == 200, response.get_json()
    return {row["id"] for row in response.get_json()["data"]}


@pytest.mark.parametrize("object_key", OBJECTS)
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("role", list(SUBJECT))
def test_data_scope_per_role_and_object(app, org, role, scope, object_key):
    """Lists and record pages show exactly the records the object's scope allows, and the
    other objects keep their own scope."""
    contrast = "own" if scope != "own" else "all"
    _set(
        app,
        org,
        role,
        {key: _rights(role, scope if key == object_key else contrast) for key in OBJECTS},
    )
    person = SUBJECT[role]
    records = org.records[object_key]
    expected = {records[p] for p in _expected(person, scope)}
    assert _listed(app, org, person, object_key) == expected
    call = _api(app, org, person)
    for owner, record_id in records.items():
        status = call("get", f"/records/{object_key}/{record_id}").status_code
        assert status == (200 if record_id in expected else 404), (owner, status)
    for other in OBJECTS:
        if other != object_key:
            others = org.records[other]
            assert _listed(app, org, person, other) == {
                others[p] for p in _expected(person, contrast)
            }


@pytest.mark.parametrize("object_key", OBJECTS)
@pytest.mark.parametrize("role", ["manager", "member"])
def test_each_action_is_its_own_right(app, org, role, object_key):
    """Taking one right away refuses exactly that action, with a 403 that says so."""
    person = SUBJECT[role]
    call = _api(app, org, person)
    mine = org.records[object_key][person]

    def version(record_id: int) -> str:
        return _api(app, org, "owner")("get", f"/records/{object_key}/{record_id}").headers["ETag"]

    _set(app, org, role, {object_key: _rights(role, "all", create=False)})
    refused = call("post", f"/records/{object_key}", json={"name": "not allowed"})
    assert refused.status_code == 403
    assert "creating" in refused.get_json()["message"]

    _set(app, org, role, {object_key: _rights(role, "all", edit=False)})
    refused = call(
        "patch",
        f"/records/{object_key}/{mine}",
        json={"name": "renamed"},
        headers={"If-Match": version(mine)},
    )
    assert refused.status_code == 403
    assert "changing" in refused.get_json()["message"]

    _set(app, org, role, {object_key: _rights(role, "all", delete=False)})
    assert call("delete", f"/records/{object_key}/{mine}").status_code == 403

    _set(app, org, role, {object_key: _rights(role, "all", export=False)})
    refused = call("post", f"/records/{object_key}/export", json={"format": "csv"})
    assert refused.status_code == 403
    assert "exporting" in refused.get_json()["message"]
    # Printing many records into one zip is an export too; one record's PDF is not.
    batch = call("post", f"/records/{object_key}/pdf-batch", json={"ids": [mine]})
    assert batch.status_code == 403, batch.get_json()
    assert call("post", f"/records/{object_key}/{mine}/pdf", json={}).status_code == 202

    _set(
        app,
        org,
        role,
        {
            object_key: _rights(
                role, "all", view=False, create=False, edit=False, delete=False, export=False
            )
        },
    )
    assert call("get", f"/records/{object_key}").status_code == 403
    assert call("get", f"/records/{object_key}/{mine}").status_code == 404

    # With every right back, the same calls go through.
    _set(app, org, role, {object_key: _rights(role, "all")})
    created = call("post", f"/records/{object_key}", json={"name": f"{role} made this"})
    assert created.status_code == 201, created.get_json()
    new_id = created.get_json()["id"]
    renamed = call(
        "patch",
        f"/records/{object_key}/{new_id}",
        json={"name": "renamed"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert renamed.status_code == 200, renamed.get_json()
    assert call("post", f"/records/{object_key}/export", json={"format": "csv"}).status_code == 200
    assert call("delete", f"/records/{object_key}/{new_id}").status_code == 204


def test_read_only_stays_read_only_by_default_and_admins_cannot_be_limited(app, org):
    owner = _api(app, org, "owner")
    reset = owner("delete", "/roles/read_only/permissions")
    assert reset.status_code == 200
    rows = {r["object_key"]: r for r in reset.get_json()["objects"]}
    assert rows["account"]["view"] and not rows["account"]["edit"]
    assert not rows["account"]["configured"]
    viewer = _api(app, org, "viewer")
    assert viewer("post", "/records/account", json={"name": "x"}).status_code == 403

    refused = owner(
        "put", "/roles/admin/permissions", json={"objects": {"account": _rights("admin", None)}}
    )
    assert refused.status_code == 400
    assert owner("get", "/roles/admin/permissions").get_json()["locked"] is True
    # Writing without viewing is refused, naming the object and the right.
    refused = owner(
        "put",
        "/roles/member/permissions",
        json={"objects": {"account": _rights("member", None, view=False)}},
    )
    assert refused.status_code == 400
    assert "account.view" in refused.get_json()["errors"]
    unknown = owner(
        "put", "/roles/member/permissions", json={"objects": {"nope": _rights("member", None)}}
    )
    assert unknown.status_code == 400
    assert "nope" in unknown.get_json()["errors"]
    # Members cannot read or change the matrix.
    rep = _api(app, org, "rep")
    assert rep("get", "/roles/member/permissions").status_code == 403
    assert rep("put", "/roles/member/permissions", json={"objects": {}}).status_code == 403


def test_changes_to_the_matrix_are_audited(app, org):
    from tenants.models import AuditEvent

    _set(app, org, "member", {"vehicle": _rights("member", "own", export=False)})
    _set(app, org, "member", {"vehicle": _rights("member", "team", export=False)})
    with app.app_context():
        from tenants import services

        tenant = services.tenant_by_slug(org.slug)
        with tenant_context(tenant.id, db.session):
            event = db.session.execute(
                select(AuditEvent)
                .where(AuditEvent.action == "role.permissions_changed")
                .order_by(AuditEvent.id.desc())
                .limit(1)
            ).scalar_one()
    assert event.before["vehicle"]["data_scope"] == "own"
    assert event.after["vehicle"]["data_scope"] == "team"


def _share_events(app, org: Org, record_id: int) -> list[str]:
    from tenants import services
    from tenants.models import AuditEvent

    with app.app_context():
        tenant = services.tenant_by_slug(org.slug)
        with tenant_context(tenant.id, db.session):
            return list(
                db.session.execute(
                    select(AuditEvent.action)
                    .where(
                        AuditEvent.target_type == "account",
                        AuditEvent.target_id == str(record_id),
                        AuditEvent.action.like("record.%shared"),
                    )
                    .order_by(AuditEvent.id)
                ).scalars()
            )


@pytest.mark.parametrize("inline", [True, False], ids=["inlined-ids", "subquery"])
def test_sharing_opens_a_record_beyond_the_scope(app, org, inline, monkeypatch):
    """An "own" salesperson sees a colleague's customer once it is shared with her (read),
    may change it only with an edit share, and loses it when the share goes; a team share
    reaches the teams below; shares are audited and the member is notified. Both ways the
    scope reads shares (a list of ids, or a subquery past the inline limit) agree."""
    if not inline:
        monkeypatch.setattr("custom_fields.query.scope.MAX_INLINE_SHARES", 0)
    for role in ("member", "manager"):
        _set(app, org, role, {key: _rights(role, "own") for key in OBJECTS})
    outsiders = org.records["account"]["outsider"]
    rep, peer = _api(app, org, "rep"), _api(app, org, "peer")
    outsider = _api(app, org, "outsider")
    path = f"/records/account/{outsiders}"
    assert rep("get", path).status_code == 404
    events_before = _share_events(app, org, outsiders)

    # The rep cannot share what she cannot open; the owner of the record can.
    assert rep("post", f"{path}/shares", json={"user_id": org.user_ids["peer"]}).status_code == 404
    shared = outsider("post", f"{path}/shares", json={"user_id": org.user_ids["rep"]})
    assert shared.status_code == 201, shared.get_json()
    assert shared.get_json()["access"] == "read"
    share_id = shared.get_json()["id"]
    opened = rep("get", path)
    assert opened.status_code == 200
    assert outsiders in _listed(app, org, "rep", "account")
    refused = rep(
        "patch", path, json={"name": "mine now"}, headers={"If-Match": opened.headers["ETag"]}
    )
    assert refused.status_code == 403
    # Being shared a record does not let her pass it on.
    assert rep("post", f"{path}/shares", json={"user_id": org.user_ids["peer"]}).status_code == 403

    again = outsider(
        "post", f"{path}/shares", json={"user_id": org.user_ids["rep"], "access": "edit"}
    )
    assert again.status_code == 201 and again.get_json()["id"] == share_id
    changed = rep(
        "patch", path, json={"name": "edited by rep"}, headers={"If-Match": opened.headers["ETag"]}
    )
    assert changed.status_code == 200, changed.get_json()
    assert peer("get", path).status_code == 404

    # A share with the region reaches the city team below it.
    team_share = outsider("post", f"{path}/shares", json={"team_id": org.team_ids["region"]})
    assert team_share.status_code == 201
    assert peer("get", path).status_code == 200
    assert _api(app, org, "mgr")("get", path).status_code == 200
    listed = outsider("get", f"{path}/shares").get_json()
    assert {(s["kind"], s["access"]) for s in listed} == {("user", "edit"), ("team", "read")}

    assert outsider("delete", f"{path}/shares/{share_id}").status_code == 204
    assert outsider("delete", f"{path}/shares/{team_share.get_json()['id']}").status_code == 204
    assert rep("get", path).status_code == 404
    assert peer("get", path).status_code == 404

    actions = _share_events(app, org, outsiders)[len(events_before) :]
    with app.app_context():
        from tenants import services
        from tenants.notifications import Notification

        tenant = services.tenant_by_slug(org.slug)
        with tenant_context(tenant.id, db.session):
            notified = db.session.execute(
                select(Notification.kind).where(
                    Notification.user_id == org.user_ids["rep"],
                    Notification.record_id == outsiders,
                )
            ).scalars()
            assert "record.shared" in set(notified)
    assert actions.count("record.shared") == 3 and actions.count("record.unshared") == 2


def test_share_input_is_checked(app, org):
    outsider = _api(app, org, "outsider")
    path = f"/records/account/{org.records['account']['outsider']}/shares"
    both = outsider(
        "post", path, json={"user_id": org.user_ids["rep"], "team_id": org.team_ids["city"]}
    )
    assert both.status_code == 400
    assert outsider("post", path, json={"user_id": 999_999_999}).status_code == 400
    itself = outsider("post", path, json={"user_id": org.user_ids["outsider"]})
    assert itself.status_code == 400
    assert "owner" in str(itself.get_json()["errors"])
    assert outsider("post", path, json={"team_id": 999_999}).status_code == 400
    bad = outsider("post", path, json={"user_id": org.user_ids["rep"], "access": "own"})
    assert bad.status_code == 422 or bad.status_code == 400
    assert outsider("delete", f"{path}/999999").status_code == 404


def test_permission_and_sharing_pages(app, org):
    """The matrix page saves what the boxes say; the record page offers Share to its owner and
    hides Edit from someone who may only read it."""
    owner = app.test_client()
    with app.app_context():
        from saas.accounts.models import User

        email = db.session.execute(
            select(User.email).where(User.id == org.user_ids["owner"])
        ).scalar_one()
    assert owner.post("/login", data={"email": email, "password": TEST_PASSWORD}).status_code == 302
    page = owner.get(f"/t/{org.slug}/roles/member/permissions")
    assert page.status_code == 200
    assert 'data-object="vehicle"' in page.get_data(as_text=True)
    form = {f"{key}.{a}": "1" for key in OBJECTS for a in ("view", "create", "edit", "delete")}
    form |= {"account.data_scope": "team", "vehicle.export": "1"}
    saved = owner.post(f"/t/{org.slug}/roles/member/permissions", data=form)
    assert saved.status_code == 302
    body = _api(app, org, "owner")("get", "/roles/member/permissions").get_json()
    rows = {r["object_key"]: r for r in body["objects"]}
    assert rows["account"]["data_scope"] == "team" and not rows["account"]["export"]
    assert rows["vehicle"]["export"] and rows["opportunity"]["data_scope"] is None
    bad = owner.post(f"/t/{org.slug}/roles/member/permissions", data={"account.edit": "1"})
    assert bad.status_code == 400
    assert "must be able to view" in bad.get_data(as_text=True)

    record = org.records["account"]["owner"]
    detail = owner.get(f"/t/{org.slug}/o/account/{record}").get_data(as_text=True)
    assert 'data-testid="share-record"' in detail
    sharing = owner.post(
        f"/t/{org.slug}/o/account/{record}/sharing",
        data={"target": f"user:{org.user_ids['outsider']}", "access": "read"},
    )
    assert sharing.status_code == 302
    listed = owner.get(f"/t/{org.slug}/o/account/{record}/sharing").get_data(as_text=True)
    assert 'data-testid="shares"' in listed and "outsider" in listed
    _set(app, org, "member", {"account": _rights("member", "own")})
    outsider = app.test_client()
    with app.app_context():
        email = db.session.execute(
            select(User.email).where(User.id == org.user_ids["outsider"])
        ).scalar_one()
    outsider.post("/login", data={"email": email, "password": TEST_PASSWORD})
    seen = outsider.get(f"/t/{org.slug}/o/account/{record}").get_data(as_text=True)
    assert 'data-testid="record-name"' in seen
    assert f"/o/account/{record}/edit" not in seen
    assert 'data-testid="share-record"' not in seen
    assert outsider.get(f"/t/{org.slug}/o/account/{record}/edit").status_code == 403


def test_a_read_share_refuses_every_workflow_change(app, org):
    """Shared to read only, a colleague's quote, contract and customer open for the member, but
    no command changes them: quote lines and submission, contract payments and activation, the
    pool release, a merge, and an import that would update them."""
    for role in ("member", "manager"):
        _set(
            app, org, role, {key: _rights(role, "own") for key in ("account", "quote", "contract")}
        )
    owner, peer, rep = _api(app, org, "owner"), _api(app, org, "peer"), _api(app, org, "rep")
    quote = owner(
        "post", "/records/quote", json={"name": "Peer's quote", "owner_id": org.user_ids["peer"]}
    ).get_json()
    contract = owner(
        "post",
        "/records/contract",
        json={
            "name": "Peer's contract",
            "owner_id": org.user_ids["peer"],
            "amount": {"amount": "1000", "currency": "CNY"},
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
        },
    ).get_json()
    assert owner("post", f"/contracts/{contract['id']}/submit", json={}).status_code == 200
    assert owner("post", f"/contracts/{contract['id']}/approve", json={}).status_code == 200
    customer = org.records["account"]["peer"]
    for object_key, record_id in (
        ("quote", quote["id"]),
        ("contract", contract["id"]),
        ("account", customer),
    ):
        shared = peer(
            "post",
            f"/records/{object_key}/{record_id}/shares",
            json={"user_id": org.user_ids["rep"], "access": "read"},
        )
        assert shared.status_code == 201, shared.get_json()
        assert rep("get", f"/records/{object_key}/{record_id}").status_code == 200

    lines = {"lines": [{"name": "Widget", "quantity": "1", "unit_price": "10"}], "header": {}}
    refused = rep(
        "put",
        f"/quotes/{quote['id']}/lines",
        json=lines,
        headers={"If-Match": f'"v{quote["version"]}"'},
    )
    assert refused.status_code == 403, refused.get_json()
    assert rep("post", f"/quotes/{quote['id']}/submit", json={}).status_code == 403
    paid = rep(
        "post",
        f"/contracts/{contract['id']}/payments",
        json={"amount": "10", "received_on": "2026-02-01"},
    )
    assert paid.status_code == 403, paid.get_json()
    assert rep("post", f"/contracts/{contract['id']}/activate", json={}).status_code == 403
    mgr = _api(app, org, "mgr")
    shared = peer(
        "post",
        f"/records/account/{customer}/shares",
        json={"user_id": org.user_ids["mgr"], "access": "read"},
    )
    assert shared.status_code == 201
    released = mgr("post", f"/accounts/{customer}/release", json={"reason": "not mine"})
    assert released.status_code == 403, released.get_json()
    assert "read only" in released.get_json()["message"]
    mine = org.records["account"]["rep"]
    versions = {
        str(i): rep("get", f"/records/account/{i}").get_json()["version"] for i in (mine, customer)
    }
    merged = rep(
        "post",
        "/records/account/merge",
        json={"survivor": mine, "others": [customer], "expected_versions": versions},
    )
    assert merged.status_code == 403, merged.get_json()
    assert "read only" in merged.get_json()["message"]
    assert rep("get", f"/records/account/{customer}").status_code == 200  # still there
    # Nothing changed on any of them.
    assert owner("get", f"/quotes/{quote['id']}/lines").get_json()["lines"] == []
    assert owner("get", f"/records/contract/{contract['id']}").get_json()["status"] == "signed"
    assert (
        owner("get", f"/records/account/{customer}").get_json()["owner_id"]
        == (org.user_ids["peer"])
    )


def test_a_pdf_is_read_by_its_maker_not_by_colleagues(app, org, drain_jobs):
    """A PDF holds what its maker could see: a colleague of the same role gets a 404 for it and
    makes their own; owners and administrators read every one."""
    for role in ("member", "manager"):
        _set(app, org, role, {"account": _rights(role, "all")})
    rep, peer, owner = _api(app, org, "rep"), _api(app, org, "peer"), _api(app, org, "owner")
    customer = org.records["account"]["rep"]
    started = rep("post", f"/records/account/{customer}/pdf", json={})
    assert started.status_code == 202, started.get_json()
    drain_jobs()
    status = rep("get", f"/jobs/{started.get_json()['id']}").get_json()
    assert status["status"] == "succeeded", status
    link = status["links"]["document"].split(f"/api/v1/t/{org.slug}", 1)[1]
    assert rep("get", link).status_code == 200
    assert owner("get", link).status_code == 200
    assert peer("get", link).status_code == 404
    assert peer("get", f"/records/account/{customer}/documents").get_json() == []
    assert len(rep("get", f"/records/account/{customer}/documents").get_json()) == 1


def test_no_notice_names_a_record_to_a_role_that_cannot_view_its_object(app, org):
    from tenants import services
    from tenants.notifications import Notification

    _set(
        app,
        org,
        "member",
        {
            "vehicle": _rights(
                "member", None, view=False, create=False, edit=False, delete=False, export=False
            )
        },
    )
    record = org.records["vehicle"]["owner"]
    shared = _api(app, org, "owner")(
        "post", f"/records/vehicle/{record}/shares", json={"user_id": org.user_ids["peer"]}
    )
    assert shared.status_code == 201, shared.get_json()
    assert _api(app, org, "peer")("get", f"/records/vehicle/{record}").status_code == 404
    with app.app_context():
        tenant = services.tenant_by_slug(org.slug)
        with tenant_context(tenant.id, db.session):
            notices = db.session.execute(
                select(Notification.id).where(
                    Notification.user_id == org.user_ids["peer"],
                    Notification.object_key == "vehicle",
                )
            ).all()
    assert notices == []
    _set(app, org, "member", {"vehicle": _rights("member", None)})
