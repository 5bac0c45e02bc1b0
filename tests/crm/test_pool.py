"""Customer ownership and the public pool: claim, release, assign, the owner cap, the reclaim
cooldown, concurrent claims, the daily sweep on a moving clock (return after N days without
activity, activities restarting the window, exempt stages, the review flag), notifications,
audit, data scope, two tenants, the settings, the web pages, and the periodic schedule."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import select, update

from saas.crm import pool
from saas.errors import DomainError
from saas.extensions import db
from saas.records.models import Account
from tenants import notifications
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import AuditEvent

DAY = timedelta(days=1)


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


class Crm:
    """A company with an owner (admin), a manager and two salespeople, each with a token."""

    def __init__(self, app, company, api, add_member):
        self.app = app
        self.company = company
        self.slug = company.slug
        self.tid = company.tenant_id
        self.owner = api(company.token)
        self.owner_id = company.owner_id
        self.manager_id = add_member(company, "manager").id
        self.alice_id = add_member(company, "member").id
        self.bob_id = add_member(company, "member").id
        self.manager = api(_token(app, company, self.manager_id))
        self.alice = api(_token(app, company, self.alice_id))
        self.bob = api(_token(app, company, self.bob_id))

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def create(self, client=None, expect: int = 201, **body) -> dict:
        body.setdefault("name", "Customer")
        response = (client or self.alice).post(self.url("/records/account"), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def post(self, client, path: str, expect: int = 200, **body) -> dict:
        response = client.post(self.url(path), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def settings(self, **values) -> dict:
        response = self.owner.patch(self.url("/settings"), json=values)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def row(self, account_id: int) -> Account:
        with self.app.app_context(), tenant_context(self.tid, db.session):
            account = db.session.get(Account, (self.tid, account_id))
            db.session.expunge(account)
            return account

    def age(self, account_id: int, days: int) -> None:
        """Move a customer's dates ``days`` into the past, as if created then."""
        with self.app.app_context(), tenant_context(self.tid, db.session):
            shift = timedelta(days=days)
            db.session.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(
                    created_at=Account.created_at - shift,
                    owned_since=Account.owned_since - shift,
                    last_activity_at=Account.last_activity_at - shift,
                )
            )
            db.session.commit()

    def events(self, account_id: int) -> list[tuple]:
        with self.app.app_context(), tenant_context(self.tid, db.session):
            rows = db.session.execute(
                select(pool.PoolEvent)
                .where(pool.PoolEvent.account_id == account_id)
                .order_by(pool.PoolEvent.id)
            ).scalars()
            return [(e.kind, e.user_id, e.from_owner_id, e.to_owner_id, e.reason) for e in rows]

    def audits(self, action: str, account_id: int) -> list[AuditEvent]:
        with self.app.app_context(), tenant_context(self.tid, db.session):
            rows = db.session.execute(
                select(AuditEvent).where(
                    AuditEvent.action == action, AuditEvent.target_id == str(account_id)
                )
            ).scalars()
            return [(e.actor_user_id, e.before, e.after) for e in rows]

    def notes(self, client, **query) -> dict:
        response = client.get(self.url("/notifications"), query_string=query)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def sweep(self, now: datetime, **kwargs) -> pool.SweepResult:
        with self.app.app_context():
            return pool.sweep(self.tid, now, **kwargs)

    def as_member(self, user_id: int):
        """A block running service calls as a member (request context, tenant set)."""
        app, tid = self.app, self.tid

        class _Block:
            def __enter__(self_inner):
                self_inner.ctx = app.test_request_context()
                self_inner.ctx.push()
                self_inner.tenant = tenant_context(tid, db.session, user_id)
                self_inner.tenant.__enter__()
                return tenant_services.membership(user_id)

            def __exit__(self_inner, *exc):
                db.session.rollback()
                self_inner.tenant.__exit__(*exc)
                self_inner.ctx.pop()

        return _Block()


@pytest.fixture
def crm(app, make_company, api, add_member) -> Crm:
    return Crm(app, make_company(), api, add_member)


# ---- ownership on creation ------------------------------------------------------------------


def test_the_creator_owns_a_new_customer_and_admins_may_create_into_the_pool(crm):
    before = datetime.now(UTC)
    mine = crm.create(name="Mine")
    assert mine["owner_id"] == crm.alice_id
    row = crm.row(mine["id"])
    assert row.owned_since is not None and row.owned_since >= before - DAY
    assert row.pool_since is None

    pooled = crm.create(crm.owner, name="Nobody's", owner_id=None)
    assert pooled["owner_id"] is None
    row = crm.row(pooled["id"])
    assert row.pool_since is not None and row.owned_since is None

    # A salesperson cannot create a customer without owner.
    refused = crm.create(crm.alice, expect=400, name="Orphan", owner_id=None)
    assert "owner_id" in refused["errors"]


# ---- claim, release, assign -----------------------------------------------------------------


def test_release_claim_and_assign_with_events_audit_and_notifications(crm):
    account = crm.create(name="Acme 甲")
    aid = account["id"]

    missing = crm.post(crm.alice, f"/accounts/{aid}/release", expect=400, reason="   ")
    assert "reason" in missing["errors"]
    crm.post(crm.alice, f"/accounts/{aid}/release", expect=400, reason="x" * 501)
    # Another salesperson sees it (scope "all") but may not release it.
    crm.post(crm.bob, f"/accounts/{aid}/release", expect=403, reason="mine now")

    released = crm.post(crm.alice, f"/accounts/{aid}/release", reason="No budget this year")
    assert released["owner_id"] is None and released["pool_since"]
    assert released["version"] == account["version"] + 1
    crm.post(crm.alice, f"/accounts/{aid}/release", expect=409, reason="again")
    assert crm.notes(crm.alice)["unread"] == 0  # released by herself: nothing to tell

    listed = crm.alice.get(crm.url("/pool")).get_json()
    assert [a["id"] for a in listed["data"]] == [aid] and listed["count"] == 1

    claimed = crm.post(crm.bob, f"/pool/{aid}/claim")
    assert claimed["owner_id"] == crm.bob_id and claimed["pool_since"] is None
    assert claimed["last_activity_at"] and claimed["owned_since"]
    assert crm.post(crm.alice, f"/pool/{aid}/claim", expect=409)["message"]
    assert crm.post(crm.bob, f"/pool/{aid}/claim", expect=409)["message"]

    # A manager releases Bob's customer: Bob is told why, in his language.
    crm.post(crm.manager, f"/accounts/{aid}/release", reason="Handing over to key accounts")
    bob_notes = crm.notes(crm.bob)
    assert bob_notes["unread"] == 1
    note = bob_notes["data"][0]
    assert note["kind"] == "pool.released" and note["record_id"] == aid
    assert "Handing over to key accounts" in note["message"] and "Acme 甲" in note["message"]
    assert crm.notes(crm.alice)["data"] == []

    # Only managers and admins assign; the new owner is told.
    crm.post(crm.alice, f"/pool/{aid}/assign", expect=403, user_id=crm.alice_id)
    crm.post(crm.manager, f"/pool/{aid}/assign", expect=400, user_id=999_999_999)
    assigned = crm.post(crm.manager, f"/pool/{aid}/assign", user_id=crm.alice_id)
    assert assigned["owner_id"] == crm.alice_id
    assert [n["kind"] for n in crm.notes(crm.alice)["data"]] == ["pool.assigned"]
    crm.post(crm.manager, f"/pool/{aid}/assign", expect=409, user_id=crm.bob_id)

    assert crm.events(aid) == [
        ("release", crm.alice_id, crm.alice_id, None, "No budget this year"),
        ("claim", crm.bob_id, None, crm.bob_id, None),
        ("release", crm.manager_id, crm.bob_id, None, "Handing over to key accounts"),
        ("assign", crm.manager_id, None, crm.alice_id, None),
    ]
    assert crm.audits("pool.claimed", aid) == [
        (crm.bob_id, {"owner_id": None}, {"owner_id": crm.bob_id})
    ]
    releases = crm.audits("pool.released", aid)
    assert [(who, after["reason"]) for who, _b, after in releases] == [
        (crm.alice_id, "No budget this year"),
        (crm.manager_id, "Handing over to key accounts"),
    ]
    history = crm.alice.get(crm.url(f"/accounts/{aid}/ownership")).get_json()
    assert [e["kind"] for e in history["events"]] == ["assign", "release", "claim", "release"]


def test_notifications_are_readable_only_by_their_person(crm):
    aid = crm.create(crm.bob, name="Told")["id"]
    crm.post(crm.manager, f"/accounts/{aid}/release", reason="Reorganised")
    note = crm.notes(crm.bob)["data"][0]
    # Alice can neither see nor mark Bob's notification.
    assert crm.alice.post(crm.url(f"/notifications/{note['id']}/read")).status_code == 404
    assert crm.notes(crm.alice)["data"] == []
    assert crm.post(crm.alice, "/notifications/read-all")["marked"] == 0
    assert crm.notes(crm.bob)["unread"] == 1
    read = crm.post(crm.bob, f"/notifications/{note['id']}/read")
    assert read["read_at"]
    assert crm.notes(crm.bob)["unread"] == 0
    assert crm.notes(crm.bob, unread="true")["data"] == []
    assert len(crm.notes(crm.bob)["data"]) == 1


def test_notifications_store_kind_and_params_and_render_when_shown(app, crm):
    aid = crm.create(crm.bob, name="Lingo")["id"]
    crm.post(crm.manager, f"/accounts/{aid}/release", reason="因为")
    with app.test_request_context(), tenant_context(crm.tid, db.session):
        from flask_babel import force_locale

        row = notifications.page(crm.bob_id)[0][0]
        manager_name = tenant_services.membership(crm.manager_id).user.display_name
        assert row.params == {"name": "Lingo", "actor": manager_name, "reason": "因为"}
        with force_locale("en"):
            assert notifications.message(row) == (
                f"{manager_name} released your customer “Lingo” to the public pool: 因为"
            )
        row.kind = "some.unknown_kind"  # a kind nobody renders any more
        assert notifications.message(row) == "Notification"
        db.session.rollback()


# ---- the cap and the cooldown ---------------------------------------------------------------


def test_owner_cap_counts_live_customers_and_admins_may_override(crm):
    crm.settings(pool_owner_cap=2)
    first = crm.create(name="One")
    crm.create(name="Two")
    pooled = [crm.create(crm.owner, name=f"Pool {i}", owner_id=None)["id"] for i in range(3)]

    refused = crm.post(crm.alice, f"/pool/{pooled[0]}/claim", expect=409)
    assert "pool_owner_cap" in refused["errors"] and "2" in refused["message"]
    assert crm.row(pooled[0]).owner_id is None

    # The recycle bin does not count.
    assert crm.alice.delete(crm.url(f"/records/account/{first['id']}")).status_code == 204
    crm.post(crm.alice, f"/pool/{pooled[0]}/claim")

    capped = crm.post(crm.manager, f"/pool/{pooled[1]}/assign", expect=409, user_id=crm.alice_id)
    assert "pool_owner_cap" in capped["errors"]
    crm.post(
        crm.manager,
        f"/pool/{pooled[1]}/assign",
        expect=403,
        user_id=crm.alice_id,
        override_cap=True,
    )
    crm.post(crm.owner, f"/pool/{pooled[1]}/assign", user_id=crm.alice_id, override_cap=True)
    assert crm.row(pooled[1]).owner_id == crm.alice_id
    assert crm.audits("pool.assigned", pooled[1])[0][2]["override_cap"] is True

    # Taking a pool customer through a record edit follows the same rules.
    current = crm.alice.get(crm.url(f"/records/account/{pooled[2]}"))
    version = current.headers["ETag"]
    edit = crm.bob.patch(
        crm.url(f"/records/account/{pooled[2]}"),
        json={"owner_id": crm.bob_id},
        headers={"If-Match": version},
    )
    assert edit.status_code == 403, edit.get_json()
    edit = crm.manager.patch(
        crm.url(f"/records/account/{pooled[2]}"),
        json={"owner_id": crm.alice_id},
        headers={"If-Match": version},
    )
    assert edit.status_code == 409 and "pool_owner_cap" in edit.get_json()["errors"]


def test_reclaim_cooldown_on_a_moving_clock(crm):
    crm.settings(pool_reclaim_days=7)
    aid = crm.create(name="Boomerang")["id"]
    t0 = datetime.now(UTC)
    with crm.as_member(crm.alice_id) as alice:
        pool.release(alice, aid, "Not now", now=t0)
    refused = crm.post(crm.alice, f"/pool/{aid}/claim", expect=409)
    assert "pool_reclaim_days" in refused["errors"]
    with crm.as_member(crm.alice_id) as alice:
        with pytest.raises(DomainError) as caught:
            pool.claim(alice, aid, now=t0 + 6 * DAY)
        assert caught.value.status == 409
        assert pool.claim(alice, aid, now=t0 + 8 * DAY).owner_id == crm.alice_id
    # Losing it to the sweep starts the same cooldown; someone else may claim at once.
    crm.sweep(t0 + 100 * DAY)
    assert crm.row(aid).owner_id is None
    crm.post(crm.alice, f"/pool/{aid}/claim", expect=409)
    crm.post(crm.bob, f"/pool/{aid}/claim")


# ---- concurrency ----------------------------------------------------------------------------


def _grab(app, crm, user_id, account_id, barrier, outcomes) -> None:
    """Claim as ``user_id`` in a session of its own, starting together with the others."""
    with app.app_context(), tenant_context(crm.tid, db.session, user_id):
        actor = tenant_services.membership(user_id)
        db.session.commit()  # start from a fresh transaction, as a request would
        barrier.wait()
        try:
            outcomes[user_id] = pool.claim(actor, account_id).owner_id
        except DomainError as exc:
            outcomes[user_id] = exc.status
        finally:
            db.session.remove()


def test_two_people_claiming_at_once_get_one_winner(app, crm):
    people = (crm.alice_id, crm.bob_id)
    for _round in range(3):
        aid = crm.create(crm.owner, name="Contested", owner_id=None)["id"]
        barrier = threading.Barrier(2)
        outcomes: dict[int, object] = {}
        threads = [
            threading.Thread(target=_grab, args=(app, crm, u, aid, barrier, outcomes))
            for u in people
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        winners = [u for u, result in outcomes.items() if result == u]
        assert len(winners) == 1, outcomes
        loser = (set(people) - set(winners)).pop()
        assert outcomes[loser] == 409
        assert crm.row(aid).owner_id == winners[0]
        assert [e[0] for e in crm.events(aid)] == ["claim"]


# ---- the daily sweep ------------------------------------------------------------------------


def test_sweep_returns_inactive_customers_after_the_window(crm):
    t0 = datetime.now(UTC)
    stale = crm.create(name="Quiet")["id"]
    customer = crm.create(name="Signed", lifecycle_stage="customer")["id"]
    renewal = crm.create(name="Renewing", lifecycle_stage="renewal")["id"]
    lost = crm.create(name="Lost one", lifecycle_stage="lost")["id"]

    assert crm.sweep(t0 + 59 * DAY).returned == 0
    assert crm.row(stale).owner_id == crm.alice_id

    result = crm.sweep(t0 + 61 * DAY)
    assert result.returned == 2
    assert crm.row(stale).owner_id is None and crm.row(lost).owner_id is None
    assert crm.row(stale).pool_since == t0 + 61 * DAY
    assert crm.row(customer).owner_id == crm.alice_id  # exempt stages stay
    assert crm.row(renewal).owner_id == crm.alice_id
    assert crm.events(stale) == [("return", None, crm.alice_id, None, None)]
    assert crm.audits("pool.returned", stale) == [
        (None, {"owner_id": crm.alice_id}, {"owner_id": None, "days": 60})
    ]
    kinds = sorted((n["kind"], n["record_id"]) for n in crm.notes(crm.alice)["data"])
    assert kinds == sorted([("pool.returned", stale), ("pool.returned", lost)])
    assert "60 days" in crm.notes(crm.alice)["data"][0]["message"]

    # Idempotent: the same day again changes nothing.
    assert crm.sweep(t0 + 61 * DAY + timedelta(hours=3)).returned == 0
    assert len(crm.events(stale)) == 1 and len(crm.notes(crm.alice)["data"]) == 2

    # 0 turns returning off; the exempt stages are the company's choice.
    crm.settings(pool_return_days=0, pool_exempt_stages=["customer"])
    assert crm.sweep(t0 + 400 * DAY).returned == 0
    crm.settings(pool_return_days=60)
    assert crm.sweep(t0 + 400 * DAY).returned == 1
    assert crm.row(renewal).owner_id is None and crm.row(customer).owner_id == crm.alice_id


def test_activities_restart_the_window(crm, monkeypatch):
    t0 = datetime.now(UTC)
    aid = crm.create(name="Busy")["id"]
    other = crm.create(name="Idle")["id"]

    monkeypatch.setattr(pool, "utcnow", lambda: t0 + 50 * DAY)
    response = crm.alice.post(
        crm.url("/records/activity"), json={"name": "Visit", "account": aid, "type": "visit"}
    )
    assert response.status_code == 201, response.get_json()
    assert crm.row(aid).last_activity_at == t0 + 50 * DAY
    assert crm.row(aid).version == 1  # bookkeeping, not an edit of the customer

    assert crm.sweep(t0 + 61 * DAY).returned == 1  # only the idle one
    assert crm.row(aid).owner_id == crm.alice_id and crm.row(other).owner_id is None
    assert crm.sweep(t0 + 109 * DAY).returned == 0

    # Marking a planned activity done counts from when it was done (never from the future).
    planned = crm.alice.post(
        crm.url("/records/activity"),
        json={"name": "Call", "account": aid, "status": "planned"},
    ).get_json()
    assert crm.row(aid).last_activity_at == t0 + 50 * DAY  # created "on day 50" as well
    monkeypatch.setattr(pool, "utcnow", lambda: t0 + 105 * DAY)
    done_at = (t0 + 100 * DAY).isoformat()
    patched = crm.alice.patch(
        crm.url(f"/records/activity/{planned['id']}"),
        json={"status": "done", "done_at": done_at},
        headers={"If-Match": f'"v{planned["version"]}"'},
    )
    assert patched.status_code == 200, patched.get_json()
    assert abs(crm.row(aid).last_activity_at - (t0 + 100 * DAY)) < timedelta(seconds=1)
    assert crm.sweep(t0 + 159 * DAY).returned == 0
    assert crm.sweep(t0 + 161 * DAY).returned == 1
    assert crm.row(aid).owner_id is None


def test_review_flag_is_set_once_after_the_development_window(crm):
    crm.settings(pool_return_days=0)
    t0 = datetime.now(UTC)
    slow = crm.create(name="Slow", lifecycle_stage="intent")["id"]
    won = crm.create(name="Won", lifecycle_stage="customer")["id"]

    assert crm.sweep(t0 + 179 * DAY).flagged == 0
    assert crm.sweep(t0 + 181 * DAY).flagged == 1
    assert crm.row(slow).review_flagged_at == t0 + 181 * DAY
    assert crm.row(won).review_flagged_at is None
    assert crm.sweep(t0 + 200 * DAY).flagged == 0
    assert crm.row(slow).review_flagged_at == t0 + 181 * DAY
    notes = crm.notes(crm.alice)["data"]
    assert [(n["kind"], n["record_id"]) for n in notes] == [("pool.review", slow)]
    assert "180 days" in notes[0]["message"]
    assert [a[0] for a in crm.audits("pool.review_flagged", slow)] == [None]


@hypothesis.settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    return_days=st.integers(min_value=1, max_value=120),
    idle=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=150)),
)
def test_a_customer_returns_exactly_when_idle_longer_than_the_rule(crm, return_days, idle):
    crm.settings(pool_return_days=return_days)
    aid = crm.create(name="Property")["id"]
    started = crm.row(aid).owned_since
    crm.sweep(started + idle)
    assert (crm.row(aid).owner_id is None) == (idle > timedelta(days=return_days))


def test_sweep_works_in_batches(crm):
    t0 = datetime.now(UTC)
    ids = [crm.create(name=f"Old {i}")["id"] for i in range(5)]
    result = crm.sweep(t0 + 90 * DAY, batch=2)
    assert result.returned == 5
    assert all(crm.row(i).owner_id is None for i in ids)


# ---- scope and tenants ----------------------------------------------------------------------


def test_own_scope_salesperson_claims_what_she_could_not_open(crm):
    response = crm.owner.patch(crm.url("/roles/member"), json={"data_scope": "own"})
    assert response.status_code == 200, response.get_json()
    aid = crm.create(crm.bob, name="Bob's lead customer")["id"]
    assert crm.alice.get(crm.url(f"/records/account/{aid}")).status_code == 404
    assert crm.alice.get(crm.url(f"/accounts/{aid}/ownership")).status_code == 404
    crm.post(crm.alice, f"/accounts/{aid}/release", expect=404, reason="not hers")
    assert crm.alice.get(crm.url("/pool")).get_json()["data"] == []

    crm.post(crm.bob, f"/accounts/{aid}/release", reason="Too far away")
    assert [a["id"] for a in crm.alice.get(crm.url("/pool")).get_json()["data"]] == [aid]
    assert crm.alice.get(crm.url(f"/accounts/{aid}/ownership")).status_code == 200
    crm.post(crm.alice, f"/pool/{aid}/claim")
    assert crm.alice.get(crm.url(f"/records/account/{aid}")).status_code == 200
    assert crm.bob.get(crm.url(f"/records/account/{aid}")).status_code == 404


def test_two_tenants_never_share_a_pool(app, make_company, api, add_member):
    a = Crm(app, make_company(), api, add_member)
    b = Crm(app, make_company(), api, add_member)
    mine = a.create(a.owner, name="Alpha pool", owner_id=None)["id"]
    theirs = b.create(b.owner, name="Bravo pool secret", owner_id=None)["id"]
    page = a.alice.get(a.url("/pool")).get_json()
    assert [r["id"] for r in page["data"]] == [mine] and page["count"] == 1
    assert "Bravo pool secret" not in a.alice.get(a.url("/pool")).get_data(as_text=True)
    a.post(a.alice, f"/pool/{theirs}/claim", expect=404)
    a.post(a.owner, f"/pool/{theirs}/assign", expect=404, user_id=a.alice_id)
    a.post(a.owner, f"/accounts/{theirs}/release", expect=404, reason="x")
    assert b.row(theirs).owner_id is None
    # Each sweep touches its own company only.
    a_old = a.create(name="Alpha old")["id"]
    b_old = b.create(name="Bravo old")["id"]
    a.sweep(datetime.now(UTC) + 90 * DAY)
    assert a.row(a_old).owner_id is None and b.row(b_old).owner_id == b.alice_id


# ---- filters and settings -------------------------------------------------------------------


def test_pool_list_pages_and_filters(crm):
    ids = [
        crm.create(crm.owner, name=f"Pool {i}", owner_id=None, grade=g, region="east")["id"]
        for i, g in enumerate(["A", "B", "A", "C", "A"])
    ]
    first = crm.alice.get(crm.url("/pool"), query_string={"limit": 2}).get_json()
    assert [r["id"] for r in first["data"]] == ids[::-1][:2] and first["count"] == 5
    second = crm.alice.get(
        crm.url("/pool"), query_string={"limit": 2, "cursor": first["next_cursor"]}
    ).get_json()
    assert [r["id"] for r in second["data"]] == ids[::-1][2:4]
    graded = crm.alice.get(crm.url("/pool"), query_string={"grade": "A"}).get_json()
    assert [r["id"] for r in graded["data"]] == [ids[4], ids[2], ids[0]]
    assert graded["data"][0]["values"]["grade"] == "A"
    bad = crm.alice.get(crm.url("/pool"), query_string={"cursor": "nope"})
    assert bad.status_code == 400 and "cursor" in bad.get_json()["errors"]
    # A field hidden from the role can be neither shown nor filtered on.
    crm.owner.put(crm.url("/objects/account/fields/grade/access"), json={"member": "hidden"})
    hidden = crm.alice.get(crm.url("/pool"), query_string={"grade": "A"})
    assert hidden.status_code == 400 and "grade" in hidden.get_json()["errors"]
    assert "grade" not in crm.alice.get(crm.url("/pool")).get_json()["data"][0]["values"]


def test_settings_are_validated_and_audited(crm):
    defaults = crm.owner.get(crm.url("/settings")).get_json()
    assert (
        defaults["pool_return_days"],
        defaults["pool_owner_cap"],
        defaults["pool_review_days"],
        defaults["pool_exempt_stages"],
        defaults["pool_reclaim_days"],
    ) == (60, 0, 180, ["customer", "renewal"], 0)
    for body, field in (
        ({"pool_return_days": -1}, "pool_return_days"),
        ({"pool_owner_cap": 100_001}, "pool_owner_cap"),
        ({"pool_review_days": "ten"}, "pool_review_days"),
        ({"pool_exempt_stages": ["nope"]}, "pool_exempt_stages"),
        ({"pool_reclaim_days": 366}, "pool_reclaim_days"),
    ):
        response = crm.owner.patch(crm.url("/settings"), json=body)
        assert response.status_code == 400, body
        assert field in response.get_json()["errors"]
    assert crm.manager.patch(crm.url("/settings"), json={"pool_owner_cap": 5}).status_code == 403
    changed = crm.settings(pool_owner_cap=30, pool_exempt_stages=["customer", "intent"])
    assert changed["pool_owner_cap"] == 30
    assert changed["pool_exempt_stages"] == ["customer", "intent"]
    with crm.app.app_context(), tenant_context(crm.tid, db.session):
        event = (
            db.session.execute(
                select(AuditEvent)
                .where(AuditEvent.action == "tenant.settings_changed")
                .order_by(AuditEvent.id.desc())
            )
            .scalars()
            .first()
        )
        assert event.before["pool_owner_cap"] == 0 and event.after["pool_owner_cap"] == 30


# ---- web pages ------------------------------------------------------------------------------


def test_web_pool_page_claim_release_and_bell(crm, login, add_member):
    alice_email = _email(crm, crm.alice_id)
    bob_email = _email(crm, crm.bob_id)
    alice, bob = login(alice_email), login(bob_email)
    base = f"/t/{crm.slug}"

    empty = alice.get(f"{base}/pool")
    assert empty.status_code == 200 and 'data-testid="pool-empty"' in empty.get_data(as_text=True)
    assert 'data-testid="pool-link"' in empty.get_data(as_text=True)

    aid = crm.create(crm.owner, name="Web pool 网", owner_id=None)["id"]
    page = alice.get(f"{base}/pool").get_data(as_text=True)
    assert "Web pool 网" in page and f'action="/t/{crm.slug}/pool/{aid}/claim"' in page

    claimed = alice.post(f"{base}/pool/{aid}/claim")
    assert claimed.status_code == 302
    assert claimed.headers["Location"].endswith(f"/o/account/{aid}")
    detail = alice.get(f"{base}/o/account/{aid}").get_data(as_text=True)
    assert 'data-testid="release"' in detail and 'id="release-dialog"' in detail
    assert 'name="reason"' in detail and "required" in detail

    # Someone else's claim of the same customer: a clear message, not an error page.
    again = bob.post(f"{base}/pool/{aid}/claim", follow_redirects=True)
    assert again.status_code == 200
    assert "no longer in the pool" in again.get_data(as_text=True)

    no_reason = alice.post(f"{base}/pool/{aid}/release", data={"reason": ""})
    assert no_reason.status_code == 302 and crm.row(aid).owner_id == crm.alice_id
    manager = login(_email(crm, crm.manager_id))
    done = manager.post(f"{base}/pool/{aid}/release", data={"reason": "Rebalancing"})
    assert done.status_code == 302 and crm.row(aid).owner_id is None

    home = alice.get(f"{base}/pool").get_data(as_text=True)
    assert 'data-testid="unread-count">1<' in home
    listing = alice.get(f"{base}/notifications").get_data(as_text=True)
    assert "Rebalancing" in listing
    note_id = crm.notes(crm.alice)["data"][0]["id"]
    opened = alice.post(f"{base}/notifications/{note_id}/read", data={"open": "1"})
    assert opened.status_code == 302 and "/pool" in opened.headers["Location"]
    assert crm.notes(crm.alice)["unread"] == 0
    assert bob.post(f"{base}/notifications/{note_id}/read").status_code == 404

    # An admin creates a customer straight into the pool from the record form.
    owner = login(crm.company.owner_email)
    form = owner.get(f"{base}/o/account/new").get_data(as_text=True)
    assert 'value="pool"' in form
    created = owner.post(f"{base}/o/account/new", data={"name": "Form pool", "owner_id": "pool"})
    assert created.status_code == 302, created.get_data(as_text=True)[:500]
    names = [a.name for a in _pool_rows(crm)]
    assert "Form pool" in names


def test_web_settings_page_saves_the_pool_rules(crm, login):
    owner = login(crm.company.owner_email)
    url = f"/t/{crm.slug}/settings"
    page = owner.get(url).get_data(as_text=True)
    assert 'data-testid="pool-settings"' in page and 'value="renewal" checked' in page
    body = {
        "name": crm.company.name,
        "default_locale": "en",
        "timezone": "Asia/Shanghai",
        "currency": "CNY",
        "duplicate_policy": "warn",
        "pool_fields": "1",
        "pool_return_days": "30",
        "pool_owner_cap": "",
        "pool_review_days": "90",
        "pool_reclaim_days": "3",
        "pool_exempt_stages": ["renewal"],
    }
    saved = owner.post(url, data=body)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:800]
    settings = crm.owner.get(crm.url("/settings")).get_json()
    assert (settings["pool_return_days"], settings["pool_review_days"]) == (30, 90)
    assert settings["pool_exempt_stages"] == ["renewal"] and settings["pool_reclaim_days"] == 3
    assert settings["pool_owner_cap"] == 0  # left empty: unchanged
    bad = owner.post(url, data={**body, "pool_return_days": "-5"})
    assert bad.status_code == 400 and 'data-field="pool_return_days"' in bad.get_data(as_text=True)


def _email(crm: Crm, user_id: int) -> str:
    from saas.accounts.models import User

    with crm.app.app_context():
        return db.session.get(User, user_id).email


def _pool_rows(crm: Crm) -> list[Account]:
    with crm.app.app_context(), tenant_context(crm.tid, db.session):
        rows = db.session.execute(select(Account).where(Account.owner_id.is_(None))).scalars()
        return list(rows)


# ---- the periodic schedule ------------------------------------------------------------------


def test_the_schedule_queues_each_companys_sweep_once_a_day(app, crm, drain_jobs):
    from saas import jobs

    aid = crm.create(name="Forgotten")["id"]
    crm.age(aid, 70)
    with app.app_context():
        scheduler = jobs.cron_scheduler(name=f"test-{crm.slug}")
        queued = scheduler.enqueue_jobs()  # what the worker's schedule process does hourly
        ours = [j for j in queued if j.args == (None, "saas.crm.pool.schedule_sweeps", (), {})]
        assert [j.func_name for j in ours] == ["saas.jobs.run_tenant_job"]
    drain_jobs()  # the real worker: schedule_sweeps, then each company's sweep
    assert crm.row(aid).owner_id is None
    assert crm.events(aid) == [("return", None, crm.alice_id, None, None)]

    # A second schedule run the same day (another worker, or the next hour) queues nothing.
    other = crm.create(name="Also forgotten")["id"]
    crm.age(other, 70)
    with app.app_context(), tenant_context(None):
        assert pool.schedule_sweeps() == 0
    drain_jobs()
    assert crm.row(other).owner_id == crm.alice_id
    # The next day's run sweeps again.
    with app.app_context():
        tomorrow = (datetime.now(UTC) + DAY).date().isoformat()
        assert pool.schedule_sweeps(tomorrow) >= 1
        db.session.commit()
    drain_jobs()
    assert crm.row(other).owner_id is None


def test_openapi_documents_the_pool_and_notifications(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    base = "/api/v1/t/{slug}"
    assert "get" in paths[f"{base}/pool"]
    for path in ("/pool/{account_id}/claim", "/pool/{account_id}/assign"):
        assert "post" in paths[base + path]
    assert "post" in paths[f"{base}/accounts/{{account_id}}/release"]
    assert "get" in paths[f"{base}/accounts/{{account_id}}/ownership"]
    assert "get" in paths[f"{base}/notifications"]
    assert "post" in paths[f"{base}/notifications/{{notification_id}}/read"]
    assert "post" in paths[f"{base}/notifications/read-all"]
    release = paths[f"{base}/accounts/{{account_id}}/release"]["post"]
    ref = release["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "reason" in spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]["required"]
