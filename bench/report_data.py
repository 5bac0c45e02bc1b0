"""Data for ``bench.report``: one more tenant in ``kehu_bench`` with 100,000 accounts, the
same fields and value distributions as ``bench.query_data``'s tenants (its generator, with
another seed), so a report over 100,000 records can be timed next to the 1,000,000-record one.

The tenant is made through the API like the others; its accounts are written with COPY as the
owner (with the table's indexes in place, so it takes a little longer than the big tenant's
load per row). ``bench_report_meta`` remembers it; a regenerated ``kehu_bench`` loses it and the
next run makes it again.

    .venv/bin/python -m bench.report_data
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import psycopg

from bench import query_data

GENERATION = 1
SLUG = "bench-report-100k"
RECORDS = 100_000
USERS = 20


def cached(settings) -> dict[str, Any] | None:
    with psycopg.connect(query_data.libpq(settings.database_url), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('bench_report_meta')").fetchone()[0] is None:
            return None
        row = conn.execute(
            "SELECT meta FROM bench_report_meta WHERE generation = %s", (GENERATION,)
        ).fetchone()
    return row[0] if row else None


def generate(settings) -> dict[str, Any]:
    from saas.app import create_app
    from saas.extensions import db

    started = time.perf_counter()
    app = create_app(settings, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    with psycopg.connect(query_data.libpq(settings.database_url), autocommit=True) as conn:
        # A tenant left by an interrupted run goes first (its rows cascade).
        conn.execute("DELETE FROM tenants WHERE slug = %s", (SLUG,))
    tenant = query_data._make_tenant(app, client, SLUG, USERS, RECORDS)
    stream = query_data._Stream(tenant, dt.date.today())
    columns = (
        "tenant_id, name, owner_id, created_by, updated_by, created_at, updated_at, "
        "version, deleted_at, data, search_text"
    )
    with (
        psycopg.connect(query_data.libpq(settings.database_url), autocommit=True) as conn,
        query_data._cached_pinyin(),
    ):
        with conn.cursor() as cur, cur.copy(f"COPY accounts ({columns}) FROM STDIN") as copy:
            for _ in range(RECORDS):
                copy.write_row(stream.next_row())
        conn.execute("ANALYZE accounts")
    query_data.check_sample(app, tenant, stream.sample)
    with app.app_context():
        db.engine.dispose()
    meta = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started),
        "tenant": tenant.__dict__,
    }
    with psycopg.connect(query_data.libpq(settings.database_url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_report_meta (generation integer PRIMARY KEY,"
            " meta jsonb)"
        )
        conn.execute("DELETE FROM bench_report_meta")
        conn.execute(
            "INSERT INTO bench_report_meta VALUES (%s, %s)",
            (GENERATION, psycopg.types.json.Jsonb(meta)),
        )
    return meta


def ensure(settings) -> query_data.TenantInfo:
    """The 100,000-account tenant, generated unless ``kehu_bench`` already holds it."""
    meta = cached(settings)
    if meta is None:
        print(f"generating the {RECORDS:,}-account tenant {SLUG}…", flush=True)
        meta = generate(settings)
        print(f"generated in {meta['seconds']} s", flush=True)
    return query_data.TenantInfo(**meta["tenant"])


def main() -> None:
    services = query_data.servers()
    try:
        settings, _meta = query_data.ensure(services)
        ensure(settings)
    finally:
        services.stop()


if __name__ == "__main__":
    main()
