"""Who sees what: data scope by role (own, team, team and below, over a team tree) in lists,
single records and exports; field access (hidden fields cannot be filtered, sorted or asked
for); filters and sorts across a lookup (``employer.band``); other companies never appear."""

from __future__ import annotations

from typing import Any

import pytest

from tests.query.conftest import TokenClient, new_member, run_direct, run_sql, signup


class Org:
    """A company with a team tree T1 > T2 > T3, a separate T4, and a member without a team.

    Every person owns one account named after them (``acc-<person>``) and one contact linked to
    the account ``acc-owner`` (``con-<person>``).
    """

    def __init__(self, app: Any):
        self.app = app
        self.tenant_id, self.slug, self.owner, token = signup(app, "Org")
        self.client = TokenClient(app, token)
        self.base = f"/api/v1/t/{self.slug}"
        self.add_field("account", key="band", type="picklist", label="G", values=["A", "B"])
        self.add_field("account", key="staff", type="integer", label="Staff")
        self.add_field("account", key="secret", type="text", label="Secret")
        self.add_field("account", key="locked", type="text", label="Locked")
        self.add_field("account", key="regions", type="multi_picklist", label="R", values=["n"])
        self.add_field("contact", key="employer", type="lookup", label="Acc", target="account")
        self.add_field("contact", key="shadow", type="lookup", label="Sh", target="account")
        for key, level in (("secret", "hidden"), ("locked", "read_only")):
            response = self.client.put(
                f"{self.base}/objects/account/fields/{key}/access",
                json={"member": level, "manager": level},
            )
            assert response.status_code == 200, response.get_json()
        response = self.client.put(
            f"{self.base}/objects/contact/fields/shadow/access", json={"member": "hidden"}
        )
        assert response.status_code == 200, response.get_json()
        teams = {}
        for name, parent in (("T1", None), ("T2", "T1"), ("T3", "T2"), ("T4", None)):
            (row,) = run_sql(
                app,
                self.tenant_id,
                "INSERT INTO teams (tenant_id, name, parent_id) VALUES (:t, :n, :p) RETURNING id",
                t=self.tenant_id,
                n=name,
                p=teams.get(parent),
            )
            teams[name] = row[0]
        self.people: dict[str, int] = {"owner": self.owner}
        self.clients: dict[str, TokenClient] = {"owner": self.client}
        for person, role, team in (
            ("mgr", "manager", "T1"),
            ("b", "member", "T2"),
            ("b2", "member", "T2"),
            ("c", "member", "T3"),
            ("d", "member", "T4"),
            ("e", "member", None),
            ("ro", "read_only", "T2"),
        ):
            user_id, raw = new_member(app, self.tenant_id, role, name=person)
            self.people[person] = user_id
            self.clients[person] = TokenClient(app, raw)
            if team:
                run_sql(
                    app,
                    self.tenant_id,
                    "UPDATE memberships SET team_id = :team WHERE user_id = :user",
                    team=teams[team],
                    user=user_id,
                )
        self.ids: dict[str, int] = {}
        for person, user_id in self.people.items():
            if person == "ro":
                continue
            values = {"band": "A", "staff": 5} if person == "owner" else {"band": "B"}
            self.ids[f"acc-{person}"] = self.add("account", f"acc-{person}", user_id, **values)
        for person, user_id in self.people.items():
            if person == "ro":
                continue
            self.ids[f"con-{person}"] = self.add(
                "contact", f"con-{person}", user_id, employer=self.ids["acc-owner"]
            )

    def add_field(self, object_key: str, **payload: Any) -> None:
        response = self.client.post(f"{self.base}/objects/{object_key}/fields", json=payload)
        assert response.status_code == 201, response.get_json()

    def add(self, object_key: str, name: str, owner: int, **values: Any) -> int:
        body = {"name": name, "owner_id": owner, **values}
        response = self.client.post(f"{self.base}/records/{object_key}", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def scope(self, **scopes: str) -> None:
        """Set roles' data scope (the others see everything)."""
        for role in ("owner", "admin", "manager", "member", "read_only"):
            run_sql(
                self.app,
                self.tenant_id,
                "UPDATE roles SET data_scope = :s WHERE key = :k",
                s=scopes.get(role, "all"),
                k=role,
            )

    def names(self, person: str, object_key: str = "account", **body: Any) -> set[str]:
        body.setdefault("limit", 1000)
        response = run_direct(self.app, self.tenant_id, self.people[person], object_key, body=body)
        assert response.status_code == 200, response.get_json()
        return {r["name"] for r in response.get_json()["data"]}

    def status(self, person: str, object_key: str = "account", **body: Any) -> Any:
        return run_direct(self.app, self.tenant_id, self.people[person], object_key, body=body)


@pytest.fixture(scope="module")
def org(app) -> Org:
    return Org(app)


@pytest.fixture
def scoped(org):
    yield org
    org.scope()


ALL_ACCOUNTS = {"acc-owner", "acc-mgr", "acc-b", "acc-b2", "acc-c", "acc-d", "acc-e"}


def accs(names: set[str]) -> set[str]:
    """The people's own accounts among ``names`` (other tests add accounts of their own)."""
    return {n for n in names if n.startswith("acc-")}


# ---- data scope ----------------------------------------------------------------------------------


def test_everyone_sees_everything_by_default(org):
    for person in ("owner", "b", "ro", "e"):
        assert accs(org.names(person)) == ALL_ACCOUNTS


def test_own_scope_everywhere(scoped, app):
    org = scoped
    org.scope(member="own")
    assert org.names("b") == {"acc-b"}
    assert org.names("e", "contact") == {"con-e"}
    assert accs(org.names("mgr")) == ALL_ACCOUNTS  # managers keep "all"
    b = org.clients["b"]
    listing = b.get(f"{org.base}/records/account").get_json()
    assert [r["name"] for r in listing["data"]] == ["acc-b"] and listing["count"] == 1
    query = b.post(f"{org.base}/records/account/query", json={"filter": None}).get_json()
    assert [r["name"] for r in query["data"]] == ["acc-b"] and query["count"] == 1
    other = org.ids["acc-c"]
    assert b.get(f"{org.base}/records/account/{other}").status_code == 404
    assert b.get(f"{org.base}/records/account/{org.ids['acc-b']}").status_code == 200
    patch = b.patch(
        f"{org.base}/records/account/{other}", json={"staff": 1}, headers={"If-Match": '"v1"'}
    )
    assert patch.status_code == 404
    assert b.delete(f"{org.base}/records/account/{other}").status_code == 404
    # a filter naming another person's record by id finds nothing
    assert org.names("b", filter={"field": "id", "op": "eq", "value": other}) == set()
    # the paths that read through the record store (web lists, exports)
    from flask import g

    from custom_fields.query import engine
    from saas.extensions import db
    from saas.records import services
    from tenants import services as tenant_services
    from tenants.context import tenant_context

    with app.test_request_context(), tenant_context(org.tenant_id, db.session, org.people["b"]):
        g.membership = tenant_services.membership(org.people["b"])
        rows, _cursor = services.list_records("account")
        assert [r.name for r in rows] == ["acc-b"]
        with pytest.raises(Exception) as caught:
            services.get_record("account", other)
        assert getattr(caught.value, "status", None) == 404
        st = services.store("account")
        spec = engine.QuerySpec(sort=[engine.SortKey("name")])
        exported = engine.iterate(st.schema, g.membership, spec, timezone="UTC", batch=2)
        assert [r.name for r in exported] == ["acc-b"]
        everyone = services.store("account", None)  # system work: no scope
        names = {r.name for r in db.session.execute(everyone.query()).scalars()}
        assert accs(names) == ALL_ACCOUNTS


def test_team_scope(scoped):
    org = scoped
    org.scope(member="team", read_only="team")
    assert org.names("b") == {"acc-b", "acc-b2"}  # T2
    assert org.names("ro") == {"acc-b", "acc-b2"}  # read-only role, also in T2
    assert org.names("c") == {"acc-c"}  # T3 alone: the team, not the teams below
    assert org.names("d") == {"acc-d"}
    assert org.names("e") == {"acc-e"}  # no team: their own records
    assert org.names("b", "contact") == {"con-b", "con-b2"}
    org.scope(manager="team")
    assert org.names("mgr") == {"acc-mgr"}


def test_team_and_below_scope(scoped):
    org = scoped
    org.scope(manager="team_and_below", member="team_and_below")
    assert org.names("mgr") == {"acc-mgr", "acc-b", "acc-b2", "acc-c"}  # T1, T2, T3
    assert org.names("b") == {"acc-b", "acc-b2", "acc-c"}  # T2, T3
    assert org.names("c") == {"acc-c"}
    assert org.names("d") == {"acc-d"}
    assert org.names("e") == {"acc-e"}
    assert accs(org.names("owner")) == ALL_ACCOUNTS


def test_user_operators_follow_the_team_tree(org):
    def who(person: str, op: str, field: str = "owner_id") -> set[str]:
        return org.names(person, filter={"field": field, "op": op})

    assert who("b", "is_me") == {"acc-b"}
    assert accs(who("b", "is_not_me")) == ALL_ACCOUNTS - {"acc-b"}
    assert who("b", "in_my_team") == {"acc-b", "acc-b2"}
    assert who("b", "in_my_team_and_below") == {"acc-b", "acc-b2", "acc-c"}
    assert who("mgr", "in_my_team") == {"acc-mgr"}
    assert who("mgr", "in_my_team_and_below") == {"acc-mgr", "acc-b", "acc-b2", "acc-c"}
    assert who("e", "in_my_team") == {"acc-e"}
    assert who("d", "in_my_team_and_below") == {"acc-d"}
    assert who("b", "is_me", "created_by") == set()  # the owner created them all
    assert accs(who("owner", "is_me", "created_by")) == ALL_ACCOUNTS


def test_lookup_targets_outside_the_scope_tell_nothing(scoped):
    org = scoped
    contacts = {"field": "name", "op": "starts_with", "value": "con-"}
    through = {"and": [contacts, {"field": "employer.band", "op": "eq", "value": "A"}]}
    everyone = {f"con-{p}" for p in org.people if p != "ro"}
    assert org.names("b", "contact", filter=through) == everyone
    org.scope(member="own")
    # b sees con-b, whose account (acc-owner) b may not see: no band to match, no name to sort
    assert org.names("b", "contact") == {"con-b"}
    assert org.names("b", "contact", filter=through) == set()
    negative = {"field": "employer.band", "op": "ne", "value": "A"}
    assert org.names("b", "contact", filter=negative) == {"con-b"}
    named = {"field": "employer.name", "op": "starts_with", "value": "acc"}
    assert org.names("b", "contact", filter=named) == set()
    assert org.names("b", "contact", filter={"field": "employer", "op": "is_not_empty"}) == {
        "con-b"
    }


# ---- field access ------------------------------------------------------------------------------


def _error(response: Any) -> tuple[str, str]:
    body = response.get_json()
    assert response.status_code == 400, body
    (key,) = body["errors"]
    return key, body["errors"][key][0]


def test_hidden_fields_cannot_be_filtered_sorted_or_shown(org):
    hidden = {"field": "secret", "op": "eq", "value": "x"}
    for person in ("b", "mgr"):
        assert _error(org.status(person, filter=hidden)) == (
            "filter",
            "filter: There is no field “secret”.",
        )
        assert _error(org.status(person, sort=[{"field": "secret"}]))[0] == "sort"
        assert _error(org.status(person, columns=["name", "secret"]))[0] == "columns"
        through = {"field": "employer.secret", "op": "is_empty"}
        assert _error(org.status(person, "contact", filter=through))[0] == "filter"
        through_sort = [{"field": "employer.secret"}]
        assert _error(org.status(person, "contact", sort=through_sort))[0] == "sort"
        records = org.status(person).get_json()["data"]
        assert records and all("secret" not in r for r in records)
    # a hidden lookup hides the path through it
    assert _error(org.status("b", "contact", filter={"field": "shadow.band", "op": "is_empty"}))
    assert _error(org.status("b", "contact", filter={"field": "shadow", "op": "is_empty"}))
    assert (
        org.status("mgr", "contact", filter={"field": "shadow", "op": "is_empty"}).status_code
        == 200
    )
    # the URL form and the API over HTTP
    b = org.clients["b"]
    response = b.get(f"{org.base}/records/account", query_string={"f": "secret:is_empty"})
    assert _error(response)[0] == "filter"
    response = b.get(f"{org.base}/records/account", query_string={"sort": "-secret"})
    assert _error(response)[0] == "sort"
    response = b.get(f"{org.base}/records/account", query_string={"columns": "name,secret"})
    assert _error(response)[0] == "columns"
    # owners and admins see every field
    assert accs(org.names("owner", filter={"field": "secret", "op": "is_empty"})) == ALL_ACCOUNTS


def test_read_only_fields_can_be_filtered_sorted_and_shown(org):
    assert accs(org.names("b", filter={"field": "locked", "op": "is_empty"})) == ALL_ACCOUNTS
    response = org.status("b", sort=[{"field": "locked"}], columns=["name", "locked"])
    assert response.status_code == 200
    assert all(set(r) == {"id", "version", "name", "locked"} for r in response.get_json()["data"])


def test_columns(org):
    response = org.status("owner", columns=["name", "band", "owner_id", "tags"])
    record = response.get_json()["data"][0]
    assert set(record) == {"id", "version", "name", "band", "owner_id", "tags"}
    response = org.status("owner", columns=["id", "version", "created_at"])
    assert set(response.get_json()["data"][0]) == {"id", "version", "created_at"}
    assert _error(org.status("owner", columns=["nope"]))[0] == "columns"
    assert _error(org.status("owner", "contact", columns=["employer.band"]))[0] == "columns"
    assert _error(org.status("owner", columns=5))[0] == "columns"
    assert _error(org.status("owner", columns=[["name"]]))[0] == "columns"
    response = org.clients["owner"].get(
        f"{org.base}/records/account", query_string={"columns": "name, band"}
    )
    assert set(response.get_json()["data"][0]) == {"id", "version", "name", "band"}


# ---- across a lookup -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def links(org):
    """Contacts pointing at accounts of band A, B, none, a deleted one, and none at all."""
    o = org.owner
    a_grade = org.add("account", "link-a", o, band="A", staff=10)
    b_grade = org.add("account", "link-b", o, band="B", staff=1)
    no_grade = org.add("account", "link-none", o)
    gone = org.add("account", "link-gone", o, band="A")
    ids = {
        "x-a": org.add("contact", "x-a", o, employer=a_grade),
        "x-b": org.add("contact", "x-b", o, employer=b_grade),
        "x-none": org.add("contact", "x-none", o, employer=no_grade),
        "x-gone": org.add("contact", "x-gone", o, employer=gone),
        "x-empty": org.add("contact", "x-empty", o),
    }
    assert org.client.delete(f"{org.base}/records/account/{gone}").status_code == 204
    return ids


def x(org: Org, **body: Any) -> list[str]:
    body.setdefault("filter", {"field": "name", "op": "starts_with", "value": "x-"})
    response = run_direct(org.app, org.tenant_id, org.owner, "contact", body={**body, "limit": 100})
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["data"]]


def both(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"and": [{"field": "name", "op": "starts_with", "value": "x-"}, *conditions]}


def test_filter_through_a_lookup(org, links):
    def where(field: str, op: str, value: Any = None) -> set[str]:
        condition = {"field": field, "op": op, **({} if value is None else {"value": value})}
        return set(x(org, filter=both(condition)))

    assert where("employer.band", "eq", "A") == {"x-a"}  # the deleted account does not count
    assert where("employer.band", "ne", "A") == {"x-b", "x-none", "x-gone", "x-empty"}
    assert where("employer.band", "in", ["A", "B"]) == {"x-a", "x-b"}
    assert where("employer.band", "is_empty") == {"x-none", "x-gone", "x-empty"}
    assert where("employer.staff", "gt", 5) == {"x-a"}
    assert where("employer.staff", "lte", 5) == {"x-b"}
    assert where("employer.name", "contains", "LINK-") == {"x-a", "x-b", "x-none"}
    assert where("employer.owner_id", "is_me") == {"x-a", "x-b", "x-none"}
    assert where("employer.created_at", "last_n_days", 2) == {"x-a", "x-b", "x-none"}
    assert where("employer", "is_not_empty") == {"x-a", "x-b", "x-none", "x-gone"}
    assert where("employer", "eq", org_id(org, "link-a")) == {"x-a"}
    assert set(
        x(org, filter=both({"not": {"field": "employer.band", "op": "eq", "value": "A"}}))
    ) == {
        "x-b",
        "x-none",
        "x-gone",
        "x-empty",
    }
    # the URL form takes paths too
    response = run_direct(
        org.app,
        org.tenant_id,
        org.owner,
        "contact",
        args=[("f", "employer.band:eq:A"), ("f", "name:starts_with:x-")],
    )
    assert [r["name"] for r in response.get_json()["data"]] == ["x-a"]


def org_id(org: Org, name: str) -> int:
    response = run_direct(
        org.app,
        org.tenant_id,
        org.owner,
        "account",
        body={"filter": {"field": "name", "op": "eq", "value": name}},
    )
    (record,) = response.get_json()["data"]
    return record["id"]


def test_sort_by_a_lookup_and_through_it(org, links):
    # by the linked record's name; empty (and deleted) links are empty values
    assert x(org, sort=[{"field": "employer"}, {"field": "name"}]) == [
        "x-empty",
        "x-gone",
        "x-a",
        "x-b",
        "x-none",
    ]
    assert x(org, sort=[{"field": "employer", "dir": "desc"}, {"field": "name"}]) == [
        "x-none",
        "x-b",
        "x-a",
        "x-empty",
        "x-gone",
    ]
    assert x(org, sort=[{"field": "employer.band", "dir": "desc"}, {"field": "name"}]) == [
        "x-b",
        "x-a",
        "x-empty",
        "x-gone",
        "x-none",
    ]
    assert x(org, sort=[{"field": "employer.staff", "nulls": "last"}, {"field": "name"}]) == [
        "x-b",
        "x-a",
        "x-empty",
        "x-gone",
        "x-none",
    ]


@pytest.mark.parametrize(
    "field",
    [
        "employer.main.name",
        "employer.regions",
        "employer.tags",
        "employer.nope",
        "nope.band",
        "name.x",
    ],
)
def test_paths_that_do_not_exist(org, field):
    assert _error(org.status("owner", "contact", filter={"field": field, "op": "is_empty"}))


def test_custom_objects_both_ways(org):
    response = org.client.post(
        f"{org.base}/objects",
        json={"key": "project", "label": "Project", "plural": "Projects"},
    )
    assert response.status_code == 201, response.get_json()
    org.add_field("project", key="status", type="picklist", label="S", values=["open", "done"])
    org.add_field("project", key="account", type="lookup", label="A", target="account")
    org.add_field("account", key="main", type="lookup", label="M", target="project")
    acc_a = org.add("account", "proj-acc-a", org.owner, band="A")
    acc_b = org.add("account", "proj-acc-b", org.owner, band="B")
    p1 = org.add("project", "p1", org.owner, status="open", account=acc_a)
    org.add("project", "p2", org.owner, status="done", account=acc_b)
    response = org.client.patch(
        f"{org.base}/records/account/{acc_b}", json={"main": p1}, headers={"If-Match": '"v1"'}
    )
    assert response.status_code == 200, response.get_json()
    assert org.names(
        "owner", "project", filter={"field": "account.band", "op": "eq", "value": "A"}
    ) == {"p1"}
    assert org.names("owner", filter={"field": "main.status", "op": "eq", "value": "open"}) == {
        "proj-acc-b"
    }
    assert org.names("owner", filter={"field": "main.name", "op": "eq", "value": "p1"}) == {
        "proj-acc-b"
    }
    assert _error(org.status("owner", filter={"field": "main.account.band", "op": "is_empty"}))


# ---- other companies ---------------------------------------------------------------------------


def test_other_companies_never_appear(app, org):
    _tenant, other_slug, _owner, other_token = signup(app, "Other")
    other = TokenClient(app, other_token)
    response = other.post(
        f"/api/v1/t/{other_slug}/objects/account/fields",
        json={"key": "band", "type": "picklist", "label": "G", "values": ["A", "B"]},
    )
    assert response.status_code == 201
    theirs = []
    for i in range(3):
        response = other.post(
            f"/api/v1/t/{other_slug}/records/account",
            json={"name": f"acc-owner theirs {i}", "band": "A"},
        )
        theirs.append(response.get_json()["id"])
    mine = org.names("owner", filter={"field": "name", "op": "contains", "value": "theirs"})
    assert mine == set()
    assert org.names("owner", filter={"field": "id", "op": "in", "value": theirs}) == set()
    assert org.names("owner", q="theirs") == set()
    for record_id in theirs:
        response = org.client.get(f"{org.base}/records/account/{record_id}")
        assert response.status_code == 404
    # a link forced to point into the other company resolves to nothing
    run_sql(
        app,
        org.tenant_id,
        "UPDATE contacts SET data = jsonb_set(data, '{employer}', to_jsonb(CAST(:id AS bigint)))"
        " WHERE name = 'con-e'",
        id=theirs[0],
    )
    assert "con-e" not in org.names(
        "owner", "contact", filter={"field": "employer.band", "op": "eq", "value": "A"}
    )
    assert (
        org.names(
            "owner",
            "contact",
            filter={"field": "employer.name", "op": "contains", "value": "theirs"},
        )
        == set()
    )
    ordered = run_direct(
        app,
        org.tenant_id,
        org.owner,
        "contact",
        body={
            "filter": {"field": "name", "op": "starts_with", "value": "con-"},
            "sort": [{"field": "employer", "dir": "desc"}, {"field": "name"}],
        },
    )
    names = [r["name"] for r in ordered.get_json()["data"]]
    assert names[-1] == "con-e"  # its link names nothing: an empty value, last going down
    # their query over the same words sees only theirs
    body = other.post(f"/api/v1/t/{other_slug}/records/account/query", json={}).get_json()
    assert {r["name"] for r in body["data"]} == {f"acc-owner theirs {i}" for i in range(3)}
    # and their token cannot read here
    assert other.post(f"{org.base}/records/account/query", json={}).status_code == 401
