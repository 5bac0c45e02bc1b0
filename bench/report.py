"""Reports over many records: ``custom_fields.reports.engine.run`` on the 1,000,000-account
tenant of ``kehu_bench`` (``bench.query_data``), on a tenant of 100,000 (``bench.report_data``)
and on one of 5,000, as each tenant's owner (data scope "all"), through the list reader.

Targets (issue 6): a summary with two levels (picklist × month) and a sum, ≤ 2 s over
1,000,000 records and ≤ 300 ms over 100,000. Next to each report the same tenant's plain scan
(the sum of one JSONB amount over its live records, no grouping) is timed in the same loop: the
machine is shared and noisy, and the ratio report ÷ scan says what grouping costs on top of
reading the records.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.report [--runs 11]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from bench import query_data, report_data
from bench.common import machine
from saas.extensions import db

#: name -> (what it is, the definition)
REPORTS: dict[str, tuple[str, dict[str, Any]]] = {
    "r1": (
        "summary: tier (picklist) × signed_on by month (date), count and sum of budget",
        {
            "object": "account",
            "type": "summary",
            "groups": [{"field": "tier"}, {"field": "signed_on", "granularity": "month"}],
            "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "budget"}],
        },
    ),
    "r2": (
        "summary: tier × created_at by month in Asia/Shanghai (datetime), sum of budget",
        {
            "object": "account",
            "type": "summary",
            "groups": [{"field": "tier"}, {"field": "created_at", "granularity": "month"}],
            "aggregates": [{"fn": "sum", "field": "budget", "percent_of_total": True}],
        },
    ),
    "r3": (
        "matrix: stage × signed_on by quarter, count and sum of budget",
        {
            "object": "account",
            "type": "matrix",
            "groups": [{"field": "stage"}],
            "column_groups": [{"field": "signed_on", "granularity": "quarter"}],
            "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "budget"}],
        },
    ),
    "r4": (
        "summary: top 5 cities by sum of budget (+ Others) × tier",
        {
            "object": "account",
            "type": "summary",
            "groups": [
                {"field": "city", "sort": "sum_budget", "dir": "desc", "top": 5},
                {"field": "tier"},
            ],
            "aggregates": [{"fn": "sum", "field": "budget"}, {"fn": "count"}],
        },
    ),
}
TARGETS = {("big", "r1"): 2000.0, ("100k", "r1"): 300.0}


class Runner:
    """Runs reports as one tenant's owner, as a request would (definitions cached, warm)."""

    def __init__(self, app, tenant: query_data.TenantInfo):
        self.app = app
        self.tenant = tenant
        self.statements: list[tuple[str, Any]] = []
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if "GROUPING SETS" in statement:
            self.statements.append((statement, parameters))

    @contextmanager
    def _request(self):
        from tenants.context import tenant_context
        from tenants.services import membership

        with (
            self.app.test_request_context(),
            tenant_context(self.tenant.tenant_id, db.session, user_id=self.tenant.owner_id),
        ):
            try:
                yield membership(self.tenant.owner_id)
            finally:
                db.session.rollback()

    def report(self, spec: dict[str, Any]) -> tuple[float, Any]:
        from custom_fields.reports import engine

        with self._request() as actor:
            start = time.perf_counter()
            result = engine.run(spec, actor, timezone="Asia/Shanghai", locale="zh_CN")
            return (time.perf_counter() - start) * 1000, result

    def scan(self) -> float:
        """The tenant's records read once: the sum of one JSONB amount, no grouping."""
        from custom_fields.query import reader

        with self._request(), reader.reading() as session:
            start = time.perf_counter()
            session.execute(
                text(
                    "SELECT sum((data #>> '{budget,amount}')::numeric) FROM accounts"
                    " WHERE tenant_id = :t AND deleted_at IS NULL"
                ),
                {"t": self.tenant.tenant_id},
            ).scalar()
            return (time.perf_counter() - start) * 1000

    def plan(self, spec: dict[str, Any]) -> str:
        from custom_fields.query import reader

        self.statements.clear()
        self.report(spec)
        statement, parameters = self.statements[-1]
        with self._request(), reader.reading() as session:
            rows = session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
            nodes = []
            for (line,) in rows:
                node = line.strip().removeprefix("->").strip().split("  (cost")[0]
                if node.split(":")[0].endswith(("Key", "Cond", "Filter")):
                    continue
                if any(word in node for word in ("Aggregate", "Scan", "Sort", "Gather")):
                    nodes.append(node.split(" on ")[0])
            return " ← ".join(dict.fromkeys(nodes))


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    started = time.perf_counter()
    services = query_data.servers()
    try:
        settings, meta = query_data.ensure(services)
        middle = report_data.ensure(settings)
        from saas.app import create_app

        app = create_app(settings, WTF_CSRF_ENABLED=False)
        big, small = query_data.tenants_from(meta)
        tenants = {"big": big, "100k": middle, "5k": small[0]}
        print(f"machine: {machine()}; {dt.date.today().isoformat()}", flush=True)
        print(f"load average before: {os.getloadavg()}", flush=True)
        rows = []
        for label, tenant in tenants.items():
            runner = Runner(app, tenant)
            runner.report(REPORTS["r1"][1])  # warm: definitions, pools, pages
            runner.scan()
            for name, (_what, spec) in REPORTS.items():
                reports, scans = [], []
                for _ in range(args.runs):
                    ms, result = runner.report(spec)
                    reports.append(ms)
                    scans.append(runner.scan())
                ratio = p50(reports) / p50(scans)
                target = TARGETS.get((label, name))
                verdict = "" if target is None else ("met" if p50(reports) <= target else "MISSED")
                plan = runner.plan(spec)
                rows.append(
                    (
                        label,
                        name,
                        result.total.count,
                        p50(reports),
                        p95(reports),
                        p50(scans),
                        ratio,
                        target,
                        verdict,
                        plan,
                    )
                )
                print(
                    f"  {label:5} {name}  {result.total.count:>9,} records  report p50"
                    f" {p50(reports):7.1f} ms p95 {p95(reports):7.1f} ms  scan p50"
                    f" {p50(scans):7.1f} ms  ratio {ratio:4.2f}  {verdict}\n        plan: {plan}",
                    flush=True,
                )
        print(f"load average after: {os.getloadavg()}")
        print("\n| tenant | report | records | p50 | p95 | scan p50 | report ÷ scan | target |")
        print("|---|---|---|---|---|---|---|---|")
        for label, name, count, r50, r95, s50, ratio, target, verdict, _plan in rows:
            goal = f"≤ {target:,.0f} ms: {verdict}" if target else ""
            print(
                f"| {label} | {name} | {count:,} | {r50:,.0f} ms | {r95:,.0f} ms | {s50:,.0f} ms"
                f" | {ratio:.2f} | {goal} |"
            )
    finally:
        services.stop()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
