"""Opportunities and the pipeline: the stage table, stage history and time in stage on an
explicit clock, probability from the stage, the lost reason, after-sale follow-ups created
once, the summary's sums and weighted amounts, data scope and filters, two tenants, and the
board and settings pages."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from saas.crm import pipeline
from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import tenant_context

T0 = dt.datetime(2030, 1, 31, 2, 0, tzinfo=dt.UTC)  # 10:00 on 31 January in Shanghai


class Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(T0)
    monkeypatch.setattr(pipeline, "utcnow", clock)
    return clock


class Crm:
    def __init__(self, app, company, rest):
        self.app, self.company, self.rest = app, company, rest
        self.slug = company.slug

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def create(self, object_key: str = "opportunity", expect: int = 201, client=None, **body):
        response = (client or self.rest).post(self.url(f"/records/{object_key}"), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def patch(self, record: dict, expect: int = 200, object_key: str = "opportunity", **body):
        response = self.rest.patch(
            self.url(f"/records/{object_key}/{record['id']}"),
            json=body,
            headers={"If-Match": f'"v{record["version"]}"'},
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def history(self, record: dict, client=None) -> dict:
        response = (client or self.rest).get(
            self.url(f"/opportunities/{record['id']}/stage-history")
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def summary(self, client=None, expect: int = 200, **query) -> dict:
        response = (client or self.rest).get(self.url("/pipeline"), query_string=query)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def activities(self, opportunity_id: int) -> list[dict]:
        response = self.rest.get(
            self.url("/records/activity"),
            query_string={"f": f"opportunity:eq:{opportunity_id}", "sort": "due_at"},
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]


@pytest.fixture
def crm(app, make_company, api) -> Crm:
    company = make_company()
    return Crm(app, company, api(company.token))


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


def _stage(summary: dict, code: str | None) -> dict:
    return next(s for s in summary["stages"] if s["code"] == code)


# ---- the stage table ----------------------------------------------------------------------------


def test_new_companies_get_the_default_stage_table(crm):
    body = crm.rest.get(crm.url("/settings/opportunity-stages")).get_json()
    assert [(s["code"], s["probability"], s["kind"]) for s in body["stages"]] == [
        ("qualification", 10, "open"),
        ("needs_analysis", 25, "open"),
        ("proposal", 50, "open"),
        ("negotiation", 75, "open"),
        ("won", 100, "won"),
        ("lost", 0, "lost"),
    ]
    assert body["followup_offsets"] == ["P7D", "P1M", "P3M", "P1Y"]


def test_stage_settings_are_checked_and_used(crm, add_member, api):
    cases = [
        ({"stages": [{"code": "nowhere", "probability": 5, "kind": "open"}]}, "stages[0].code"),
        (
            {"stages": [{"code": "proposal", "probability": 101, "kind": "open"}]},
            "stages[0].probability",
        ),
        ({"stages": [{"code": "proposal", "probability": 40, "kind": "maybe"}]}, "stages[0].kind"),
        ({"stages": [{"code": "won", "probability": 100, "kind": "open"}]}, "stages"),
        ({"followup_offsets": ["P0D"]}, "followup_offsets"),
        ({"followup_offsets": ["one week"]}, "followup_offsets"),
        ({"followup_offsets": ["P11Y"]}, "followup_offsets"),
    ]
    for body, key in cases:
        response = crm.rest.put(crm.url("/settings/opportunity-stages"), json=body)
        assert response.status_code == 400, (body, response.get_json())
        assert key in response.get_json()["errors"], (body, response.get_json())
    member = add_member(crm.company, "member")
    response = api(_token(crm.app, crm.company, member.id)).put(
        crm.url("/settings/opportunity-stages"), json={"stages": []}
    )
    assert response.status_code == 403
    response = crm.rest.put(
        crm.url("/settings/opportunity-stages"),
        json={
            "stages": [{"code": "proposal", "probability": 40, "kind": "open"}],
            "followup_offsets": ["P1Y", "p2w", "P2W"],
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["followup_offsets"] == ["P2W", "P1Y"]
    assert [s["probability"] for s in body["stages"]] == [10, 25, 40, 75, 100, 0]
    deal = crm.create(name="Deal", stage="proposal")
    assert deal["probability"] == "40.00"


# ---- stage changes ------------------------------------------------------------------------------


def test_stage_history_and_time_in_each_stage(crm, clock):
    deal = crm.create(name="Deal", amount="1000")
    clock.advance(days=2)
    deal = crm.patch(deal, stage="proposal", amount="1500")
    clock.advance(days=3, hours=6)
    deal = crm.patch(deal, stage="negotiation")
    clock.advance(hours=12)
    deal = crm.patch(deal, name="Renamed")  # no stage change: no history
    clock.advance(hours=12)
    body = crm.history(deal)
    rows = body["data"]
    assert [(r["from_stage"], r["to_stage"]) for r in rows] == [
        (None, "qualification"),
        ("qualification", "proposal"),
        ("proposal", "negotiation"),
    ]
    day = 24 * 3600
    assert [r["seconds_in_stage"] for r in rows] == [2 * day, 3 * day + 6 * 3600, day]
    assert [r["current"] for r in rows] == [False, False, True]
    assert [r["amount"] for r in rows] == ["1000.00", "1500.00", "1500.00"]
    assert rows[0]["left_at"] == rows[1]["changed_at"]
    assert dt.datetime.fromisoformat(rows[0]["changed_at"]) == T0
    # Back to a stage it was in: both stays count.
    clock.advance(days=1)
    crm.patch(deal, stage="proposal")
    clock.advance(days=1)
    assert crm.history(deal)["time_in_stage"] == {
        "qualification": 2 * day,
        "proposal": 3 * day + 6 * 3600 + day,
        "negotiation": 2 * day,
    }


def test_probability_follows_the_stage_unless_set(crm):
    deal = crm.create(name="Deal")
    assert deal["probability"] == "10.00"
    deal = crm.patch(deal, stage="proposal")
    assert deal["probability"] == "50.00"
    deal = crm.patch(deal, stage="negotiation", probability="60")
    assert deal["probability"] == "60.00"
    deal = crm.patch(deal, amount="10")
    assert deal["probability"] == "60.00"
    assert crm.create(name="Sure", stage="proposal", probability="90")["probability"] == "90.00"


def test_moving_to_lost_needs_a_reason(crm):
    deal = crm.create(name="Deal")
    response = crm.rest.patch(
        crm.url(f"/records/opportunity/{deal['id']}"),
        json={"stage": "lost"},
        headers={"If-Match": f'"v{deal["version"]}"'},
    )
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["lost_reason"]
    assert len(crm.history(deal)["data"]) == 1  # nothing recorded
    lost = crm.patch(deal, stage="lost", lost_reason="Price too high")
    assert (lost["stage"], lost["lost_reason"], lost["probability"]) == (
        "lost",
        "Price too high",
        "0.00",
    )
    crm.create(name="Born lost", stage="lost", expect=400)


def test_winning_creates_the_after_sale_follow_ups_once(crm, clock, add_member):
    member = add_member(crm.company, "member")
    account = crm.create("account", name="Customer")
    deal = crm.create(name="Big deal", account=account["id"], owner_id=member.id)
    deal = crm.patch(deal, stage="won")
    follow_ups = crm.activities(deal["id"])
    # Won on 31 January (company time): a week, a month (end of February), a quarter, a year.
    assert [a["due_at"] for a in follow_ups] == [
        "2030-02-07T01:00:00Z",
        "2030-02-28T01:00:00Z",
        "2030-04-30T01:00:00Z",
        "2031-01-31T01:00:00Z",
    ]
    assert {(a["status"], a["owner_id"], a["account"], a["opportunity"]) for a in follow_ups} == {
        ("planned", member.id, account["id"], deal["id"])
    }
    assert "Big deal" in follow_ups[0]["name"]
    # Reopened and won again: no second set.
    deal = crm.patch(deal, stage="negotiation")
    crm.patch(deal, stage="won")
    assert len(crm.activities(deal["id"])) == 4
    # The company's offsets; none at all.
    crm.rest.put(crm.url("/settings/opportunity-stages"), json={"followup_offsets": ["P2W"]})
    quick = crm.create(name="Quick", stage="won")
    assert [a["due_at"] for a in crm.activities(quick["id"])] == ["2030-02-14T01:00:00Z"]
    crm.rest.put(crm.url("/settings/opportunity-stages"), json={"followup_offsets": []})
    assert crm.activities(crm.create(name="Quiet", stage="won")["id"]) == []


# ---- the summary ---------------------------------------------------------------------------------


def test_pipeline_counts_sums_and_weights(crm):
    crm.create(name="A", stage="proposal", amount="1000", expected_close="2030-03-01")
    crm.create(name="B", stage="proposal", amount="2000.50", expected_close="2030-05-01")
    crm.create(name="C", stage="proposal", amount="1000", probability="20")
    crm.create(name="D", stage="proposal")  # no amount: counted, adds nothing
    crm.create(name="E", stage="negotiation", amount={"amount": "100", "currency": "USD"})
    crm.create(name="F", stage="won", amount="500")
    crm.create(name="G", stage="lost", amount="700", lost_reason="Budget")
    body = crm.summary()
    assert body["currency"] == "CNY"
    assert [s["code"] for s in body["stages"]] == [
        "qualification",
        "needs_analysis",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    proposal = _stage(body, "proposal")
    # 1000 × 50 % + 2000.50 × 50 % + 1000 × 20 % (its own probability)
    assert (proposal["count"], proposal["amount"], proposal["weighted"]) == (
        4,
        "4000.50",
        "1700.25",
    )
    negotiation = _stage(body, "negotiation")
    assert (negotiation["count"], negotiation["amount"]) == (1, "0")
    assert negotiation["other_currencies"] == [
        {"currency": "USD", "count": 1, "amount": "100.00", "weighted": "75.00"}
    ]
    assert (_stage(body, "won")["weighted"], _stage(body, "lost")["weighted"]) == ("500.00", "0.00")
    assert body["totals"]["open"] == {
        "currency": "CNY",
        "count": 5,
        "amount": "4000.50",
        "weighted": "1700.25",
    }
    assert body["totals"]["won"]["amount"] == "500.00"
    # Expected close: a range (inclusive), a named period.
    ranged = crm.summary(close_from="2030-02-01", close_to="2030-03-01")
    assert (_stage(ranged, "proposal")["count"], _stage(ranged, "proposal")["amount"]) == (
        1,
        "1000.00",
    )
    assert _stage(crm.summary(period="this_year"), "proposal")["count"] == 0
    for bad, key in (({"period": "someday"}, "period"), ({"close_to": "soon"}, "close_to")):
        response = crm.rest.get(crm.url("/pipeline"), query_string=bad)
        assert response.status_code == 400
        assert key in response.get_json()["errors"]


def test_pipeline_follows_data_scope_owner_and_team(app, crm, add_member, api):
    alice, bob = add_member(crm.company, "member"), add_member(crm.company, "member")
    team = crm.rest.post(crm.url("/teams"), json={"name": "North"}).get_json()["id"]
    crm.rest.patch(crm.url(f"/users/{alice.id}"), json={"team_id": team})
    crm.create(name="Alice 1", stage="proposal", amount="100", owner_id=alice.id)
    crm.create(name="Alice 2", stage="proposal", amount="300", owner_id=alice.id)
    crm.create(name="Bob", stage="proposal", amount="1000", owner_id=bob.id)
    assert _stage(crm.summary(), "proposal")["amount"] == "1400.00"
    assert _stage(crm.summary(owner_id=bob.id), "proposal")["amount"] == "1000.00"
    assert _stage(crm.summary(team_id=team), "proposal")["amount"] == "400.00"
    response = crm.rest.get(crm.url("/pipeline"), query_string={"team_id": 999999999})
    assert response.status_code == 400
    assert "team_id" in response.get_json()["errors"]
    response = crm.rest.patch(crm.url("/roles/member"), json={"data_scope": "own"})
    assert response.status_code == 200, response.get_json()
    alice_api = api(_token(app, crm.company, alice.id))
    mine = crm.summary(client=alice_api)
    assert (_stage(mine, "proposal")["count"], _stage(mine, "proposal")["amount"]) == (2, "400.00")
    # Bob's opportunity stays out even when asked for by owner.
    assert _stage(crm.summary(client=alice_api, owner_id=bob.id), "proposal")["count"] == 0


def test_two_companies_never_meet(crm, make_company, api):
    other = make_company()
    other_crm = Crm(crm.app, other, api(other.token))
    theirs = other_crm.create(name="Theirs", stage="proposal", amount="999")
    crm.create(name="Ours", stage="proposal", amount="1")
    assert _stage(crm.summary(), "proposal")["amount"] == "1.00"
    response = crm.rest.get(crm.url(f"/opportunities/{theirs['id']}/stage-history"))
    assert response.status_code == 404
    with crm.app.app_context(), tenant_context(crm.company.tenant_id, db.session):
        seen = {
            r.opportunity_id for r in db.session.execute(select(pipeline.StageHistory)).scalars()
        }
    assert theirs["id"] not in seen


@given(
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2080, 12, 31)),
    number=st.integers(min_value=1, max_value=120),
    unit=st.sampled_from("DWMY"),
)
def test_offsets_land_on_a_real_day_the_right_distance_away(day, number, unit):
    number = min(number, pipeline.OFFSET_LIMITS[unit])
    due = pipeline.add_offset(day, f"P{number}{unit}")
    if unit in "DW":
        assert (due - day).days == number * (7 if unit == "W" else 1)
    else:
        months = number * (12 if unit == "Y" else 1)
        assert (due.year - day.year) * 12 + due.month - day.month == months
        assert due.day == day.day or (due.day < day.day and (due + dt.timedelta(days=1)).day == 1)


# ---- pages --------------------------------------------------------------------------------------


def test_board_shows_columns_and_moves_cards(crm, login):
    deal = crm.create(name="Board deal", stage="proposal", amount="1000")
    web = login(crm.company.owner_email)
    page = web.get(f"/t/{crm.slug}/pipeline")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('data-testid="pipeline-column"') == 6
    assert f'data-id="{deal["id"]}"' in html
    # A move without a reason to a lost stage is refused and says why; with one, it moves.
    response = web.post(
        f"/t/{crm.slug}/pipeline/{deal['id']}/move",
        data={"stage": "lost", "version": str(deal["version"])},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert "lost_reason" in response.get_json()["errors"]
    response = web.post(
        f"/t/{crm.slug}/pipeline/{deal['id']}/move",
        data={"stage": "lost", "version": str(deal["version"]), "lost_reason": "Too slow"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == deal["version"] + 1
    # The keyboard way: the card's select posts a form and comes back to the board.
    response = web.post(
        f"/t/{crm.slug}/pipeline/{deal['id']}/move",
        data={"stage": "negotiation", "version": str(deal["version"] + 1)},
    )
    assert response.status_code == 302
    record = crm.rest.get(crm.url(f"/records/opportunity/{deal['id']}")).get_json()
    assert record["stage"] == "negotiation"
    detail = web.get(f"/t/{crm.slug}/o/opportunity/{deal['id']}").get_data(as_text=True)
    assert 'data-testid="stage-history"' in detail
    assert detail.count('data-testid="stage-history-row"') == 3


def test_stage_settings_page(crm, login, add_member):
    web = login(crm.company.owner_email)
    page = web.get(f"/t/{crm.slug}/settings/opportunity-stages")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('data-testid="stage-row"') == 6
    response = web.post(
        f"/t/{crm.slug}/settings/opportunity-stages",
        data={"stage-proposal-probability": "lots", "followup_offsets": "P1W"},
    )
    assert response.status_code == 400
    assert 'data-field="stage-proposal-probability"' in response.get_data(as_text=True)
    response = web.post(
        f"/t/{crm.slug}/settings/opportunity-stages",
        data={
            "stage-qualification-probability": "5",
            "stage-qualification-kind": "open",
            "followup_offsets": "P1W, P6M",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    body = crm.rest.get(crm.url("/settings/opportunity-stages")).get_json()
    assert body["stages"][0]["probability"] == 5
    assert body["followup_offsets"] == ["P1W", "P6M"]
    member = add_member(crm.company, "member")
    assert login(member.email).get(f"/t/{crm.slug}/settings/opportunity-stages").status_code == 403
