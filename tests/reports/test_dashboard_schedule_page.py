"""A dashboard's schedules page (the report's has its test in test_report_pages): adding a
schedule, an error shown on its control, pausing and deleting it."""

from __future__ import annotations

import re

import pytest

from tests.reports.shop import Shop


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


def test_dashboard_schedules_page(shop, login):
    created = shop["manager"].post(shop.url("/dashboards"), json={"name": "Weekly"})
    assert created.status_code == 201
    board_id = created.get_json()["id"]
    client = login(shop.emails["manager"])
    page = f"/t/{shop.slug}/dashboards/{board_id}/schedules"
    html = client.get(page).get_data(as_text=True)
    assert 'data-testid="schedules-empty"' in html and "Weekly" in html

    response = client.post(page, data={"frequency": "monthly", "day": "15", "time": "06:45"})
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    html = client.get(page).get_data(as_text=True)
    assert "06:45" in html and 'data-testid="schedules-empty"' not in html
    listed = shop["manager"].get(shop.url(f"/report-schedules?dashboard_id={board_id}"))
    [schedule] = listed.get_json()
    assert schedule["dashboard_id"] == board_id and schedule["report_id"] is None
    assert schedule["recipients"] == [shop.ids["manager"]] and schedule["day"] == 15

    bad = client.post(page, data={"frequency": "monthly", "day": "40", "time": "06:45"})
    assert bad.status_code == 400 and 'data-error="day"' in bad.get_data(as_text=True)

    schedule_id = int(re.search(r'data-schedule-id="(\d+)"', html).group(1))
    change = f"/t/{shop.slug}/reports/schedules/{schedule_id}"
    paused = client.post(change, data={"action": "pause"})
    assert paused.status_code == 302 and paused.headers["Location"].endswith(page)
    assert "Paused" in client.get(page).get_data(as_text=True)
    assert client.post(change, data={"action": "delete"}).status_code == 302
    assert 'data-testid="schedules-empty"' in client.get(page).get_data(as_text=True)
