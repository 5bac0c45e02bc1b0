"""Random definitions (levels, periods, time zones, aggregates, summary or matrix) against the
independent computation: Hypothesis looks for a combination where a figure or a drill-down
differs."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reports.test_figures import ALL_AGGREGATES, check
from tests.reports.world import ZONES

LEVELS = [
    {"field": "band"},
    {"field": "city"},
    {"field": "vip"},
    {"field": "staff"},
    {"field": "owner_id"},
    {"field": "parent.band"},
    *({"field": "met_at", "granularity": g} for g in ("day", "week", "month", "quarter", "year")),
    *({"field": "signed", "granularity": g} for g in ("week", "month", "quarter")),
    {"field": "created_at", "granularity": "month"},
]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["summary", "matrix"]),
    rows=st.lists(st.sampled_from(LEVELS), min_size=1, max_size=3, unique_by=lambda x: str(x)),
    columns=st.lists(st.sampled_from(LEVELS), min_size=1, max_size=2, unique_by=lambda x: str(x)),
    aggregates=st.lists(st.sampled_from(ALL_AGGREGATES), min_size=1, max_size=4, unique_by=str),
    zone=st.sampled_from(ZONES),
    desc=st.booleans(),
)
def test_random_reports_agree_with_python(world, kind, rows, columns, aggregates, zone, desc):
    if kind == "matrix":
        rows = rows[:2]
    spec = {
        "object": "account",
        "type": kind,
        "groups": [{**level, "dir": "desc"} if desc else level for level in rows],
        "aggregates": aggregates,
    }
    if kind == "matrix":
        spec["column_groups"] = columns
    check(world, spec, timezone=zone)
