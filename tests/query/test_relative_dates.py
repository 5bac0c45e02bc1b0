"""Relative dates: the exact ranges, and "today" seen from the user's time zone (the person's
own, else the company's), around local midnight in Asia/Shanghai and America/Los_Angeles.

"Now" is frozen through ``custom_fields.query.engine.now`` at 2024-03-10T17:30:00Z: Monday
11 March 01:30 in Shanghai, Sunday 10 March 10:30 in Los Angeles (the day its clocks went
forward, so that local day is 23 hours long).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_fields.query import engine
from custom_fields.query.dates import RELATIVE, WITH_DAYS, day_range
from tests.query.conftest import TokenClient, insert_records, new_member, run_direct, signup

D = dt.date
NOW = dt.datetime(2024, 3, 10, 17, 30, tzinfo=dt.UTC)
SHANGHAI, LOS_ANGELES = "Asia/Shanghai", "America/Los_Angeles"


# ---- the ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op,today,start,end",
    [
        ("today", D(2024, 3, 13), D(2024, 3, 13), D(2024, 3, 14)),
        ("yesterday", D(2024, 3, 1), D(2024, 2, 29), D(2024, 3, 1)),
        ("tomorrow", D(2024, 12, 31), D(2025, 1, 1), D(2025, 1, 2)),
        # weeks start on Monday: Wednesday, Monday and Sunday of the same week
        ("this_week", D(2024, 3, 13), D(2024, 3, 11), D(2024, 3, 18)),
        ("this_week", D(2024, 3, 11), D(2024, 3, 11), D(2024, 3, 18)),
        ("this_week", D(2024, 3, 17), D(2024, 3, 11), D(2024, 3, 18)),
        ("last_week", D(2024, 3, 17), D(2024, 3, 4), D(2024, 3, 11)),
        ("next_week", D(2024, 3, 17), D(2024, 3, 18), D(2024, 3, 25)),
        ("last_week", D(2024, 1, 3), D(2023, 12, 25), D(2024, 1, 1)),
        ("this_month", D(2024, 2, 29), D(2024, 2, 1), D(2024, 3, 1)),
        ("last_month", D(2024, 3, 31), D(2024, 2, 1), D(2024, 3, 1)),
        ("last_month", D(2024, 1, 15), D(2023, 12, 1), D(2024, 1, 1)),
        ("next_month", D(2024, 12, 31), D(2025, 1, 1), D(2025, 2, 1)),
        ("next_month", D(2024, 1, 31), D(2024, 2, 1), D(2024, 3, 1)),
        ("this_quarter", D(2024, 2, 10), D(2024, 1, 1), D(2024, 4, 1)),
        ("this_quarter", D(2024, 12, 31), D(2024, 10, 1), D(2025, 1, 1)),
        ("last_quarter", D(2024, 2, 10), D(2023, 10, 1), D(2024, 1, 1)),
        ("last_quarter", D(2024, 7, 1), D(2024, 4, 1), D(2024, 7, 1)),
        ("next_quarter", D(2024, 11, 30), D(2025, 1, 1), D(2025, 4, 1)),
        ("this_year", D(2024, 6, 1), D(2024, 1, 1), D(2025, 1, 1)),
        ("last_year", D(2024, 1, 1), D(2023, 1, 1), D(2024, 1, 1)),
        ("next_year", D(2024, 12, 31), D(2025, 1, 1), D(2026, 1, 1)),
    ],
)
def test_ranges(op, today, start, end):
    assert day_range(op, today) == (start, end)


def test_n_day_ranges():
    today = D(2024, 3, 1)
    assert day_range("last_n_days", today, 1) == (today, D(2024, 3, 2))  # today only
    assert day_range("last_n_days", today, 7) == (D(2024, 2, 24), D(2024, 3, 2))  # 7 days
    assert day_range("next_n_days", today, 1) == (D(2024, 3, 2), D(2024, 3, 3))  # tomorrow
    assert day_range("next_n_days", today, 30) == (D(2024, 3, 2), D(2024, 4, 1))
    for days in (1, 7, 30, 365):
        start, end = day_range("last_n_days", today, days)
        assert (end - start).days == days and start <= today < end
        start, end = day_range("next_n_days", today, days)
        assert (end - start).days == days and today < start


# ---- through the API, with the clock frozen ----------------------------------------------------


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(engine, "now", lambda: NOW)


class Company:
    """A company in Shanghai with a member in Los Angeles and one without a zone of their own."""

    def __init__(self, app: Any):
        self.app = app
        self.tenant_id, self.slug, self.owner, token = signup(app, "Clocks")
        self.client = TokenClient(app, token)
        self.la, _ = new_member(app, self.tenant_id, "member", timezone=LOS_ANGELES)
        self.sh, _ = new_member(app, self.tenant_id, "member", timezone=SHANGHAI)
        fields = f"/api/v1/t/{self.slug}/objects/account/fields"
        for payload in (
            {"key": "due", "type": "date", "label": "Due"},
            {"key": "met_at", "type": "datetime", "label": "Met"},
        ):
            assert self.client.post(fields, json=payload).status_code == 201

    def add(self, name: str, **values: Any) -> int:
        response = self.client.post(
            f"/api/v1/t/{self.slug}/records/account", json={"name": name, **values}
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def names(self, user: int, *items: str) -> set[str]:
        args = [("f", item) for item in items] + [("limit", "1000"), ("count", "false")]
        response = run_direct(self.app, self.tenant_id, user, "account", args=args)
        assert response.status_code == 200, response.get_json()
        return {r["name"] for r in response.get_json()["data"]}

    def set_zone(self, timezone: str) -> None:
        response = self.client.patch(f"/api/v1/t/{self.slug}/settings", json={"timezone": timezone})
        assert response.status_code == 200, response.get_json()


@pytest.fixture(scope="module")
def company(app) -> Company:
    company = Company(app)
    # Moments around the local midnights (UTC in the values):
    company.add("sh-before-midnight", met_at="2024-03-10T15:59:59Z")  # SH 10th 23:59:59
    company.add("sh-midnight", met_at="2024-03-10T16:00:00Z")  # SH 11th 00:00
    company.add("la-before-midnight", met_at="2024-03-11T06:59:59Z")  # LA 10th 23:59:59 PDT
    company.add("la-midnight", met_at="2024-03-11T07:00:00Z")  # LA 11th 00:00 PDT
    company.add("la-day-start", met_at="2024-03-10T08:00:00Z")  # LA 10th 00:00 PST
    company.add("la-day-before", met_at="2024-03-10T07:59:59Z")  # LA 9th 23:59:59 PST
    company.add("due-10th", due="2024-03-10")
    company.add("due-11th", due="2024-03-11")
    return company


SH_TODAY = {"sh-midnight", "la-before-midnight", "la-midnight"}
SH_YESTERDAY = {"sh-before-midnight", "la-day-start", "la-day-before"}
LA_TODAY = {"sh-before-midnight", "sh-midnight", "la-before-midnight", "la-day-start"}


def test_today_is_the_users_day(company, frozen):
    c = company
    # the company's zone (Shanghai) for the owner, who has none of their own
    assert c.names(c.owner, "met_at:today") == SH_TODAY
    assert c.names(c.sh, "met_at:today") == SH_TODAY
    assert c.names(c.sh, "met_at:yesterday") == SH_YESTERDAY
    assert c.names(c.sh, "met_at:tomorrow") == set()
    assert c.names(c.la, "met_at:today") == LA_TODAY  # a 23-hour day
    assert c.names(c.la, "met_at:yesterday") == {"la-day-before"}
    assert c.names(c.la, "met_at:tomorrow") == {"la-midnight"}
    # date fields: the user's "today" decides the day
    assert c.names(c.sh, "due:today") == {"due-11th"}
    assert c.names(c.la, "due:today") == {"due-10th"}
    assert c.names(c.sh, "due:yesterday") == {"due-10th"}
    assert c.names(c.la, "due:tomorrow") == {"due-11th"}
    # weeks: Monday in Shanghai, Sunday in Los Angeles
    assert c.names(c.sh, "met_at:this_week") == SH_TODAY
    assert c.names(c.sh, "met_at:last_week") == SH_YESTERDAY
    assert c.names(c.la, "met_at:this_week") == LA_TODAY | {"la-day-before"}
    assert c.names(c.la, "met_at:next_week") == {"la-midnight"}
    assert c.names(c.la, "due:this_week") == {"due-10th"}
    assert c.names(c.la, "due:next_week") == {"due-11th"}
    assert c.names(c.sh, "met_at:last_n_days:1") == SH_TODAY
    assert c.names(c.sh, "met_at:last_n_days:2") == SH_TODAY | SH_YESTERDAY
    assert c.names(c.la, "met_at:next_n_days:1") == {"la-midnight"}


def test_dates_and_naive_times_in_values_are_read_in_the_users_zone(company, frozen):
    c = company
    assert c.names(c.sh, "met_at:eq:2024-03-10") == SH_YESTERDAY
    assert c.names(c.la, "met_at:eq:2024-03-10") == LA_TODAY
    assert c.names(c.sh, "met_at:gte:2024-03-11T00:00:00") == SH_TODAY
    assert c.names(c.la, "met_at:gte:2024-03-11T00:00:00") == {"la-midnight"}
    assert c.names(c.la, "met_at:lt:2024-03-10") == {"la-day-before"}
    assert c.names(c.la, "met_at:gt:2024-03-10") == {"la-midnight"}
    # an explicit offset means the same moment for everybody
    for user in (c.sh, c.la):
        assert c.names(user, "met_at:gte:2024-03-11T00:00:00+08:00") == SH_TODAY


def test_the_company_zone_applies_to_people_without_their_own(company, frozen):
    c = company
    c.set_zone(LOS_ANGELES)
    try:
        assert c.names(c.owner, "met_at:today") == LA_TODAY
        assert c.names(c.owner, "due:today") == {"due-10th"}
        assert c.names(c.sh, "met_at:today") == SH_TODAY  # their own zone wins
    finally:
        c.set_zone(SHANGHAI)
    assert c.names(c.owner, "met_at:today") == SH_TODAY


def test_every_relative_operator_selects_its_exact_range(app, frozen):
    """Dates on both sides of every range's edges: the API must pick exactly the days
    :func:`day_range` names (its ranges are pinned by the tests above)."""
    c = Company(app)
    today = NOW.astimezone(ZoneInfo(SHANGHAI)).date()
    ranges = {op: day_range(op, today) for op in RELATIVE}
    ranges |= {f"{op}:{n}": day_range(op, today, n) for op in WITH_DAYS for n in (1, 7, 30)}
    edges = {d for start, end in ranges.values() for d in (start, end)}
    days = sorted({d + dt.timedelta(days=k) for d in edges for k in (-1, 0)})
    named, rows = {}, []
    for day in days:
        name = day.isoformat()
        # a date, and a moment just after the local midnight beginning that day (in UTC)
        local = dt.datetime.combine(day, dt.time(0, 0, 1), ZoneInfo(SHANGHAI))
        moment = local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        rows.append((name, {"due": name, "met_at": moment}))
        named[name] = day
    insert_records(app, c.tenant_id, c.owner, rows)
    for op, (start, end) in ranges.items():
        expected = {name for name, day in named.items() if start <= day < end}
        assert expected, op
        for field in ("due", "met_at"):
            assert c.names(c.owner, f"{field}:{op}") == expected, (field, op)


def test_relative_operators_take_no_value_and_n_days_a_number(company, frozen):
    c = company
    for item, field in (
        ("due:today:2024-01-01", "due"),
        ("due:last_n_days", "due"),
        ("due:last_n_days:-1", "due"),
        ("due:next_n_days:1.5", "due"),
        ("met_at:this_week:x", "met_at"),
    ):
        args = [("f", item)]
        response = run_direct(c.app, c.tenant_id, c.owner, "account", args=args)
        assert response.status_code == 400, item
        assert field in response.get_json()["errors"]["filter"][0]
