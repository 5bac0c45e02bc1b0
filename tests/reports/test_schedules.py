"""Scheduled delivery: the next due moment across daylight saving changes and short months,
a moving clock through the hourly entry point and a real RQ worker, the mail in the outbox with
a workbook whose figures are the owner's (scope included), once per period however often the
schedulers run, who may send to whom, and another company's reports."""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections import Counter
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select

from saas.extensions import db
from saas.reports.models import ReportDelivery
from saas.reports.schedules import next_run, schedule_deliveries
from tenants.context import tenant_context
from tenants.models import OutboxMessage
from tests.reports.shop import Shop

UTC = dt.UTC
LA = "America/Los_Angeles"


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


# ---- when --------------------------------------------------------------------------------------


def test_daily_keeps_the_local_time_across_daylight_saving():
    eight = dt.time(8, 0)
    moment = _utc("2026-03-06T17:00:00+00:00")  # Friday 09:00 in Los Angeles (PST)
    seen = []
    for _ in range(4):
        moment = next_run("daily", None, None, eight, LA, moment)
        seen.append(moment)
    assert [m.astimezone(ZoneInfo(LA)).strftime("%m-%d %H:%M") for m in seen] == [
        "03-07 08:00",
        "03-08 08:00",
        "03-09 08:00",
        "03-10 08:00",
    ]
    # 16:00 UTC before the change (UTC-8), 15:00 UTC after it (UTC-7).
    assert [m.hour for m in seen] == [16, 15, 15, 15]


def test_a_skipped_local_time_moves_forward_and_a_repeated_one_comes_once():
    skipped = next_run("daily", None, None, dt.time(2, 30), LA, _utc("2026-03-08T00:00:00Z"))
    # 02:30 does not exist on 8 March in Los Angeles: 03:30 PDT.
    assert skipped == _utc("2026-03-08T10:30:00Z")
    first = next_run("daily", None, None, dt.time(1, 30), LA, _utc("2026-11-01T07:00:00Z"))
    assert first == _utc("2026-11-01T08:30:00Z")  # 01:30 PDT, the first of the two
    after = next_run("daily", None, None, dt.time(1, 30), LA, first)
    assert after == _utc("2026-11-02T09:30:00Z")  # the next day, not the repeated hour


def test_weekly_and_monthly():
    shanghai = "Asia/Shanghai"
    # Monday 09:00 Shanghai, asked on Wednesday 2026-01-07.
    monday = next_run("weekly", 0, None, dt.time(9), shanghai, _utc("2026-01-07T00:00:00Z"))
    assert monday == _utc("2026-01-12T01:00:00Z")
    # The 31st in a month of 28 days is its last day; then back to the 31st.
    end = next_run("monthly", None, 31, dt.time(18), shanghai, _utc("2026-02-01T00:00:00Z"))
    assert end == _utc("2026-02-28T10:00:00Z")
    assert next_run("monthly", None, 31, dt.time(18), shanghai, end) == _utc("2026-03-31T10:00:00Z")
    # Exactly at the moment is not "after" it.
    assert next_run("daily", None, None, dt.time(9), shanghai, monday) == _utc(
        "2026-01-13T01:00:00Z"
    )


# ---- delivery ----------------------------------------------------------------------------------


def _schedule(shop: Shop, person: str, report_id: int, expect: int = 201, **body) -> dict:
    payload = {"report_id": report_id, "frequency": "daily", "time": "08:00", **body}
    response = shop[person].post(shop.url("/report-schedules"), json=payload)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _outbox(app, shop: Shop) -> list[OutboxMessage]:
    with app.app_context(), tenant_context(shop.tenant_id, db.session):
        rows = list(
            db.session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "report.scheduled")
                .order_by(OutboxMessage.id)
            ).scalars()
        )
        db.session.expunge_all()
        return rows


def _workbook_counts(message: OutboxMessage) -> dict[str, int]:
    (attachment,) = message.attachments
    assert attachment["filename"].endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(attachment["data"])))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Band")
    count_col = rows[header_at].index("Record count")
    return {r[0]: r[count_col] for r in rows[header_at + 1 :] if r[0]}


def _tick(app, shop: Shop, when: dt.datetime) -> int:
    """The hourly entry point with the clock at ``when`` (every company's schedules); answers
    how many deliveries this company's schedules queued."""
    with app.app_context(), tenant_context(shop.tenant_id, db.session):
        due = queue_due_count(when)
    with app.app_context():
        schedule_deliveries(when)
    return due


def queue_due_count(when: dt.datetime) -> int:
    from saas.reports.models import ReportSchedule

    return len(
        db.session.execute(
            select(ReportSchedule.id).where(
                ReportSchedule.active.is_(True), ReportSchedule.next_run_at <= when
            )
        ).all()
    )


def test_a_due_schedule_mails_the_owners_figures_once(app, shop, drain_jobs):
    shop.scope("member", "own")
    report = shop.create("manager", visibility="tenant")
    # Ann schedules the shared report to herself: it runs as Ann (her rows only).
    schedule = _schedule(shop, "ann", report["id"])
    assert schedule["recipients"] == [shop.ids["ann"]]
    due = _utc(schedule["next_run_at"])
    local = due.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute) == (8, 0)
    assert due > dt.datetime.now(UTC)
    # Before it is due nothing goes out.
    assert _tick(app, shop, due - dt.timedelta(minutes=1)) == 0
    # Two schedulers tick after it is due: one delivery.
    assert _tick(app, shop, due + dt.timedelta(minutes=5)) == 1
    assert _tick(app, shop, due + dt.timedelta(minutes=6)) == 1
    drain_jobs()
    mails = _outbox(app, shop)
    assert [m.to_address for m in mails] == [shop.emails["ann"]]
    assert "Customers by band" in mails[0].subject
    counts = _workbook_counts(mails[0])
    expected = Counter((r[1] or "(empty)") for r in shop.visible("ann"))
    assert counts == {**expected, "Total": sum(expected.values())}
    # The schedule moved to the next morning; the period is recorded as sent.
    now = shop["ann"].get(shop.url(f"/report-schedules/{schedule['id']}")).get_json()
    assert _utc(now["next_run_at"]) == due + dt.timedelta(days=1)
    assert now["last_status"] == "sent"
    assert _tick(app, shop, due + dt.timedelta(minutes=7)) == 0
    drain_jobs()
    assert len(_outbox(app, shop)) == 1
    with app.app_context(), tenant_context(shop.tenant_id, db.session):
        periods = [
            (d.period, d.status) for d in db.session.execute(select(ReportDelivery)).scalars()
        ]
    assert periods == [(due.strftime("%Y-%m-%dT%H:%M:%SZ"), "sent")]
    # The next day it goes out again, in its own period.
    assert _tick(app, shop, due + dt.timedelta(days=1, minutes=1)) == 1
    drain_jobs()
    assert len(_outbox(app, shop)) == 2


def test_a_manager_sends_to_colleagues(app, shop, drain_jobs):
    report = shop.create("manager", visibility="tenant")
    schedule = _schedule(
        shop,
        "manager",
        report["id"],
        frequency="weekly",
        weekday=0,
        time="07:30",
        recipients=[shop.ids["ann"], shop.ids["bob"], shop.ids["manager"]],
    )
    due = _utc(schedule["next_run_at"])
    assert due.astimezone(ZoneInfo("Asia/Shanghai")).weekday() == 0
    assert _tick(app, shop, due + dt.timedelta(seconds=1)) == 1
    drain_jobs()
    mails = _outbox(app, shop)
    assert sorted(m.to_address for m in mails) == sorted(
        shop.emails[p] for p in ("ann", "bob", "manager")
    )
    # Everyone gets the manager's figures (all rows).
    counts = _workbook_counts(mails[0])
    assert counts["Total"] == len(shop.visible())


def test_who_may_schedule_what(shop, make_company, api):
    report = shop.create("manager", visibility="tenant")
    private = shop.create("manager", name="Manager's own")
    # A salesperson sends to herself only.
    response = shop["ann"].post(
        shop.url("/report-schedules"),
        json={
            "report_id": report["id"],
            "frequency": "daily",
            "time": "08:00",
            "recipients": [shop.ids["bob"]],
        },
    )
    assert response.status_code == 400 and "recipients" in response.get_json()["errors"]
    response = shop["ann"].post(
        shop.url("/report-schedules"),
        json={"report_id": private["id"], "frequency": "daily", "time": "08:00"},
    )
    assert response.status_code == 400 and "report_id" in response.get_json()["errors"]
    cases = [
        ({"frequency": "hourly"}, "frequency"),
        ({"frequency": "weekly"}, "weekday"),
        ({"frequency": "monthly", "day": 32}, "day"),
        ({"time": "25:00"}, "time"),
        ({"format": "csv"}, "format"),
        ({"recipients": [10**12]}, "recipients"),
        ({"report_id": None}, "report_id"),
    ]
    for change, where in cases:
        body = {"report_id": report["id"], "frequency": "daily", "time": "08:00", **change}
        response = shop["manager"].post(shop.url("/report-schedules"), json=body)
        assert response.status_code == 400, (change, response.get_json())
        assert where in response.get_json()["errors"], (where, response.get_json())
    # Schedules are their owner's (and the administrators').
    mine = _schedule(shop, "ann", report["id"])
    assert shop["bob"].get(shop.url(f"/report-schedules/{mine['id']}")).status_code == 404
    assert shop.owner.get(shop.url(f"/report-schedules/{mine['id']}")).status_code == 200
    # Pausing clears the next run; resuming computes it again.
    url = shop.url(f"/report-schedules/{mine['id']}")
    paused = shop["ann"].patch(url, json={"active": False}).get_json()
    assert paused["next_run_at"] is None
    resumed = shop["ann"].patch(url, json={"active": True, "time": "09:15"}).get_json()
    local = _utc(resumed["next_run_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute) == (9, 15)
    # Another company cannot schedule this company's report.
    other = make_company()
    response = api(other.token).post(
        f"/api/v1/t/{other.slug}/report-schedules",
        json={"report_id": report["id"], "frequency": "daily", "time": "08:00"},
    )
    assert response.status_code == 400
    assert (
        api(other.token).get(f"/api/v1/t/{other.slug}/report-schedules/{mine['id']}").status_code
        == 404
    )
    assert shop["ann"].delete(url).status_code == 204


def test_a_report_that_cannot_run_is_recorded_as_failed(app, shop, drain_jobs):
    report = shop.create("ann", name="Ann's revenue")
    schedule = _schedule(shop, "ann", report["id"])
    # The field the report sums is hidden from salespeople since.
    response = shop.owner.put(
        shop.url("/objects/account/fields/revenue/access"), json={"member": "hidden"}
    )
    assert response.status_code == 200
    due = _utc(schedule["next_run_at"])
    assert _tick(app, shop, due + dt.timedelta(minutes=1)) == 1
    drain_jobs()
    assert _outbox(app, shop) == []
    body = shop["ann"].get(shop.url(f"/report-schedules/{schedule['id']}")).get_json()
    assert body["last_status"] == "failed" and body["last_error"]
    assert _utc(body["next_run_at"]) == due + dt.timedelta(days=1)


def test_the_hourly_entry_runs_through_the_workers_job_runner(app, shop, drain_jobs):
    """What the worker's cron scheduler queues: ``run_tenant_job`` without a tenant, by name."""
    from saas import jobs

    assert ("saas.reports.schedules.schedule_deliveries", 3600) in jobs.PERIODIC
    report = shop.create("manager", visibility="tenant")
    schedule = _schedule(shop, "manager", report["id"])
    with app.app_context():
        queued = jobs.run_tenant_job(None, "saas.reports.schedules.schedule_deliveries", (), {})
    assert queued >= 0  # not due yet at the real time
    due = _utc(schedule["next_run_at"])
    with app.app_context():
        jobs.run_tenant_job(
            None,
            "saas.reports.schedules.schedule_deliveries",
            ((due + dt.timedelta(minutes=2)).isoformat(),),
            {},
        )
    drain_jobs()
    assert [m.to_address for m in _outbox(app, shop)] == [shop.emails["manager"]]


def test_a_pdf_delivery_of_a_dashboard(app, shop, drain_jobs, tmp_path):
    """A dashboard as a PDF: one table per widget, with the dashboard's saved filter, in the
    PDF's text (Chinese fonts embedded by the print renderer)."""
    import subprocess

    report = shop.create("manager", visibility="tenant", name="客户分布 Bands")
    board = (
        shop["manager"]
        .post(
            shop.url("/dashboards"),
            json={
                "name": "Weekly board",
                "layout": [{"report_id": report["id"]}],
                "filters": {"owner_id": shop.ids["bob"]},
            },
        )
        .get_json()
    )
    response = shop["manager"].post(
        shop.url("/report-schedules"),
        json={"dashboard_id": board["id"], "frequency": "daily", "time": "06:00", "format": "pdf"},
    )
    assert response.status_code == 201, response.get_json()
    schedule = response.get_json()
    due = _utc(schedule["next_run_at"])
    assert _tick(app, shop, due + dt.timedelta(minutes=1)) == 1
    drain_jobs()
    (mail_message,) = _outbox(app, shop)
    (attachment,) = mail_message.attachments
    assert attachment["content_type"] == "application/pdf"
    assert attachment["filename"].startswith("Weekly board") and attachment["filename"].endswith(
        ".pdf"
    )
    path = tmp_path / "board.pdf"
    path.write_bytes(base64.b64decode(attachment["data"]))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    assert "yes" in fonts.stdout  # the fonts are embedded
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Weekly board" in text and "客户分布 Bands" in text
    bob = Counter((r[1] or "(empty)") for r in shop.visible("bob"))
    total_line = next(line for line in text.splitlines() if line.strip().startswith("Total"))
    assert total_line.split()[1] == str(sum(bob.values()))


def test_recipients_are_checked_again_at_each_delivery(app, shop, drain_jobs):
    """Rights change after a schedule is saved: a recipient whose role no longer views the
    report's object gets nothing, and an owner who is no longer a manager mails only
    themselves."""
    report = shop.create("manager", visibility="tenant")
    schedule = _schedule(
        shop,
        "manager",
        report["id"],
        recipients=[shop.ids["ann"], shop.ids["manager"]],
    )
    rights = {"view": False, "create": False, "edit": False, "delete": False, "export": False}
    response = shop.owner.put(
        shop.url("/roles/member/permissions"), json={"objects": {"account": rights}}
    )
    assert response.status_code == 200, response.get_json()
    due = _utc(schedule["next_run_at"])
    assert _tick(app, shop, due + dt.timedelta(seconds=1)) == 1
    drain_jobs()
    assert [m.to_address for m in _outbox(app, shop)] == [shop.emails["manager"]]
    # Back to viewing, but the owner of the schedule is now a plain member.
    assert shop.owner.delete(shop.url("/roles/member/permissions")).status_code == 200
    demoted = shop.owner.patch(shop.url(f"/users/{shop.ids['manager']}"), json={"role": "member"})
    assert demoted.status_code == 200, demoted.get_json()
    assert _tick(app, shop, due + dt.timedelta(days=1, seconds=1)) == 1
    drain_jobs()
    assert [m.to_address for m in _outbox(app, shop)] == [shop.emails["manager"]] * 2
