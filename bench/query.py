"""List queries on custom fields: one tenant with 1,000,000 accounts among 50 of 5,000.

Measures the query engine (``engine.run_query``, a page of 50, count off; the count is timed
apart) on the accounts' JSONB values with the per-tenant indexes of ``custom_fields.indexing``,
built through the real path (``PATCH …/fields/<key>`` with ``indexed``, then the RQ job), next to
the same queries on a reference table holding the 12 values in typed columns with a B-tree
each. Every query runs twice per table: as the app role, under row-level security as in
production, and as the owner, which row-level security does not restrict (the planner then
may use the indexes for filters, see docs/fields.md). Then the same queries over HTTP to a real
gunicorn (``infra/gunicorn.conf.py``), and the list endpoint of the small tenants under load
from ``wrk`` in another process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.query [--runs 30] [--skip-http]

The data is generated once into ``kehu_bench`` (``bench.query_data``) and kept between runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Numeric, String, event, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from bench import query_data
from bench.common import machine
from saas.extensions import db
from saas.records.models import RecordColumns

ROOT = Path(__file__).resolve().parent.parent
#: Fields the queries filter or sort on with an index (``signed_on``: a date, see the report).
INDEXED = ("budget", "tier", "stage", "keywords", "signed_on")
PAGE_DEEP = 200

#: name -> (what it stands for, the API's query JSON, target p50 in ms on the big tenant)
QUERIES: dict[str, tuple[str, dict[str, Any], float | None]] = {
    "list": ("newest first, no filter", {}, None),
    "q1": (
        "tier = A and budget 50,000–2,000,000, by budget desc then name",
        {
            "filter": {
                "and": [
                    {"field": "tier", "op": "eq", "value": "A"},
                    {"field": "budget", "op": "between", "value": [50000, 2000000]},
                ]
            },
            "sort": [{"field": "budget", "dir": "desc"}, {"field": "name"}],
        },
        30,
    ),
    "q1p200": ("the same, page 200 by cursor", {}, 30),
    "q2": (
        "owner is me and signed_on in the last 30 days",
        {
            "filter": {
                "and": [
                    {"field": "owner_id", "op": "is_me"},
                    {"field": "signed_on", "op": "last_n_days", "value": 30},
                ]
            }
        },
        30,
    ),
    "q3": (
        "keywords contains “semicond”",
        {"filter": {"field": "keywords", "op": "contains", "value": "semicond"}},
        150,
    ),
    "q4": (
        "saved view: stage in 3 open stages, by budget desc, tier, employees desc, name",
        {
            "filter": {
                "field": "stage",
                "op": "in",
                "value": ["qualified", "proposal", "negotiation"],
            },
            "sort": [
                {"field": "budget", "dir": "desc"},
                {"field": "tier"},
                {"field": "employees", "dir": "desc"},
                {"field": "name"},
            ],
        },
        30,
    ),
    "q5": (
        "ad hoc: by revenue desc, city, employees, name (none indexed)",
        {
            "sort": [
                {"field": "revenue", "dir": "desc"},
                {"field": "city"},
                {"field": "employees"},
                {"field": "name"},
            ]
        },
        1500,
    ),
}


class ReferenceAccount(RecordColumns, db.Model):
    """Bench only: the big tenant's accounts with the 12 custom values in typed columns."""

    __tablename__ = query_data.REFERENCE

    tier: Mapped[str | None] = mapped_column(String(60))
    stage: Mapped[str | None] = mapped_column(String(60))
    channels: Mapped[Any] = mapped_column(JSONB)
    budget: Mapped[Any] = mapped_column(Numeric(18, 2))
    revenue: Mapped[Any] = mapped_column(Numeric(18, 2))
    employees: Mapped[int | None] = mapped_column(BigInteger)
    signed_on: Mapped[dt.date | None] = mapped_column(Date)
    next_visit: Mapped[dt.date | None] = mapped_column(Date)
    city: Mapped[str | None] = mapped_column(String(255))
    keywords: Mapped[str | None] = mapped_column(String(255))
    vip: Mapped[bool | None] = mapped_column(Boolean)
    rep: Mapped[int | None] = mapped_column(BigInteger)


@contextmanager
def reference_table() -> Iterator[None]:
    """The engine, unchanged, pointed at the typed reference table: the same filters, sorts
    and keyset paging, custom fields resolved to columns instead of JSONB expressions."""
    from custom_fields import types
    from custom_fields.query import engine
    from custom_fields.query import operators as ops
    from custom_fields.types.picklist import order_sql
    from saas.accounts.models import User

    class ReferenceResolver(engine.Resolver):
        def resolve(self, path: str) -> engine.Resolved:
            info = self.schema.field(path) if "." not in path else None
            if info is None or not hasattr(ReferenceAccount, path):
                return super().resolve(path)
            column = getattr(self.entity, path)
            field_type = types.get(info.type)
            kind, operators, ordered = field_type.kind, field_type.operators, column
            if info.type == "picklist":
                ordered = order_sql(column, info.spec)
            elif info.type == "lookup":
                kind, operators = "user", ops.USER_OPERATORS
                ordered = select(User.name).where(User.id == column).scalar_subquery()
            if not field_type.sortable:
                ordered = None
            return engine.Resolved(path, column, ordered, kind, tuple(operators), info.spec)

    saved = engine.Resolver, engine.model_for
    engine.Resolver, engine.model_for = ReferenceResolver, lambda schema: ReferenceAccount
    try:
        yield
    finally:
        engine.Resolver, engine.model_for = saved


# ---------------------------------------------------------------- measuring


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)
    plan: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _runs(first_ms: float, runs: int) -> int:
    """Fewer runs for slow queries, so a full benchmark stays within its time budget."""
    return runs if first_ms < 300 else max(5, runs // 3)


def _plan_summary(plan: list[str]) -> str:
    """The scans of a plan, e.g. ``Index Scan Backward using cf_t1_f4_s_… on accounts``, and
    whether a custom field's condition is an index condition."""
    nodes = []
    for line in plan:
        text = line.strip().removeprefix("->").strip()
        if " Scan " in f" {text} " and "(cost" in text:
            nodes.append(text.split("  (cost")[0])
        elif text.startswith("Index Cond:") and (
            "data" in text or any(k in text for k in query_data.REFERENCE_COLUMNS)
        ):
            nodes.append("index condition on a custom field")
    return "; ".join(dict.fromkeys(nodes))


class Server:
    """Runs queries through ``engine.run_query`` as one of the big or small tenants' owners."""

    def __init__(self, app, tenant: query_data.TenantInfo):
        self.app = app
        self.tenant = tenant
        self.statements: list[tuple[str, Any]] = []
        # Every engine: list pages run on the list reader's connection, not the app's.
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if "LIMIT" in statement and "ORDER BY" in statement:
            self.statements.append((statement, parameters))

    @contextmanager
    def _request(self) -> Iterator[tuple[Any, Any]]:
        from custom_fields.definitions import schemas
        from tenants.context import tenant_context
        from tenants.services import membership

        tenant = self.tenant
        with (
            self.app.test_request_context(),
            tenant_context(tenant.tenant_id, db.session, user_id=tenant.owner_id),
        ):
            try:
                yield schemas(tenant.tenant_id)["account"], membership(tenant.owner_id)
            finally:
                db.session.rollback()

    def run(self, body: dict[str, Any], *, count: bool = False) -> tuple[str | None, float]:
        """One page: its next cursor and the milliseconds ``run_query`` took (the request's
        authentication and the definitions lookup, done before, are not counted)."""
        from custom_fields.query import engine
        from saas.records.queries import from_body

        with self._request() as (schema, actor):
            spec, _columns = from_body({**body, "count": count})
            start = time.perf_counter()
            page = engine.run_query(schema, actor, spec, timezone="Asia/Shanghai")
            return page.next_cursor, (time.perf_counter() - start) * 1000

    def explain(self, body: dict[str, Any]) -> str:
        self.statements.clear()
        self.run(body)
        statement, parameters = self.statements[-1]
        with self._request():
            rows = db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
            return _plan_summary([r[0] for r in rows])

    def time(self, body: dict[str, Any], runs: int, *, count: bool = False) -> Timing:
        result = Timing()
        _cursor, first = self.run(body, count=count)  # warm: caches, the plan, the pages
        for _ in range(_runs(first, runs)):
            result.samples.append(self.run(body, count=count)[1])
        result.plan = self.explain(body)
        return result

    def cursor_of_page(self, body: dict[str, Any], page: int) -> str:
        cursor = None
        for _ in range(page - 1):
            cursor, _ms = self.run({**body, "cursor": cursor} if cursor else body)
        return cursor


def build_indexes(app, meta: dict[str, Any]) -> dict[str, str]:
    """Flag the benchmark's fields indexed through the API and run the jobs with a real worker;
    answers each field's index state (a kept database keeps its built indexes)."""
    from rq import SimpleWorker

    from saas.jobs import queue, redis_connection

    client = app.test_client()
    headers = {"Authorization": f"Bearer {meta['big']['token']}"}
    base = f"/api/v1/t/{meta['big']['slug']}/objects/account/fields"
    for key in INDEXED:
        response = client.patch(f"{base}/{key}", json={"indexed": True}, headers=headers)
        assert response.status_code == 200, response.get_json()
    start = time.perf_counter()
    with app.app_context():
        SimpleWorker([queue("default")], connection=redis_connection()).work(burst=True)
    seconds = time.perf_counter() - start
    states = {
        key: client.get(f"{base}/{key}", headers=headers).get_json()["index_state"]
        for key in INDEXED
    }
    print(f"indexes: {states} (jobs took {seconds:.0f} s)", flush=True)
    return states


def server_side(settings, meta: dict[str, Any], runs: int) -> dict[str, dict[str, Timing]]:
    """Every query on the big tenant in the four variants, and on one small tenant."""
    from saas.app import create_app

    big, small = query_data.tenants_from(meta)
    apps = {
        "app": create_app(settings, WTF_CSRF_ENABLED=False),
        # The owner is not restricted by row-level security (superuser, or BYPASSRLS).
        "owner": create_app(
            settings, WTF_CSRF_ENABLED=False, SQLALCHEMY_DATABASE_URI=settings.owner_database_url
        ),
    }
    results: dict[str, dict[str, Timing]] = {}
    servers = {role: Server(app, big) for role, app in apps.items()}
    deep = servers["owner"].cursor_of_page(QUERIES["q1"][1], PAGE_DEEP)
    bodies = {name: body for name, (_label, body, _target) in QUERIES.items()}
    bodies["q1p200"] = {**QUERIES["q1"][1], "cursor": deep}
    for table in ("jsonb", "typed"):
        for role, server in servers.items():
            variant = f"{table}/{role}"
            results[variant] = {}
            with reference_table() if table == "typed" else _nothing():
                for name, body in bodies.items():
                    results[variant][name] = server.time(body, runs)
                    t = results[variant][name]
                    print(
                        f"  {variant:12} {name:7} p50 {t.p50:8.1f} ms  p95 {t.p95:8.1f} ms"
                        f"  n={len(t.samples):2}  {t.plan}",
                        flush=True,
                    )
    results["count"] = {}
    for name in ("list", "q1", "q2"):
        results["count"][name] = servers["app"].time(bodies[name], runs, count=True)
        print(f"  with count   {name:7} p50 {results['count'][name].p50:8.1f} ms", flush=True)
    small_server = Server(apps["app"], small[0])
    results["small"] = {}
    small_bodies = {k: v for k, v in bodies.items() if k != "q1p200"}
    small_bodies["q1p2"] = {**bodies["q1"], "cursor": small_server.cursor_of_page(bodies["q1"], 2)}
    results["small count"] = {}
    for name, body in small_bodies.items():
        results["small"][name] = t = small_server.time(body, runs)
        results["small count"][name] = c = small_server.time(body, runs, count=True)
        print(
            f"  small/app    {name:7} p50 {t.p50:8.1f} ms  p95 {t.p95:8.1f} ms"
            f"  (with the count: p50 {c.p50:.1f} ms)  {t.plan}"
        )
    return results


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# ---------------------------------------------------------------- HTTP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(settings) -> Iterator[tuple[int, int]]:
    """The app under gunicorn with the production configuration on a free port: (port, pid)."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": settings.secret_key,
        "QUEUE_PREFIX": settings.queue_prefix,
        "PASSWORD_HASH_PROFILE": "test",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    # Its access log (one JSON line per request, as in production) goes to a file, not here.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "infra/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(300):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/readyz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                log.seek(0)
                raise RuntimeError(f"gunicorn did not start: {log.read()[-2000:]!r}")
            yield port, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def http_timings(port: int, meta: dict[str, Any], cursor: str, runs: int) -> dict[str, Timing]:
    """The queries over HTTP (``POST …/records/account/query``), one request at a time."""
    big, small = query_data.tenants_from(meta)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(tenant: query_data.TenantInfo, body: dict[str, Any]) -> Callable[[], None]:
        payload = json.dumps({**body, "count": False})
        headers = {"Authorization": f"Bearer {tenant.token}", "Content-Type": "application/json"}

        def call() -> None:
            conn.request("POST", f"/api/v1/t/{tenant.slug}/records/account/query", payload, headers)
            response = conn.getresponse()
            data = response.read()
            assert response.status == 200, data[:300]

        return call

    results: dict[str, Timing] = {}
    calls = {name: post(big, body) for name, (_l, body, _t) in QUERIES.items()}
    calls["q1p200"] = post(big, {**QUERIES["q1"][1], "cursor": cursor})
    calls["small q1"] = post(small[0], QUERIES["q1"][1])
    calls["small q4"] = post(small[0], QUERIES["q4"][1])
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        first = (time.perf_counter() - start) * 1000
        timing = Timing()
        for _ in range(_runs(first, runs)):
            start = time.perf_counter()
            call()
            timing.samples.append((time.perf_counter() - start) * 1000)
        results[name] = timing
        print(f"  http {name:9} p50 {timing.p50:8.1f} ms  p95 {timing.p95:8.1f} ms", flush=True)
    conn.close()
    return results


WRK_SCRIPT = """
local tenants = %s
local n = 0
request = function()
  n = n + 1
  local t = tenants[(n %% #tenants) + 1]
  return wrk.format("GET", "/api/v1/t/" .. t[1] .. "/records/account", {
    ["Authorization"] = "Bearer " .. t[2]
  })
end
"""


def load(port: int, meta: dict[str, Any], seconds: int, connections: int) -> dict[str, Any]:
    """``wrk`` in another process: the small tenants' list endpoint (50 records, with count),
    round-robin over the 50 tenants and their tokens."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("  wrk is not installed (apt-get install -y wrk): no load test", flush=True)
        return {}
    _big, small = query_data.tenants_from(meta)
    lua = "{" + ",".join(f'{{"{t.slug}", "{t.token}"}}' for t in small) + "}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % lua)
    try:
        url = f"http://127.0.0.1:{port}"
        args = [wrk, "-t2", f"-c{connections}", "--latency", "-s", script.name]
        # A first pass fills each worker's caches (every tenant's definitions); not measured.
        subprocess.run([*args, "-d5s", url], capture_output=True, check=True)
        output = subprocess.run(
            [*args, f"-d{seconds}s", url], capture_output=True, text=True, check=True
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))

    def latency(pct: str) -> float:
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result = {
        "rps": rps,
        "p50": latency("50"),
        "p99": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "connections": connections,
        "seconds": seconds,
    }
    print(
        f"  wrk -c{connections} {seconds}s: {rps:.0f} req/s, p50 {result['p50']:.1f} ms, "
        f"p99 {result['p99']:.1f} ms, non-2xx {result['non_2xx']}",
        flush=True,
    )
    return result


# ---------------------------------------------------------------- report


def report(
    server: dict[str, dict[str, Timing]], over_http: dict[str, Timing], wrk: list[dict[str, Any]]
) -> None:
    print(
        "\n| query | target | JSONB, app role | typed, app role | ratio | JSONB, owner | "
        "typed, owner | ratio | HTTP, app role |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (label, _body, target) in QUERIES.items():
        cells = []
        for role in ("app", "owner"):
            jsonb, typed = server[f"jsonb/{role}"][name], server[f"typed/{role}"][name]
            cells += [f"{jsonb.p50:.1f}", f"{typed.p50:.1f}", f"{jsonb.p50 / typed.p50:.1f}×"]
        web = over_http.get(name)
        target_text = f"≤ {target:g}" if target else "–"
        web_text = f"{web.p50:.1f}" if web else "–"
        print(f"| {name}: {label} | {target_text} | " + " | ".join(cells) + f" | {web_text} |")
    print("\nsmall tenant (5,000 accounts), app role, p50 / p95 ms, and p50 with the count:")
    for name, timing in server["small"].items():
        counted = server["small count"][name]
        print(f"  {name:7} {timing.p50:6.1f} / {timing.p95:6.1f}   {counted.p50:6.1f}")
    print(
        "\nwith the count (app role), p50 ms:",
        {k: round(v.p50, 1) for k, v in server["count"].items()},
    )
    print("\nplans (JSONB, app role):")
    for name, timing in server["jsonb/app"].items():
        print(f"  {name:7} {timing.plan}")
    print("plans (JSONB, owner):")
    for name, timing in server["jsonb/owner"].items():
        print(f"  {name:7} {timing.plan}")
    for run in wrk:
        print(f"\nload: {run}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--load-seconds", type=int, default=20)
    parser.add_argument(
        "--connections", default="16,4", help="wrk connections, one load run per value"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    services = query_data.servers()
    try:
        settings, meta = query_data.ensure(services)
        query_data.reference_indexes(settings, INDEXED)
        from saas.app import create_app

        print(f"machine: {machine()}; {dt.date.today().isoformat()}", flush=True)
        build_indexes(create_app(settings, WTF_CSRF_ENABLED=False), meta)
        server = server_side(settings, meta, args.runs)
        over_http: dict[str, Timing] = {}
        wrk: list[dict[str, Any]] = []
        if not args.skip_http:
            app = create_app(settings, WTF_CSRF_ENABLED=False)
            deep = Server(app, query_data.tenants_from(meta)[0]).cursor_of_page(
                QUERIES["q1"][1], PAGE_DEEP
            )
            with gunicorn(settings) as (port, _pid):
                over_http = http_timings(port, meta, deep, args.runs)
                wrk = [
                    load(port, meta, args.load_seconds, int(n)) for n in args.connections.split(",")
                ]
        report(server, over_http, wrk)
    finally:
        services.stop()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
