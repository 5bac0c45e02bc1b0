"""Indexed fields get per-tenant partial expression indexes that the query engine's SQL matches.

Everything runs for real: fields are saved through the API, a real RQ worker (``drain_jobs``)
builds the indexes as the owner with ``CREATE INDEX CONCURRENTLY``, and the plans are
PostgreSQL's own ``EXPLAIN`` of the statements ``engine.run_query`` executed, with their
parameters, on the app role's connection (row-level security on) or on the owner's (off).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine, make_url

ROWS = 20_000


def _owner(settings) -> psycopg.Connection:
    url = make_url(settings.database_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _fill(settings, company, rows: int = ROWS) -> None:
    """``rows`` accounts with budget (currency), band (picklist) and city (text) values, in the
    stored forms of those types, written directly as the owner."""
    with _owner(settings) as conn:
        conn.execute(
            """
            INSERT INTO accounts (tenant_id, name, owner_id, created_by, updated_by, version, data)
            SELECT %(tenant)s, 'Account ' || g, %(owner)s, %(owner)s, %(owner)s, 1,
                   jsonb_build_object(
                       'budget', jsonb_build_object('amount', ((g * 7919) %% 100000)::text || '.00',
                                                    'currency', 'CNY'),
                       'band', (ARRAY['A', 'B', 'C'])[1 + g %% 3],
                       'city', 'city ' || (g %% 997))
            FROM generate_series(1, %(rows)s) AS g
            """,
            {"tenant": company.tenant_id, "owner": company.owner_id, "rows": rows},
        )
        conn.execute("ANALYZE accounts")


def _indexes(settings, company, field_id: int | None = None) -> dict[str, str]:
    """Index name → definition of the company's field indexes (of one field, or all)."""
    prefix = f"cf_t{company.tenant_id}_" + (f"f{field_id}_" if field_id else "")
    with _owner(settings) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE %s",
            (prefix.replace("_", r"\_") + "%",),
        ).fetchall()
    return dict(rows)


def _statistics(settings, company) -> list[str]:
    with _owner(settings) as conn:
        rows = conn.execute(
            "SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE %s",
            (f"cf\\_t{company.tenant_id}\\_%",),
        ).fetchall()
    return [r[0] for r in rows]


def _field_id(app, company, key: str) -> int:
    """The id of an account field (other objects' system fields may share the key)."""
    from custom_fields.models import FieldDefinition, ObjectDefinition
    from saas.extensions import db
    from tenants.context import tenant_context

    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return db.session.execute(
            select(FieldDefinition.id)
            .join(ObjectDefinition, ObjectDefinition.id == FieldDefinition.object_id)
            .where(ObjectDefinition.key == "account", FieldDefinition.key == key)
        ).scalar_one()


@pytest.fixture
def crm(make_company, api):
    """A company with an indexed currency field, a picklist and a text field on accounts."""

    def make(indexed: bool = True):
        company = make_company()
        client = api(company.token)
        base = f"/api/v1/t/{company.slug}/objects/account/fields"
        for payload in (
            {"key": "budget", "type": "currency", "label": "Budget", "indexed": indexed},
            {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
            {"key": "city", "type": "text", "label": "City"},
        ):
            response = client.post(base, json=payload)
            assert response.status_code == 201, response.get_json()
        return company, client, base

    return make


@contextmanager
def _statements(app) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the app sends to PostgreSQL meanwhile, with its parameters, through any
    of its engines (lists read through the list reader's when there is one)."""
    seen: list[tuple[str, Any]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", listener)


def _run_and_explain(app, company, body: dict[str, Any], *, as_owner=None) -> tuple[Result, str]:
    """Run ``body`` (the API's query JSON) through ``engine.run_query`` and EXPLAIN the page
    query it executed: on the same app-role connection and transaction (row-level security on),
    or on the owner's connection when ``as_owner`` is the settings."""
    from custom_fields.definitions import schemas
    from custom_fields.query import engine
    from saas.extensions import db
    from saas.records.queries import from_body
    from tenants.context import tenant_context
    from tenants.services import membership

    with (
        app.test_request_context(),
        tenant_context(company.tenant_id, db.session, user_id=company.owner_id),
    ):
        actor = membership(company.owner_id)
        schema = schemas(company.tenant_id)["account"]
        spec, _columns = from_body({"count": False, **body})
        with _statements(app) as seen:
            page = engine.run_query(schema, actor, spec, timezone="Asia/Shanghai")
        statement, parameters = next(
            (s, p) for s, p in reversed(seen) if "FROM accounts" in s and "LIMIT" in s
        )
        if as_owner is None:
            rows = db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
            plan = "\n".join(r[0] for r in rows)
        else:
            with _owner(as_owner) as conn:
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + statement, parameters))
        result = Result([(r.tenant_id, r.data) for r in page.rows], page.next_cursor)
        db.session.rollback()
    return result, plan


@dataclass
class Result:
    rows: list[tuple[int, dict[str, Any]]]
    next_cursor: str | None


def _state(client, base: str, key: str) -> str | None:
    response = client.get(f"{base}/{key}")
    assert response.status_code == 200
    return response.get_json()["index_state"]


def test_flagging_a_field_builds_indexes_that_sorts_use(app, settings, crm, drain_jobs):
    company, client, base = crm(indexed=False)
    assert _state(client, base, "budget") is None
    _fill(settings, company)
    response = client.patch(f"{base}/budget", json={"indexed": True})
    assert response.status_code == 200
    assert response.get_json()["index_state"] == "building"
    drain_jobs()
    assert _state(client, base, "budget") == "ready"
    field_id = _field_id(app, company, "budget")
    job = client.get(f"/api/v1/t/{company.slug}/jobs/field-index:{field_id}").get_json()
    assert job["status"] == "succeeded", job
    (name, definition), *others = _indexes(settings, company, field_id).items()
    assert not others
    assert f"WHERE ((tenant_id = {company.tenant_id}) AND (deleted_at IS NULL))" in definition
    assert "(data #>> '{budget,amount}'::text[]))::numeric) NULLS FIRST, id)" in definition

    # The app role's own plan (row-level security on): a first page and a page further on, by
    # cursor, read the index in order instead of sorting the tenant's rows.
    sort = [{"field": "budget", "dir": "desc"}]
    page, plan = _run_and_explain(app, company, {"sort": sort})
    assert f"Index Scan Backward using {name}" in plan, plan
    amounts = [data["budget"]["amount"] for _tenant, data in page.rows]
    assert [float(a) for a in amounts] == sorted((float(a) for a in amounts), reverse=True)
    for _ in range(3):
        page, plan = _run_and_explain(app, company, {"sort": sort, "cursor": page.next_cursor})
        assert f"Index Scan Backward using {name}" in plan, plan

    # Ascending uses the same index forwards, with the id tie-break from the index as well.
    _page, plan = _run_and_explain(app, company, {"sort": [{"field": "budget"}]})
    assert f"Index Scan using {name}" in plan, plan


def test_filters_match_the_index_expression(app, settings, crm, drain_jobs):
    """Without row-level security in the way (the owner's connection), the planner takes the
    filter on the field as an index condition: the index expression is the engine's."""
    company, client, base = crm()
    for key in ("band", "city"):
        assert client.patch(f"{base}/{key}", json={"indexed": True}).status_code == 200
    _fill(settings, company)
    drain_jobs()
    indexes = _indexes(settings, company)
    by_role = {name.split("_")[3]: name for name in indexes}
    # budget: sort (s); band: sort by the value order (s) and value (v); city: sort (s), text (t)
    assert sorted(name.split("_")[3] for name in indexes) == ["s", "s", "s", "t", "v"]
    # Statistics on the values of band and city (not on budget: a cast could meet another
    # tenant's value of another type under the same key when the whole table is analysed).
    assert len(_statistics(settings, company)) == 2
    budget = _indexes(settings, company, _field_id(app, company, "budget"))

    between = {"field": "budget", "op": "between", "value": [1000, 1200]}
    _page, plan = _run_and_explain(app, company, {"filter": between}, as_owner=settings)
    assert any(n in plan for n in budget) and "Index Cond" in plan, plan

    band = {"field": "band", "op": "eq", "value": "B"}
    _page, plan = _run_and_explain(
        app, company, {"filter": band, "sort": [{"field": "budget", "dir": "desc"}]}
    )
    assert any(n in plan for n in budget), plan  # sorted by budget while filtering on band

    contains = {"field": "city", "op": "contains", "value": "ty 99"}
    _page, plan = _run_and_explain(app, company, {"filter": contains}, as_owner=settings)
    assert by_role["t"] in plan and "Index Cond" in plan, plan

    assert client.patch(f"{base}/city", json={"indexed": False}).status_code == 200
    drain_jobs()
    assert len(_statistics(settings, company)) == 1


def _fill_dates(settings, company, rows: int = ROWS) -> None:
    """``rows`` accounts with a date (``signed_on``) and a date-time (``met_at``) going back
    about three years from now, in the types' stored forms; every tenth has neither."""
    with _owner(settings) as conn:
        conn.execute(
            """
            INSERT INTO accounts (tenant_id, name, owner_id, created_by, updated_by, version, data)
            SELECT %(tenant)s, 'Account ' || g, %(owner)s, %(owner)s, %(owner)s, 1,
                   CASE WHEN g %% 10 = 0 THEN '{}'::jsonb ELSE jsonb_build_object(
                       'signed_on', to_char(current_date - g %% 1100, 'YYYY-MM-DD'),
                       'met_at', to_char(date_trunc('second', now() AT TIME ZONE 'UTC')
                                         - g * interval '97 minutes',
                                         'YYYY-MM-DD"T"HH24:MI:SS"Z"')) END
            FROM generate_series(1, %(rows)s) AS g
            """,
            {"tenant": company.tenant_id, "owner": company.owner_id, "rows": rows},
        )
        conn.execute("ANALYZE accounts")


def test_date_and_datetime_fields_are_indexed_and_filters_use_the_index(
    app, settings, crm, drain_jobs
):
    """A date's and a date-time's SQL is IMMUTABLE (built from the stored digits, not cast from
    text): the build succeeds, and a relative-date filter is an index condition without
    row-level security in the way."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from custom_fields import types

    company, client, base = crm(indexed=False)
    for payload in (
        {"key": "signed_on", "type": "date", "label": "Signed on", "indexed": True},
        {"key": "met_at", "type": "datetime", "label": "Met at", "indexed": True},
    ):
        response = client.post(base, json=payload)
        assert response.status_code == 201, response.get_json()
    _fill_dates(settings, company)
    drain_jobs()
    shanghai = ZoneInfo("Asia/Shanghai")  # the zone _run_and_explain queries in
    today = dt.datetime.now(shanghai).date()
    for key, type_name, function in (
        ("signed_on", "date", "make_date("),
        ("met_at", "datetime", "make_timestamp("),
    ):
        assert _state(client, base, key) == "ready"
        field_id = _field_id(app, company, key)
        job = client.get(f"/api/v1/t/{company.slug}/jobs/field-index:{field_id}").get_json()
        assert job["status"] == "succeeded", job
        (name, definition), *others = _indexes(settings, company, field_id).items()
        assert not others
        assert function in definition and "NULLS FIRST, id)" in definition, definition

        last_week = {"field": key, "op": "last_n_days", "value": 7}
        page, plan = _run_and_explain(app, company, {"filter": last_week}, as_owner=settings)
        assert name in plan and "Index Cond" in plan, plan
        assert page.rows
        for _tenant, data in page.rows:
            day = types.get(type_name).from_storage(data[key])
            if isinstance(day, dt.datetime):
                day = day.astimezone(shanghai).date()
            assert today - dt.timedelta(days=6) <= day <= today, data[key]

        # The app role's sorted list reads the index in order, as for the other types.
        newest = {"sort": [{"field": key, "dir": "desc"}]}
        page, plan = _run_and_explain(app, company, newest)
        assert f"Index Scan Backward using {name}" in plan, plan
        values = [data.get(key) for _tenant, data in page.rows]
        assert None not in values and values == sorted(values, reverse=True)


def test_row_level_security_keeps_jsonb_filters_off_the_index(app, settings, crm, drain_jobs):
    """What the app role gets today: PostgreSQL applies a row-level security policy before any
    condition that is not leakproof, and no expression on JSONB is (``->>``, the casts, numeric
    comparison, ILIKE are not), so such a condition is never an index condition for the app:
    the index serves the order, the filter is checked on the rows it reads. If this starts
    failing, the planner can now use these indexes for filters: update docs/fields.md."""
    company, _client, _base = crm()
    _fill(settings, company)
    drain_jobs()
    between = {"field": "budget", "op": "between", "value": [1000, 1200]}
    _page, plan = _run_and_explain(app, company, {"filter": between})
    assert "Index Cond: (((data #>>" not in plan, plan


def test_another_tenants_index_is_never_used(app, settings, crm, drain_jobs):
    ours, _client, _base = crm()
    theirs, _client2, _base2 = crm()
    _fill(settings, ours)
    _fill(settings, theirs)
    drain_jobs()
    mine = _indexes(settings, ours)
    other = _indexes(settings, theirs)
    assert mine and other and not set(mine) & set(other)
    sort = {"sort": [{"field": "budget", "dir": "desc"}]}
    between = {"filter": {"field": "budget", "op": "between", "value": [1000, 1200]}}
    for body, owner in ((sort, None), (between, settings), ({**sort, **between}, settings)):
        page, plan = _run_and_explain(app, ours, body, as_owner=owner)
        assert not any(name in plan for name in other), plan
        assert any(name in plan for name in mine), plan
        assert {tenant for tenant, _data in page.rows} == {ours.tenant_id}


def test_unflagging_deleting_and_restoring(app, settings, crm, drain_jobs):
    company, client, base = crm()
    drain_jobs()
    field_id = _field_id(app, company, "budget")
    assert _indexes(settings, company, field_id)

    response = client.patch(f"{base}/budget", json={"indexed": False})
    assert response.get_json()["index_state"] is None
    drain_jobs()
    assert _indexes(settings, company, field_id) == {}

    client.patch(f"{base}/budget", json={"indexed": True})
    drain_jobs()
    assert _state(client, base, "budget") == "ready"
    assert client.delete(f"{base}/budget").status_code == 204
    drain_jobs()
    assert _indexes(settings, company, field_id) == {}  # a deleted field keeps no index
    assert client.post(f"{base}/budget/restore").get_json()["index_state"] == "building"
    drain_jobs()
    assert _state(client, base, "budget") == "ready"
    assert _indexes(settings, company, field_id)
    assert client.delete(f"{base}/budget").status_code == 204
    assert client.post(f"{base}/budget/purge").status_code == 202
    drain_jobs()
    assert _indexes(settings, company, field_id) == {}


def test_a_new_definition_replaces_the_index(app, settings, crm, drain_jobs):
    """Reordering a picklist changes its sort expression, converting a field changes its type:
    the index is built anew and the old one dropped."""
    company, client, base = crm()
    response = client.patch(f"{base}/band", json={"indexed": True})
    assert response.get_json()["index_state"] == "building"
    drain_jobs()
    band = _field_id(app, company, "band")
    before = _indexes(settings, company, band)
    assert len(before) == 2  # the value order (sorts) and the value (filters)
    client.patch(f"{base}/band", json={"values": ["C", "B", "A"]})
    assert _state(client, base, "band") == "building"
    drain_jobs()
    after = _indexes(settings, company, band)
    assert _state(client, base, "band") == "ready"
    assert len(after) == 2 and len(set(after) & set(before)) == 1  # the value index stays
    assert "WHEN 'C'::text THEN 0" in next(d for n, d in after.items() if n not in before)

    budget = _field_id(app, company, "budget")
    drain_jobs()
    old = _indexes(settings, company, budget)
    response = client.post(f"{base}/budget/conversion", json={"type": "decimal"})
    assert response.status_code == 202, response.get_json()
    drain_jobs()
    new = _indexes(settings, company, budget)
    assert new and not set(new) & set(old)
    assert "::numeric" in next(iter(new.values()))
    assert _state(client, base, "budget") == "ready"


def test_converting_an_indexed_field_with_values(app, settings, crm, drain_jobs):
    """An integer's index casts to bigint, which "12.00" (a decimal) would fail: the conversion
    drops the field's indexes before it writes the new values, then they are built anew."""
    company, client, base = crm()
    payload = {"key": "staff", "type": "integer", "label": "Staff", "indexed": True}
    assert client.post(base, json=payload).status_code == 201
    records = f"/api/v1/t/{company.slug}/records/account"
    for n in (12, 7, 30):
        assert client.post(records, json={"name": f"A{n}", "staff": n}).status_code == 201
    drain_jobs()
    staff = _field_id(app, company, "staff")
    old = _indexes(settings, company, staff)
    assert "::bigint" in next(iter(old.values()))
    response = client.post(f"{base}/staff/conversion", json={"type": "decimal", "scale": 2})
    assert response.status_code == 202, response.get_json()
    drain_jobs()
    job = client.get(f"/api/v1/t/{company.slug}/jobs/field-convert:{staff}").get_json()
    assert job["status"] == "succeeded", job
    assert _state(client, base, "staff") == "ready"
    new = _indexes(settings, company, staff)
    assert "::numeric" in next(iter(new.values())) and not set(new) & set(old)
    body = {"sort": [{"field": "staff", "dir": "desc"}], "count": False}
    rows = client.post(f"{records}/query", json=body).get_json()["data"]
    assert [r["staff"] for r in rows] == ["30.00", "12.00", "7.00"]


def test_a_custom_object_index_names_the_object(app, settings, make_company, api, drain_jobs):
    company = make_company()
    client = api(company.token)
    response = client.post(
        f"/api/v1/t/{company.slug}/objects", json={"key": "project", "label": "Project"}
    )
    assert response.status_code == 201, response.get_json()
    base = f"/api/v1/t/{company.slug}/objects/project/fields"
    payload = {"key": "hours", "type": "integer", "label": "Hours", "indexed": True}
    assert client.post(base, json=payload).status_code == 201
    drain_jobs()
    assert _state(client, base, "hours") == "ready"
    (definition,) = _indexes(settings, company).values()
    assert " ON public.custom_records " in definition
    assert "AND (object_id = " in definition


def test_a_failed_build_says_so_and_leaves_nothing(app, settings, crm, drain_jobs, monkeypatch):
    from custom_fields import indexing

    real_plan = indexing.plan

    def broken(*args, **kwargs):
        # random() is volatile: PostgreSQL refuses it in an index (as it would a date cast).
        return [
            indexing.PlannedIndex(p.name, p.role, p.ddl.replace("data #>>", "random()::text ||"))
            for p in real_plan(*args, **kwargs)
        ]

    company, client, base = crm(indexed=False)
    monkeypatch.setattr(indexing, "plan", broken)
    client.patch(f"{base}/budget", json={"indexed": True})
    drain_jobs()
    monkeypatch.setattr(indexing, "plan", real_plan)
    assert _state(client, base, "budget") == "failed"
    field_id = _field_id(app, company, "budget")
    job = client.get(f"/api/v1/t/{company.slug}/jobs/field-index:{field_id}").get_json()
    assert job["status"] == "failed" and job["error"], job
    assert _indexes(settings, company, field_id) == {}  # no invalid index left behind
    # Saving the field as indexed again retries.
    assert client.patch(f"{base}/budget", json={"indexed": True}).get_json()["index_state"] == (
        "building"
    )
    drain_jobs()
    assert _state(client, base, "budget") == "ready"


def test_index_names_are_short_and_deterministic(app, crm):
    from custom_fields import indexing
    from custom_fields.models import FieldDefinition, ObjectDefinition
    from saas.extensions import db
    from tenants.context import tenant_context

    company, _client, _base = crm(indexed=True)
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        field = db.session.execute(
            select(FieldDefinition).where(FieldDefinition.key == "budget")
        ).scalar_one()
        obj = db.session.get(ObjectDefinition, (company.tenant_id, field.object_id))
        first = indexing.plan(field, obj, 2**62, db.engine.dialect)
        again = indexing.plan(field, obj, 2**62, db.engine.dialect)
        field.id = 2**62
        longest = indexing.plan(field, obj, 2**62, db.engine.dialect)
        db.session.rollback()
    assert first == again
    assert all(len(p.name) <= 63 for p in longest)


def test_admin_pages_show_the_index_state(crm, login, drain_jobs):
    company, _client, _base = crm()
    browser = login(company.owner_email)
    fields = f"/t/{company.slug}/admin/objects/account/fields"
    page = browser.get(fields).get_data(as_text=True)
    assert 'data-testid="index-state"' in page and "Index building" in page
    drain_jobs()
    assert "Index ready" in browser.get(fields).get_data(as_text=True)
    form = browser.get(f"{fields}/budget").get_data(as_text=True)
    assert 'data-testid="index-state"' in form and "Index ready" in form
