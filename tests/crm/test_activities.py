"""Visits and follow-ups: reply threads (批复) and who may write in them, completing planned
activities, reminders on an explicit clock, the calendar's range and scope, customers behind
their visit target on a moving clock, the targets' settings, the record page's thread and
follow-up form, and two companies."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from saas.errors import ValidationFailed
from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import tenant_context

#: A fixed moment: Monday 10 March 2031, 10:00 in Shanghai (02:00 UTC).
NOW = datetime(2031, 3, 10, 2, 0, tzinfo=UTC)


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


class Crm:
    """One company with an owner, a manager and two salespeople, each with an API client."""

    def __init__(self, app, make_company, add_member, api):
        self.app = app
        self.company = make_company()
        self.slug = self.company.slug
        self.owner = api(self.company.token)
        self.people = {"owner": self.company.owner_id}
        self.clients = {"owner": self.owner}
        self.emails = {"owner": self.company.owner_email}
        for name, role in (
            ("manager", "manager"),
            ("sales1", "member"),
            ("sales2", "member"),
            ("viewer", "read_only"),
        ):
            member = add_member(self.company, role)
            self.people[name] = member.id
            self.emails[name] = member.email
            self.clients[name] = api(_token(app, self.company, member.id))

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def call(self, who: str, method: str, path: str, expect: int | None = None, **kwargs):
        response = getattr(self.clients[who], method)(self.url(path), **kwargs)
        if expect is not None:
            assert response.status_code == expect, (path, response.get_json())
        return response

    def create(self, who: str, object_key: str, **body) -> dict:
        return self.call(who, "post", f"/records/{object_key}", 201, json=body).get_json()

    def scope(self, role: str, scope: str) -> None:
        self.call("owner", "patch", f"/roles/{role}", 200, json={"data_scope": scope})

    @contextmanager
    def actor(self, who: str):
        """The person as a service caller, in a request of the company."""
        with (
            self.app.test_request_context(),
            tenant_context(self.company.tenant_id, db.session, self.people[who]),
        ):
            yield tenant_services.membership(self.people[who])

    def notifications(self, who: str) -> list:
        from tenants.notifications import Notification

        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            return list(
                db.session.execute(
                    select(Notification)
                    .where(Notification.user_id == self.people[who])
                    .order_by(Notification.id)
                ).scalars()
            )

    def audit(self, action: str) -> list:
        from tenants.models import AuditEvent

        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            return list(
                db.session.execute(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
                ).scalars()
            )


@pytest.fixture
def crm(app, make_company, add_member, api) -> Crm:
    return Crm(app, make_company, add_member, api)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- replies


def test_reply_thread_permissions_notifications_and_deletion(crm):
    crm.scope("member", "own")
    customer = crm.create("sales1", "account", name="华信贸易")
    thread = f"/replies/account/{customer['id']}"

    # Outside their data scope, a colleague's record does not exist for a salesperson.
    crm.call("sales2", "get", thread, 404)
    crm.call("sales2", "post", thread, 404, json={"body": "hello"})

    first = crm.call("manager", "post", thread, 201, json={"body": "  跟进得不错，下周再约。 "})
    reply = first.get_json()
    assert reply["body"] == "跟进得不错，下周再约。"
    assert reply["author_id"] == crm.people["manager"]
    notes = crm.notifications("sales1")
    assert [(n.kind, n.object_key, n.record_id) for n in notes] == [
        ("activity.reply", "account", customer["id"])
    ]
    assert notes[0].params["name"] == "华信贸易"

    # The owner answers back: the manager, who replied before, hears of it.
    crm.call("sales1", "post", thread, 201, json={"body": "收到"})
    assert [n.kind for n in crm.notifications("manager")] == ["activity.reply"]
    assert len(crm.notifications("sales1")) == 1  # not told of their own reply

    body = crm.call("sales1", "get", thread, 200).get_json()
    assert [r["body"] for r in body["data"]] == ["跟进得不错，下周再约。", "收到"]
    assert body["can_reply"] is True

    # A salesperson who sees the record (scope "all") still may not reply on a colleague's.
    crm.scope("member", "all")
    assert crm.call("sales2", "get", thread, 200).get_json()["can_reply"] is False
    crm.call("sales2", "post", thread, 403, json={"body": "me too"})
    crm.call("viewer", "post", thread, 403, json={"body": "read only"})

    empty = crm.call("manager", "post", thread, 400, json={"body": "   "}).get_json()
    assert "body" in empty["errors"]
    long = crm.call("manager", "post", thread, 400, json={"body": "x" * 2001}).get_json()
    assert "body" in long["errors"]
    crm.call("manager", "post", thread, 400, json={"text": "wrong key"})
    crm.call("manager", "post", "/replies/nothing/1", 404, json={"body": "x"})
    crm.call(
        "manager", "post", f"/replies/account/{customer['id'] + 10_000}", 404, json={"body": "x"}
    )

    # Only the author deletes a reply.
    crm.call("sales1", "delete", f"/replies/{reply['id']}", 403)
    crm.call("manager", "delete", f"/replies/{reply['id']}", 204)
    crm.call("manager", "delete", f"/replies/{reply['id']}", 404)
    assert [r["body"] for r in crm.call("owner", "get", thread, 200).get_json()["data"]] == ["收到"]
    assert len(crm.audit("reply.created")) == 2
    deleted = crm.audit("reply.deleted")
    assert [(e.target_id, e.before["body"]) for e in deleted] == [
        (str(reply["id"]), "跟进得不错，下周再约。")
    ]


def test_replies_on_an_activity(crm):
    visit = crm.create("sales1", "activity", name="拜访", type="visit", status="done")
    crm.call("manager", "post", f"/replies/activity/{visit['id']}", 201, json={"body": "Good"})
    assert [n.record_id for n in crm.notifications("sales1")] == [visit["id"]]


# ---------------------------------------------------------------- completing


def test_complete_a_planned_activity(crm):
    customer = crm.create("sales1", "account", name="Acme")
    planned = crm.create(
        "sales1",
        "activity",
        name="Visit Acme",
        type="visit",
        status="planned",
        due_at="2020-01-02T10:00:00+08:00",
        account=customer["id"],
    )
    path = f"/activities/{planned['id']}/complete"
    errors = crm.call("sales1", "post", path, 400, json={"result": " "}).get_json()["errors"]
    assert set(errors) == {"result"}
    later = _iso(datetime.now(UTC) + timedelta(hours=2))
    errors = crm.call(
        "sales1", "post", path, 400, json={"result": "ok", "done_at": later}
    ).get_json()["errors"]
    assert set(errors) == {"done_at"}
    errors = crm.call(
        "sales1", "post", path, 400, json={"result": "ok", "done_at": "yesterday"}
    ).get_json()["errors"]
    assert set(errors) == {"done_at"}
    crm.call("sales1", "post", path, 400, json={"result": "ok", "extra": 1})
    crm.call("viewer", "post", path, 403, json={"result": "ok"})

    # Half a minute ahead of the clock is within what phones disagree on.
    soon = _iso(datetime.now(UTC) + timedelta(seconds=30))
    response = crm.call("sales1", "post", path, 200, json={"result": "签了意向", "done_at": soon})
    done = response.get_json()
    assert (done["status"], done["result"], done["done_at"]) == ("done", "签了意向", soon)
    assert response.headers["ETag"] == f'"v{done["version"]}"'
    conflict = crm.call("sales1", "post", path, 409, json={"result": "again"}).get_json()
    assert "status" in conflict["errors"]

    # A call needs no result; done_at defaults to now.
    call = crm.create("sales1", "activity", name="Call", type="call", status="planned")
    before = datetime.now(UTC).replace(microsecond=0)
    body = crm.call("sales1", "post", f"/activities/{call['id']}/complete", 200, json={}).get_json()
    assert body["status"] == "done" and body.get("result") is None
    assert datetime.fromisoformat(body["done_at"]) >= before

    crm.scope("member", "own")
    other = crm.create("sales2", "activity", name="Theirs", type="call", status="planned")
    crm.call("sales1", "post", f"/activities/{other['id']}/complete", 404, json={})
    crm.call("sales1", "post", f"/activities/{other['id'] + 10_000}/complete", 404, json={})


def test_a_done_activity_saved_without_a_time_gets_one(crm):
    before = datetime.now(UTC).replace(microsecond=0)
    done = crm.create("sales1", "activity", name="Met", type="meeting", status="done")
    assert datetime.fromisoformat(done["done_at"]) >= before
    planned = crm.create("sales1", "activity", name="Later", type="meeting", status="planned")
    assert planned.get("done_at") is None
    # Changed to done through the record API: stamped as well; a later edit keeps the time.
    path = f"/records/activity/{planned['id']}"
    changed = crm.call(
        "sales1",
        "patch",
        path,
        200,
        json={"status": "done"},
        headers={"If-Match": f'"v{planned["version"]}"'},
    ).get_json()
    assert datetime.fromisoformat(changed["done_at"]) >= before
    renamed = crm.call(
        "sales1",
        "patch",
        path,
        200,
        json={"name": "Met at last"},
        headers={"If-Match": f'"v{changed["version"]}"'},
    ).get_json()
    assert renamed["done_at"] == changed["done_at"]


# ---------------------------------------------------------------- reminders


def _planned(crm, who: str, due: str | None, **extra) -> int:
    body = {"name": extra.pop("name", f"due {due}"), "type": "call", "status": "planned", **extra}
    if due is not None:
        body["due_at"] = due
    return crm.create(who, "activity", **body)["id"]


def test_reminders_on_an_explicit_clock(crm):
    from saas.crm import activities

    customer = crm.create("sales1", "account", name="提醒客户")
    yesterday = _planned(crm, "sales1", "2031-03-09T15:00:00+08:00", account=customer["id"])
    this_morning = _planned(crm, "sales1", "2031-03-10T08:00:00+08:00")
    tonight = _planned(crm, "sales1", "2031-03-10T23:59:00+08:00")
    _planned(crm, "sales1", "2031-03-11T00:00:00+08:00")  # tomorrow: not yet
    _planned(crm, "sales1", None)  # no due time: not a reminder
    crm.create(
        "sales1",
        "activity",
        name="done",
        type="visit",
        status="done",
        due_at="2031-03-10T09:00:00+08:00",
    )
    _planned(crm, "sales2", "2031-03-10T09:00:00+08:00")  # someone else's
    binned = _planned(crm, "sales1", "2031-03-10T09:30:00+08:00")
    crm.call("sales1", "delete", f"/records/activity/{binned}", 204)

    with crm.actor("sales1") as actor:
        found = activities.reminders(actor, NOW)
        assert (found.overdue, found.today, found.total) == (2, 1, 3)
        assert [i.id for i in found.items] == [yesterday, this_morning, tonight]
        assert [i.overdue for i in found.items] == [True, True, False]
        assert found.items[0].link == ("account", customer["id"])
        assert found.items[0].title == "Call · 提醒客户"
        assert activities.reminder_count(actor, NOW) == 3
        # Late the same evening the one due tonight is still due today.
        evening = activities.reminders(actor, datetime(2031, 3, 10, 15, 58, tzinfo=UTC))
        assert (evening.overdue, evening.today) == (2, 1)
        # Midnight in Shanghai: tonight's is overdue, and the one at midnight is due today.
        late = activities.reminders(actor, datetime(2031, 3, 10, 16, 0, tzinfo=UTC))
        assert (late.overdue, late.today) == (3, 1)
        assert len(activities.reminders(actor, NOW, limit=2).items) == 2

    # Through the API, the clock is the real one: everything of 2031 is still ahead.
    body = crm.call("sales1", "get", "/reminders", 200).get_json()
    assert (body["overdue"], body["today"], body["data"]) == (0, 0, [])


# ---------------------------------------------------------------- calendar


def test_calendar_range_and_scope(crm):
    customer = crm.create("sales1", "account", name="Calendar Co")
    visit = crm.create(
        "sales1",
        "activity",
        name="v",
        type="visit",
        status="done",
        done_at="2031-03-05T10:00:00+08:00",
        account=customer["id"],
    )["id"]
    first = _planned(crm, "sales1", "2031-03-01T00:00:00+08:00")  # the start is included
    later = _planned(crm, "sales1", "2031-03-20T14:30:00+08:00")
    _planned(crm, "sales1", "2031-04-01T00:00:00+08:00")  # the end is not
    _planned(crm, "sales1", "2031-02-28T23:59:00+08:00")
    colleague = _planned(crm, "sales2", "2031-03-06T09:00:00+08:00")

    feed = crm.call("sales1", "get", "/calendar?start=2031-03-01&end=2031-04-01", 200).get_json()
    assert [i["id"] for i in feed["data"]] == [first, visit, later]
    item = feed["data"][1]
    assert item["title"] == "Visit · Calendar Co"
    assert item["status"] == "done"
    assert item["duration_minutes"] == 60
    assert datetime.fromisoformat(item["end"]) - datetime.fromisoformat(item["start"]) == (
        timedelta(hours=1)
    )
    assert item["record"] == {"object_key": "account", "id": customer["id"], "name": "Calendar Co"}
    assert item["url"].endswith(f"/t/{crm.slug}/o/activity/{visit}")
    assert feed["truncated"] is False

    for query, field in (
        ("start=2031-03-10&end=2031-03-01", "end"),
        ("start=2031-01-01&end=2031-04-01", "end"),
        ("start=March&end=2031-04-01", "start"),
        ("end=2031-04-01", "start"),
        ("start=2031-03-01&end=2031-04-01&team=x", "team"),
    ):
        errors = crm.call("sales1", "get", f"/calendar?{query}", 400).get_json()["errors"]
        assert field in errors, query

    # Teams: a manager over a team sees its people's activities; others cannot ask for it.
    team = crm.call("owner", "post", "/teams", 201, json={"name": "华东"}).get_json()
    other_team = crm.call("owner", "post", "/teams", 201, json={"name": "华南"}).get_json()
    for who in ("manager", "sales1", "sales2"):
        crm.call("owner", "patch", f"/users/{crm.people[who]}", 200, json={"team_id": team["id"]})
    crm.scope("manager", "team_and_below")
    crm.scope("member", "own")
    march = "/calendar?start=2031-03-01&end=2031-04-01"
    team_feed = crm.call("manager", "get", f"{march}&team={team['id']}", 200).get_json()
    assert [i["id"] for i in team_feed["data"]] == [first, visit, colleague, later]
    assert team_feed["team_id"] == team["id"]
    crm.call("manager", "get", f"{march}&team={other_team['id']}", 400)
    errors = crm.call("sales2", "get", f"{march}&team={team['id']}", 400).get_json()["errors"]
    assert "team" in errors
    assert [i["id"] for i in crm.call("sales2", "get", march, 200).get_json()["data"]] == [
        colleague
    ]
    owner_feed = crm.call("owner", "get", f"{march}&team={other_team['id']}", 200).get_json()
    assert owner_feed["data"] == []


# ---------------------------------------------------------------- behind target


def _account(crm, who: str, name: str, grade: str) -> int:
    return crm.create(who, "account", name=name, grade=grade)["id"]


def _contact(crm, who: str, account_id: int, kind: str, at: datetime, status="done") -> int:
    body = {"name": f"{kind} {account_id}", "type": kind, "status": status, "account": account_id}
    body["done_at" if status == "done" else "due_at"] = _iso(at)
    return crm.create(who, "activity", **body)["id"]


def test_behind_target_with_a_moving_clock(crm):
    from saas.crm import activities

    start = datetime.now(UTC)
    never_a = _account(crm, "sales1", "A never", "A")
    visited_a = _account(crm, "sales1", "A visited", "A")
    _contact(crm, "sales1", visited_a, "visit", start - timedelta(days=1))
    _contact(crm, "sales1", visited_a, "visit", start - timedelta(days=30))
    emailed_b = _account(crm, "sales1", "B emailed", "B")
    _contact(crm, "sales1", emailed_b, "email", start - timedelta(days=1))  # not contact
    _contact(crm, "sales1", emailed_b, "visit", start + timedelta(days=1), status="planned")
    called_c = _account(crm, "sales2", "C called", "C")
    _contact(crm, "sales2", called_c, "call", start)
    binned = _account(crm, "sales1", "A binned", "A")
    crm.call("sales1", "delete", f"/records/account/{binned}", 204)
    pooled = crm.create("owner", "account", name="A pooled", grade="A", owner_id=None)["id"]
    assert pooled

    def behind(now, who="owner", **kwargs) -> list[int]:
        with crm.actor(who) as actor:
            return [r.account_id for r in activities.behind_target(actor, now, **kwargs).rows]

    assert behind(start + timedelta(days=5)) == []
    assert behind(start + timedelta(days=6, hours=1)) == [visited_a]  # visited 7 days before
    assert behind(start + timedelta(days=7, hours=1)) == [visited_a, never_a]
    assert behind(start + timedelta(days=15)) == [emailed_b, visited_a, never_a]
    assert behind(start + timedelta(days=31)) == [called_c, emailed_b, visited_a, never_a]
    assert behind(start + timedelta(days=31), grade="B") == [emailed_b]
    assert behind(start + timedelta(days=31), grade="D") == []

    with crm.actor("owner") as actor:
        page = activities.behind_target(actor, start + timedelta(days=31), limit=3)
        row = page.rows[2]
        assert (row.account_id, row.grade, row.target_days) == (visited_a, "A", 7)
        assert row.last_contact_at == (start - timedelta(days=1)).replace(microsecond=0)
        assert row.overdue_days == 25
        assert page.rows[0].last_contact_at is not None  # the call
        assert page.next_cursor == str(visited_a)
        rest = activities.behind_target(
            actor, start + timedelta(days=31), cursor=page.next_cursor, limit=3
        )
        assert ([r.account_id for r in rest.rows], rest.next_cursor) == ([never_a], None)
        with pytest.raises(ValidationFailed) as bad:
            activities.behind_target(actor, start, grade="Z")
        assert "grade" in bad.value.errors
        with pytest.raises(ValidationFailed) as bad:
            activities.behind_target(actor, start, cursor="abc")
        assert "cursor" in bad.value.errors

    # A salesperson who sees only their own customers sees only theirs behind target.
    crm.scope("member", "own")
    assert behind(start + timedelta(days=31), who="sales2") == [called_c]

    # A visit logged from a contact page counts for the contact's customer.
    person = crm.create("sales1", "contact", name="王经理", account=never_a)
    with crm.actor("sales1") as actor:
        values = {"type": "visit", "status": "done", "result": "谈妥"}
        with pytest.raises(ValidationFailed) as bad:  # not ahead of the clock
            activities.log_activity(
                actor, "contact", person["id"], {**values, "at": _iso(start + timedelta(days=1))}
            )
        assert set(bad.value.errors) == {"at"}
        logged = activities.log_activity(
            actor,
            "contact",
            person["id"],
            {**values, "at": _iso(start + timedelta(days=1))},
            now=start + timedelta(days=2),
        )
        assert (logged.data["account"], logged.data["contact"]) == (never_a, person["id"])
    assert behind(start + timedelta(days=7, hours=1)) == [visited_a]

    # Targets change what is behind: A every 30 days, C none.
    crm.call(
        "owner",
        "put",
        "/settings/visit-targets",
        200,
        json={
            "targets": [
                {"grade": "A", "days": 30},
                {"grade": "B", "days": 14},
                {"grade": "C", "days": None},
            ]
        },
    )
    assert behind(start + timedelta(days=35)) == [emailed_b, visited_a, never_a]
    assert behind(start + timedelta(days=20)) == [emailed_b]
    assert behind(start + timedelta(days=99), grade="C") == []

    api = crm.call("owner", "get", "/visit-targets/behind?grade=B", 200).get_json()
    assert api == {"data": [], "next_cursor": None}
    crm.call("owner", "get", "/visit-targets/behind?grade=Z", 400)
    crm.call("owner", "get", "/visit-targets/behind?limit=0", 400)


def test_behind_target_probes_the_contact_index(crm):
    """Each customer's latest contact is one probe of ``ix_activities_contacts`` on the
    customer's id: the read goes through the list reader, since under row-level security no
    JSONB condition could be an index condition (a million customers would time out)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from custom_fields.query import reader
    from saas.crm import activities

    customer = _account(crm, "sales1", "Plan", "A")
    _contact(crm, "sales1", customer, "visit", datetime.now(UTC) - timedelta(days=30))
    captured = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "last_contact" in statement:
            captured.append((statement, parameters, conn.engine.url.username))

    with crm.actor("owner") as actor:
        assert reader.available()
        event.listen(Engine, "before_cursor_execute", keep)
        try:
            rows = activities.behind_target(actor).rows
        finally:
            event.remove(Engine, "before_cursor_execute", keep)
        assert [r.account_id for r in rows] == [customer]
        statement, parameters, role = captured[0]
        assert role == crm.app.config["KEHU_SETTINGS"].reader_db_role
        with reader.reading() as session:
            connection = session.connection()
            connection.exec_driver_sql("SET enable_seqscan = off")  # a tiny table otherwise
            try:
                plan = "\n".join(
                    row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)
                )
            finally:
                connection.exec_driver_sql("RESET enable_seqscan")
    probe = [line for line in plan.splitlines() if "Index Cond" in line and "account" in line]
    assert probe and "ix_activities_contacts" in plan, plan


# ---------------------------------------------------------------- settings


def test_visit_target_settings_validation(crm):
    body = crm.call("manager", "get", "/settings/visit-targets", 200).get_json()
    assert [(t["grade"], t["days"]) for t in body["targets"]] == [
        ("A", 7),
        ("B", 14),
        ("C", 30),
        ("D", 90),
    ]
    path = "/settings/visit-targets"
    crm.call("manager", "put", path, 403, json={"targets": [{"grade": "A", "days": 3}]})
    for targets, field in (
        ([{"grade": "A", "days": 0}], "targets.A"),
        ([{"grade": "A", "days": 3651}], "targets.A"),
        ([{"grade": "Z", "days": 3}], "targets.Z"),
        ([{"grade": "A", "days": 3}, {"grade": "A", "days": 4}], "targets.A"),
    ):
        errors = crm.call("owner", "put", path, 400, json={"targets": targets}).get_json()
        assert field in errors["errors"], (targets, errors)
    errors = crm.call(
        "owner", "put", path, 400, json={"targets": [{"grade": "A", "days": "7"}]}
    ).get_json()["errors"]
    assert "targets" in errors
    crm.call("owner", "put", path, 400, json={})
    saved = crm.call(
        "owner",
        "put",
        path,
        200,
        json={"targets": [{"grade": "A", "days": 10}, {"grade": "D", "days": None}]},
    ).get_json()
    assert [(t["grade"], t["days"]) for t in saved["targets"]] == [
        ("A", 10),
        ("B", None),
        ("C", None),
        ("D", None),
    ]
    event = crm.audit("visit_targets.changed")[-1]
    assert event.before == {"A": 7, "B": 14, "C": 30, "D": 90} and event.after == {"A": 10}


def test_visit_targets_page(crm, login):
    owner = login(crm.company.owner_email)
    page = f"/t/{crm.slug}/settings/visit-targets"
    html = owner.get(page).get_data(as_text=True)
    assert 'name="days-A" inputmode="numeric" value="7"' in html
    form = {"days-A": "abc", "days-B": "14", "days-C": "", "days-D": "90"}
    response = owner.post(page, data=form)
    assert response.status_code == 400
    assert "Enter a whole number of days from 1 to 3650." in response.get_data(as_text=True)
    assert owner.post(page, data={"days-A": "5"}).status_code == 400  # every grade's input
    response = owner.post(page, data={**form, "days-A": "5"})
    assert response.status_code == 302
    assert 'value="5"' in owner.get(page).get_data(as_text=True)
    assert 'value=""' in owner.get(page).get_data(as_text=True)  # C has no target now
    assert login(crm.emails["manager"]).get(page).status_code == 403
    settings = owner.get(f"/t/{crm.slug}/settings").get_data(as_text=True)
    assert 'data-testid="visit-targets-link"' in settings


# ---------------------------------------------------------------- pages


def test_record_pages_show_the_thread_and_the_follow_up_form(crm, login):
    customer = crm.create("sales1", "account", name="页面客户", grade="A")
    sales = login(crm.emails["sales1"])
    page = f"/t/{crm.slug}/o/account/{customer['id']}"
    html = sales.get(page).get_data(as_text=True)
    assert 'data-testid="replies"' in html and 'data-testid="no-replies"' in html
    assert 'data-testid="reply-form"' in html and "data-submit-shortcut" in html
    assert "activities.js" in html
    assert 'data-testid="log-form"' in html and 'name="result"' in html
    assert 'data-testid="behind-badge"' not in html  # owned just now
    assert "No visit, call or meeting yet." in html

    # Replying from the page: back to the thread, which shows it.
    manager = login(crm.emails["manager"])
    response = manager.post(
        f"/t/{crm.slug}/replies/account/{customer['id']}", data={"body": "请尽快拜访"}
    )
    assert response.status_code == 302 and response.location.endswith("#replies")
    html = sales.get(page).get_data(as_text=True)
    assert "请尽快拜访" in html and 'data-testid="reply"' in html
    response = manager.post(f"/t/{crm.slug}/replies/account/{customer['id']}", data={"body": ""})
    assert response.status_code == 302
    assert "Write a reply." in manager.get(page).get_data(as_text=True)

    # Logging a visit: a done visit needs its result; the form keeps what was typed.
    log = f"/t/{crm.slug}/activities/log/account/{customer['id']}"
    form = {"type": "visit", "status": "done", "at": "", "content": "介绍新品", "result": ""}
    response = sales.post(log, data=form)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Enter the result of the visit." in text and "介绍新品" in text
    response = sales.post(log, data={**form, "result": "有意向"})
    assert response.status_code == 302
    html = sales.get(page).get_data(as_text=True)
    assert "Last visit, call or meeting:" in html
    planned = {**form, "status": "planned", "at": "2031-03-10T15:00", "type": "call"}
    assert sales.post(log, data=planned).status_code == 302

    # The viewer reads the thread but writes nothing.
    viewer_html = login(crm.emails["viewer"]).get(page).get_data(as_text=True)
    assert "请尽快拜访" in viewer_html
    assert 'data-testid="reply-form"' not in viewer_html
    assert 'data-testid="log-form"' not in viewer_html
    assert login(crm.emails["viewer"]).get(log).status_code == 403

    # A planned activity's page offers "Complete"; completing it from there.
    from saas.crm.activities import ActivityReply  # noqa: F401  (the model is registered)

    rows = crm.call("sales1", "get", "/records/activity?f=status:eq:planned", 200).get_json()
    call_id = rows["data"][0]["id"]
    activity_page = f"/t/{crm.slug}/o/activity/{call_id}"
    html = sales.get(activity_page).get_data(as_text=True)
    assert 'data-testid="complete-form"' in html and 'data-testid="log-form"' not in html
    complete = f"/t/{crm.slug}/activities/{call_id}/complete"
    assert sales.get(complete).status_code == 200
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = sales.post(complete, data={"result": "", "done_at": later})
    assert response.status_code == 400
    assert "A done activity cannot be dated in the future." in response.get_data(as_text=True)
    assert sales.post(complete, data={"result": "无人接听", "done_at": ""}).status_code == 302
    html = sales.get(activity_page).get_data(as_text=True)
    assert 'data-testid="complete-form"' not in html and "无人接听" in html


def test_home_calendar_and_behind_pages(crm, login):
    customer = crm.create("sales1", "account", name="日历客户", grade="A")
    now = datetime.now(UTC)
    overdue = _planned(
        crm, "sales1", _iso(now - timedelta(hours=1)), name="回访", account=customer["id"]
    )
    visit = _contact(crm, "sales1", customer["id"], "visit", now - timedelta(days=20))
    sales = login(crm.emails["sales1"])

    home = sales.get(f"/t/{crm.slug}/").get_data(as_text=True)
    assert 'data-testid="reminders"' in home
    assert f'/t/{crm.slug}/o/activity/{overdue}"' in home
    assert 'data-testid="reminder-count"' in home
    index = sales.get(f"/t/{crm.slug}/activities/").get_data(as_text=True)
    assert "Call · 日历客户" in index

    calendar = f"/t/{crm.slug}/activities/calendar"
    html = sales.get(calendar).get_data(as_text=True)
    assert 'data-view="month"' in html and f'/o/activity/{overdue}"' in html
    assert 'data-testid="calendar-prev"' in html and 'data-testid="calendar-today"' in html
    past = (now - timedelta(days=20)).date().isoformat()
    week = sales.get(f"{calendar}?view=week&date={past}").get_data(as_text=True)
    assert 'data-view="week"' in week and f'/o/activity/{visit}"' in week
    assert week.count('class="kehu-day') == 7
    response = sales.get(f"{calendar}?date=2031-02-30")
    assert response.status_code == 302
    assert sales.get(f"{calendar}?team=12x").status_code == 302

    behind = f"/t/{crm.slug}/activities/behind"
    html = sales.get(behind).get_data(as_text=True)
    assert 'data-testid="behind-row"' in html and "日历客户" in html
    html = sales.get(f"{behind}?grade=D").get_data(as_text=True)
    assert 'data-testid="behind-empty"' in html
    assert sales.get(f"{behind}?grade=nope").status_code == 302
    assert sales.get(f"{behind}?cursor=zz").status_code == 302


# ---------------------------------------------------------------- two companies


def test_two_companies_never_meet(app, make_company, api, login):
    a, b = make_company(), make_company()
    rest_a, rest_b = api(a.token), api(b.token)
    b_customer = rest_b.post(f"/api/v1/t/{b.slug}/records/account", json={"name": "B secret"})
    b_id = b_customer.get_json()["id"]
    b_activity = rest_b.post(
        f"/api/v1/t/{b.slug}/records/activity",
        json={"name": "B visit", "type": "visit", "status": "planned", "account": b_id},
    ).get_json()["id"]
    b_reply = rest_b.post(
        f"/api/v1/t/{b.slug}/replies/account/{b_id}", json={"body": "B's secret reply"}
    ).get_json()["id"]

    base = f"/api/v1/t/{a.slug}"
    assert rest_a.get(f"{base}/replies/account/{b_id}").status_code == 404
    assert rest_a.post(f"{base}/replies/account/{b_id}", json={"body": "x"}).status_code == 404
    assert rest_a.delete(f"{base}/replies/{b_reply}").status_code == 404
    assert rest_a.post(f"{base}/activities/{b_activity}/complete", json={}).status_code == 404
    assert rest_b.get(f"{base}/reminders").status_code == 401
    feed = rest_a.get(f"{base}/calendar?start=2000-01-01&end=2000-02-01").get_json()
    assert feed["data"] == []
    ui = login(a.owner_email)
    assert ui.post(f"/t/{a.slug}/replies/{b_reply}/delete").status_code == 404
    assert ui.get(f"/t/{a.slug}/activities/log/account/{b_id}").status_code == 404
    assert ui.get(f"/t/{a.slug}/activities/{b_activity}/complete").status_code == 404
    thread = rest_b.get(f"/api/v1/t/{b.slug}/replies/account/{b_id}").get_json()
    assert [r["body"] for r in thread["data"]] == ["B's secret reply"]
