"""Imports run the CRM's workflow rules: leads get the assignment rule's owner (round robin in
file order across batches, by region with least-loaded teams) and the scoring rules' score,
and each owner is told once per import; the preview takes no turn; imported activities move
their customers' activity clocks (and so the pool sweep) and get their done time; imported
opportunities get the stage's probability and a stage history row; the error report still
names the rows a rule refused. Everything runs through the real worker."""

from __future__ import annotations

import csv
import io
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from saas.crm import activities, leads, pipeline, pool
from saas.extensions import db
from saas.records.models import Account, Lead
from tenants.context import tenant_context
from tenants.models import AuditEvent
from tenants.notifications import Notification, message

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _import_dir(app, tmp_path):
    before = app.config.get("IMPORT_DIR")
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    yield
    app.config["IMPORT_DIR"] = before


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


class Crm:
    """One company seen through its owner's API token, with direct reads of its tables."""

    def __init__(self, app, company, rest):
        self.app, self.company, self.rest = app, company, rest
        self.slug = company.slug
        self.tid = company.tenant_id

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def imports(self, object_key: str, path: str = "") -> str:
        return self.url(f"/records/{object_key}/imports{path}")

    def upload(self, object_key: str, rows: list[list[str]]) -> dict:
        response = self.rest.post(
            self.imports(object_key),
            data={"file": (io.BytesIO(csv_bytes(rows)), "data.csv")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def preview(self, object_key: str, import_id: str, **body) -> dict:
        response = self.rest.post(self.imports(object_key, f"/{import_id}/preview"), json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def run(self, object_key: str, import_id: str, drain, **body) -> dict:
        response = self.rest.post(self.imports(object_key, f"/{import_id}/run"), json=body)
        assert response.status_code == 202, response.get_json()
        drain()
        status = self.rest.get(self.imports(object_key, f"/{import_id}")).get_json()
        assert status["status"] == "succeeded", status
        return status

    def load(self, object_key: str, rows: list[list[str]], drain, **body) -> dict:
        body.setdefault("match_on", None)
        return self.run(object_key, self.upload(object_key, rows)["id"], drain, **body)

    def errors(self, object_key: str, import_id: str) -> list[list[str]]:
        response = self.rest.get(self.imports(object_key, f"/{import_id}/errors.csv"))
        assert response.status_code == 200
        return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))[1:]

    def records(self, object_key: str) -> list[dict]:
        response = self.rest.get(self.url(f"/records/{object_key}?limit=200&sort=id"))
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]

    def create(self, object_key: str, **body) -> dict:
        response = self.rest.post(self.url(f"/records/{object_key}"), json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def put(self, path: str, body: dict, expect: int = 200) -> dict:
        response = self.rest.put(self.url(path), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def next_member(self) -> int | None:
        return self.rest.get(self.url("/settings/lead-assignment")).get_json()["next_member_id"]

    def notes(self, kind: str) -> list[tuple[int, dict, str]]:
        """(user id, params, message) of the company's notifications of a kind."""
        with (
            self.app.test_request_context(),
            force_locale("en"),
            tenant_context(self.tid, db.session),
        ):
            rows = db.session.execute(
                select(Notification).where(Notification.kind == kind).order_by(Notification.id)
            ).scalars()
            return [(n.user_id, dict(n.params), message(n)) for n in rows]

    def read(self, stmt):
        with self.app.app_context(), tenant_context(self.tid, db.session):
            return db.session.execute(stmt).all()


@pytest.fixture
def crm(app, make_company, api) -> Crm:
    company = make_company()
    return Crm(app, company, api(company.token))


@pytest.fixture
def small_batches(monkeypatch):
    from saas.records import imports

    monkeypatch.setattr(imports, "BATCH", 2)


# ---- leads: assignment --------------------------------------------------------------------------


def test_round_robin_splits_the_rows_in_turn_and_tells_each_owner_once(
    crm, add_member, login, drain_jobs, small_batches
):
    alice = add_member(crm.company, "member")
    a, b = alice.id, add_member(crm.company, "member").id
    crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": [a, b]})
    rows = [["Name", "Company", "Status"]] + [[f"Lead {i}", f"Co {i}", "new"] for i in range(5)]
    status = crm.load("lead", rows, drain_jobs)
    assert status["result"] == {"created": 5, "updated": 0, "skipped": 0, "failed": 0}

    owners = [r["owner_id"] for r in crm.records("lead")]
    assert owners == [a, b, a, b, a]  # in file order, across batches of two
    assert crm.next_member() == b  # the rotation goes on where the import left it
    assert crm.create("lead", name="After")["owner_id"] == b

    # One notification per owner for the whole import, not one per lead (nor per batch).
    notes = crm.notes("lead.imported")
    assert [(user, params["n"]) for user, params, _text in notes] == [(a, 3), (b, 2)]
    assert notes[0][2] == "3 leads were assigned to you by an import."
    assert all(user != crm.company.owner_id for user, _p, _t in notes)
    assert [user for user, _p, _t in crm.notes("lead.assigned")] == [b]  # "After" only

    # The notification opens the leads list filtered to the person's own.
    ((note_id,),) = crm.read(
        select(Notification.id).where(
            Notification.kind == "lead.imported", Notification.user_id == a
        )
    )
    web = login(alice.email)
    opened = web.post(f"/t/{crm.slug}/notifications/{note_id}/read", data={"open": "1"})
    assert opened.status_code == 302
    assert "/o/lead/" in opened.headers["Location"] and "is_me" in opened.headers["Location"]
    listing = web.get(opened.headers["Location"]).get_data(as_text=True)
    assert "Lead 0" in listing and "Lead 4" in listing and "Lead 1" not in listing

    # The record history is as before: one record.imported per record, with the owner given.
    events = crm.read(
        select(AuditEvent.target_id, AuditEvent.after).where(
            AuditEvent.action == "record.imported", AuditEvent.target_type == "lead"
        )
    )
    by_id = {int(target): after for target, after in events}
    assert [by_id[r["id"]]["owner_id"] for r in crm.records("lead")[:5]] == owners


def test_round_robin_stays_fair_with_creations_during_the_import(
    crm, add_member, api, drain_jobs, small_batches
):
    members = [add_member(crm.company, "member").id for _ in range(4)]
    crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": members})
    upload = crm.upload("lead", [["Name"]] + [[f"Imported {i}"] for i in range(8)])
    response = crm.rest.post(crm.imports("lead", f"/{upload['id']}/run"), json={"match_on": None})
    assert response.status_code == 202, response.get_json()
    errors: list[object] = []
    start = threading.Barrier(5)

    def create(i: int) -> None:
        client = api(crm.company.token)
        start.wait()
        response = client.post(crm.url("/records/lead"), json={"name": f"Typed {i}"})
        if response.status_code != 201:
            errors.append(response.get_json())

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    start.wait()
    drain_jobs()  # the import's batches and the creations queue on the rule's row
    for thread in threads:
        thread.join()
    assert not errors
    owners = Counter(r["owner_id"] for r in crm.records("lead"))
    assert owners == dict.fromkeys(members, 3)  # 12 turns, each given once
    assert crm.next_member() == members[0]


def test_a_named_owner_keeps_the_lead_and_uses_no_turn(crm, add_member, drain_jobs):
    a, b = (add_member(crm.company, "member").id for _ in range(2))
    crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": [a, b]})
    owner_email = crm.company.owner_email
    rows = [["Name", "Owner"], ["One", ""], ["Mine", owner_email], ["Two", ""], ["Three", ""]]
    crm.load("lead", rows, drain_jobs)
    owners = [r["owner_id"] for r in crm.records("lead")]
    assert owners == [a, crm.company.owner_id, b, a]
    assert [(u, p["n"]) for u, p, _t in crm.notes("lead.imported")] == [(a, 2), (b, 1)]


def test_the_preview_takes_no_turn(crm, add_member, drain_jobs):
    a, b = (add_member(crm.company, "member").id for _ in range(2))
    crm.put("/settings/lead-assignment", {"mode": "round_robin", "members": [a, b]})
    upload = crm.upload("lead", [["Name", "Owner"], ["One", ""], ["Two", crm.company.owner_email]])
    for _ in range(3):
        preview = crm.preview("lead", upload["id"], match_on=None)
        cells = [row["cells"]["Owner"] for row in preview["rows"]]
        assert cells[0] == "by the assignment rule"
        assert cells[1] not in ("", "by the assignment rule")  # the named owner
    assert crm.next_member() == a
    assert crm.notes("lead.imported") == []

    # Without an owner column the preview says where the owners come from.
    other = crm.upload("lead", [["Name"], ["Three"]])
    warnings = crm.preview("lead", other["id"], match_on=None)["warnings"]
    assert any("assignment rule" in w for w in warnings)
    assert crm.next_member() == a

    crm.run("lead", upload["id"], drain_jobs)
    assert [r["owner_id"] for r in crm.records("lead")] == [a, crm.company.owner_id]
    assert crm.next_member() == b

    # Manual mode: the importer owns what names nobody, as a single create would.
    crm.put("/settings/lead-assignment", {"mode": "manual", "members": [a, b]})
    preview = crm.preview("lead", other["id"], match_on=None)
    assert not any("assignment rule" in w for w in preview["warnings"])
    crm.run("lead", other["id"], drain_jobs)
    assert crm.records("lead")[-1]["owner_id"] == crm.company.owner_id


def test_by_region_member_team_least_loaded_and_fallback(crm, add_member, drain_jobs, monkeypatch):
    from saas.records import imports

    monkeypatch.setattr(imports, "BATCH", 3)
    north, east1, east2, anyone = (add_member(crm.company, "member").id for _ in range(4))
    team = crm.rest.post(crm.url("/teams"), json={"name": "East sales"}).get_json()["id"]
    for user_id in (east1, east2):
        response = crm.rest.patch(crm.url(f"/users/{user_id}"), json={"team_id": team})
        assert response.status_code == 200, response.get_json()
    crm.create("lead", name="Busy", owner_id=east1, status="new")  # one open lead already
    crm.create("lead", name="Done", owner_id=east2, status="unqualified")  # not counted
    crm.put(
        "/settings/lead-assignment",
        {
            "mode": "by_region",
            "members": [anyone],
            "regions": {"north": {"user_id": north}, "east": {"team_id": team}},
        },
    )
    rows = [
        ["Name", "Region", "Status"],
        ["N", "north", "new"],
        ["E1", "华东", "new"],  # by the region's Chinese label
        ["E2", "east", "new"],  # the lead just given counts: a tie, who joined first
        ["E3", "east", "new"],  # next batch: the leads written before count
        ["S", "south", "new"],
        ["X", "", "new"],
    ]
    crm.load("lead", rows, drain_jobs)
    owners = {r["name"]: r["owner_id"] for r in crm.records("lead")}
    assert [owners[n] for n in ("N", "E1", "E2", "E3", "S", "X")] == [
        north,
        east2,
        east1,
        east2,
        anyone,
        anyone,
    ]
    given = {u: p["n"] for u, p, _t in crm.notes("lead.imported")}
    assert given == {north: 1, east1: 1, east2: 2, anyone: 2}


# ---- leads: scores ------------------------------------------------------------------------------


RULES = [
    {"condition": "source:eq:website", "points": 30},
    {"condition": "email:is_not_empty", "points": 20},
    {"condition": {"field": "company", "op": "contains", "value": "科技"}, "points": 25},
    {"condition": "region:in:north,east", "points": 10},
    {
        "condition": {
            "or": [
                {"field": "mobile", "op": "is_empty"},
                {"field": "name", "op": "starts_with", "value": "test"},
            ]
        },
        "points": -15,
    },
    {"condition": "status:eq:unqualified", "points": -100},
    {"condition": "source:eq:referral", "points": 50, "active": False},
]


def _expected_score(crm: Crm, record: dict) -> int | None:
    """``leads.score`` of a lead with the record's values (score left out), as a create of the
    record service computes it."""
    with crm.app.app_context(), tenant_context(crm.tid, db.session):
        row = db.session.get(Lead, (crm.tid, record["id"]))
        data = {k: v for k, v in row.data.items() if k != "score"}
        lead = Lead(name=row.name, owner_id=row.owner_id, tags=list(row.tags), data=data)
        value = leads.score(lead)
        db.session.rollback()
        return value


def test_imported_leads_are_scored_as_a_create_scores_them(crm, drain_jobs, small_batches):
    crm.put("/settings/lead-scoring", {"rules": RULES}, expect=202)
    drain_jobs()
    rows = [
        ["Name", "Company", "Source", "Email", "Region", "Mobile", "Score"],
        ["王总", "北京星云科技有限公司", "website", "wang@example.com", "north", "13800138000", ""],
        ["test lead", "", "referral", "", "", "", "77"],
        ["李经理", "上海贸易", "website", "", "south", "13800138001", "5"],
        ["赵", "深圳科技", "", "zhao@example.com", "east", "", ""],
        ["Cold", "", "", "", "", "13800138002", ""],
    ]
    crm.load("lead", rows, drain_jobs)
    records = crm.records("lead")
    assert [r["score"] for r in records] == [85, 0, 30, 40, 0]  # a typed score is replaced
    for record in records:
        assert record["score"] == _expected_score(crm, record), record["name"]

    # An update through an import rescored the lead from its new values.
    hot = records[0]
    rows = [["Name", "Source", "Status"], ["王总", "exhibition", "unqualified"]]
    status = crm.load("lead", rows, drain_jobs, match_on="name", policy="update")
    assert status["result"]["updated"] == 1
    cooled = crm.records("lead")[0]
    assert cooled["id"] == hot["id"] and cooled["score"] == 0
    assert cooled["score"] == _expected_score(crm, cooled)


# ---- activities ---------------------------------------------------------------------------------


def test_imported_activities_move_the_customers_clocks(crm, drain_jobs, monkeypatch):
    t0 = datetime.now(UTC)
    busy = crm.create("account", name="Busy")["id"]
    late = crm.create("account", name="Logged late")["id"]
    idle = crm.create("account", name="Idle")["id"]
    stamped = crm.create("account", name="Stamped")["id"]

    def account(account_id: int) -> tuple[datetime | None, int]:
        ((at, version),) = crm.read(
            select(Account.last_activity_at, Account.version).where(Account.id == account_id)
        )
        return at, version

    monkeypatch.setattr(pool, "utcnow", lambda: t0 + 50 * DAY)
    monkeypatch.setattr(activities, "utcnow", lambda: t0 + 45 * DAY)
    done_late = (t0 + 40 * DAY).isoformat()
    rows = [
        ["Name", "Customer", "Type", "Status", "Done at"],
        ["Plan a visit", "Busy", "visit", "planned", ""],  # created: counts now
        ["Call", "Logged late", "call", "done", done_late],  # done: counts when done
        ["Earlier call", "Logged late", "call", "done", (t0 + 10 * DAY).isoformat()],
        ["Met", "Stamped", "meeting", "done", ""],  # done without a time: stamped
        ["Email", "", "email", "done", ""],  # no customer: no clock
    ]
    status = crm.load("activity", rows, drain_jobs)
    assert status["result"]["created"] == 5

    assert account(busy) == (t0 + 50 * DAY, 1)  # bookkeeping: the version stays
    at, _version = account(late)
    assert abs(at - (t0 + 40 * DAY)) < timedelta(seconds=1)  # the latest of the two
    assert account(stamped)[0] == (t0 + 45 * DAY).replace(microsecond=0)
    assert account(idle)[0] is None
    met = next(r for r in crm.records("activity") if r["name"] == "Met")
    assert met["done_at"] == (t0 + 45 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")

    # The sweep on a moving clock: only the customer without activity goes back.
    with crm.app.app_context():
        assert pool.sweep(crm.tid, t0 + 61 * DAY).returned == 1
        rows = dict(crm.read(select(Account.id, Account.owner_id)))
        assert rows[idle] is None and rows[busy] == rows[late] == rows[stamped]
        assert rows[busy] == crm.company.owner_id
        # 60 days after each one's activity, in turn.
        assert pool.sweep(crm.tid, t0 + 101 * DAY).returned == 1  # logged late (day 40)
        assert pool.sweep(crm.tid, t0 + 106 * DAY).returned == 1  # stamped (day 45)
        assert pool.sweep(crm.tid, t0 + 109 * DAY).returned == 0
        assert pool.sweep(crm.tid, t0 + 111 * DAY).returned == 1  # busy (day 50)


def test_an_import_marking_an_activity_done_moves_the_clock(crm, drain_jobs, monkeypatch):
    t0 = datetime.now(UTC)
    customer = crm.create("account", name="Customer")["id"]
    crm.create("activity", name="Visit", account=customer, type="visit", status="planned")
    clock = crm.read(select(Account.last_activity_at).where(Account.id == customer))[0][0]
    monkeypatch.setattr(pool, "utcnow", lambda: t0 + 30 * DAY)
    monkeypatch.setattr(activities, "utcnow", lambda: t0 + 20 * DAY)
    # A change that is not "done" leaves the clock alone, as an edit would.
    crm.load(
        "activity",
        [["Name", "Result"], ["Visit", "-"]],
        drain_jobs,
        match_on="name",
        policy="update",
    )
    assert crm.read(select(Account.last_activity_at).where(Account.id == customer))[0][0] == clock
    crm.load(
        "activity",
        [["Name", "Status", "Result"], ["Visit", "done", "ok"]],
        drain_jobs,
        match_on="name",
        policy="update",
    )
    moved = crm.read(select(Account.last_activity_at).where(Account.id == customer))[0][0]
    assert moved == (t0 + 20 * DAY).replace(microsecond=0)  # stamped when marked done


# ---- opportunities ------------------------------------------------------------------------------


def test_imported_opportunities_get_probability_and_stage_history(crm, drain_jobs, monkeypatch):
    now = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
    monkeypatch.setattr(pipeline, "utcnow", lambda: now)
    rows = [
        ["Name", "Stage", "Probability", "Amount", "Reason lost"],
        ["Proposal deal", "proposal", "", "CNY 1000.50", ""],
        ["Sure thing", "won", "90", "", ""],
        ["Gone", "lost", "", "", ""],  # a lost stage needs a reason
        ["Gone for good", "输单", "", "", "Price"],
        ["Just started", "", "", "", ""],  # the stage's default
    ]
    upload = crm.upload("opportunity", rows)
    preview = crm.preview("opportunity", upload["id"], match_on=None)
    by_row = {r["row"]: r for r in preview["rows"]}
    assert by_row[2]["cells"]["Probability"] == "50.00%"  # shown as it will be stored
    assert by_row[4]["action"] == "error"
    assert "Say why the deal was lost" in by_row[4]["errors"]["Reason lost"][0]
    status = crm.run("opportunity", upload["id"], drain_jobs)
    assert status["result"] == {"created": 4, "updated": 0, "skipped": 0, "failed": 1}
    report = crm.errors("opportunity", upload["id"])
    assert [(r[0], r[1]) for r in report] == [("4", "Reason lost")]
    assert "Say why the deal was lost (lost)." in report[0][3]

    deals = {r["name"]: r for r in crm.records("opportunity")}
    assert set(deals) == {"Proposal deal", "Sure thing", "Gone for good", "Just started"}
    assert deals["Proposal deal"]["probability"] == "50.00"
    assert deals["Sure thing"]["probability"] == "90.00"  # the row's own value stays
    assert deals["Gone for good"]["probability"] == "0.00"
    assert deals["Just started"]["stage"] == "qualification"
    assert deals["Just started"]["probability"] == "10.00"

    history = crm.read(
        select(
            pipeline.StageHistory.opportunity_id,
            pipeline.StageHistory.from_stage,
            pipeline.StageHistory.to_stage,
            pipeline.StageHistory.changed_by,
            pipeline.StageHistory.changed_at,
            pipeline.StageHistory.amount,
            pipeline.StageHistory.currency,
        ).order_by(pipeline.StageHistory.id)
    )
    owner = crm.company.owner_id
    assert [tuple(h) for h in history] == [
        (deals["Proposal deal"]["id"], None, "proposal", owner, now, Decimal("1000.50"), "CNY"),
        (deals["Sure thing"]["id"], None, "won", owner, now, None, None),
        (deals["Gone for good"]["id"], None, "lost", owner, now, None, None),
        (deals["Just started"]["id"], None, "qualification", owner, now, None, None),
    ]
    # An imported won deal gets no after-sale follow-ups: it was won before it was imported.
    assert crm.records("activity") == []

    # An update moving the stage adds its change; one leaving the stage adds nothing.
    later = now + DAY
    monkeypatch.setattr(pipeline, "utcnow", lambda: later)
    rows = [["Name", "Stage"], ["Proposal deal", "negotiation"], ["Just started", "qualification"]]
    crm.load("opportunity", rows, drain_jobs, match_on="name", policy="update")
    moved = crm.records("opportunity")[0]
    assert moved["stage"] == "negotiation" and moved["probability"] == "75.00"
    history = crm.read(
        select(pipeline.StageHistory.from_stage, pipeline.StageHistory.to_stage).where(
            pipeline.StageHistory.changed_at == later
        )
    )
    assert [tuple(h) for h in history] == [("proposal", "negotiation")]
