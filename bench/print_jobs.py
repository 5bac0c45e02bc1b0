"""PDFs through the real job path: 100 Chinese quotes of 20 lines rendered by 2 workers.

Signs up a company in a fresh database and creates the quotes through the quote API (lines
with Chinese product names and specifications). Asks for each quote's PDF
(``POST …/records/quote/<id>/pdf``: 202 with a job), then starts two
``kehu worker --burst --no-schedule`` processes and times them until every job has stored its
document. Samples the resident memory of every process of the workers (the worker, its work
horses and the render children) ten times a second and reports the largest. Targets (issue
"Print templates and PDFs"): 100 quotes through 2 workers ≤ 60 s, worker memory ≤ 500 MB.

    .venv/bin/python -m bench.print_jobs [--quotes 100] [--lines 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import threading
import time

import psutil

from bench.common import bench_database, machine

PRODUCTS = [
    "不锈钢阀门",
    "工业传感器",
    "数控刀具",
    "液压油缸",
    "变频控制柜",
    "精密轴承",
    "耐磨衬板",
]
SPECS = [
    "DN50 PN16",
    "0-10V 四线制",
    "Φ12×75 硬质合金",
    "行程 300mm",
    "7.5kW IP54",
    "6205-2RS",
    "800×600×20",
]


def _make_quotes(client, slug: str, headers: dict, quotes: int, lines: int) -> list[int]:
    rng = random.Random(11)
    ids = []
    for n in range(quotes):
        created = client.post(
            f"/api/v1/t/{slug}/records/quote", json={"name": f"报价单 {n + 1:03d}"}, headers=headers
        )
        assert created.status_code == 201, created.get_json()
        quote = created.get_json()
        body = {
            "lines": [
                {
                    "name": f"{rng.choice(PRODUCTS)} {rng.choice(SPECS)}",
                    "quantity": str(rng.randint(1, 40)),
                    "unit_price": f"{rng.randint(100, 90000) / 10:.2f}",
                    "discount": str(rng.choice([0, 0, 5, 8])),
                    "tax_rate": "13",
                }
                for _ in range(lines)
            ],
            "header": {"tax_mode": "exclusive"},
        }
        saved = client.put(
            f"/api/v1/t/{slug}/quotes/{quote['id']}/lines",
            json=body,
            headers={**headers, "If-Match": f'"v{quote["version"]}"'},
        )
        assert saved.status_code == 200, saved.get_json()
        ids.append(quote["id"])
    return ids


class _Peak:
    """The largest resident set of any process under the given ones, sampled at 10 Hz."""

    def __init__(self, roots: list[psutil.Process]):
        self.roots = roots
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for root in self.roots:
                try:
                    family = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for proc in family:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        self.peak = max(self.peak, proc.memory_info().rss)
            time.sleep(0.1)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quotes", type=int, default=100)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with bench_database() as bench:
        from saas.app import create_app

        app = create_app(bench.settings, WTF_CSRF_ENABLED=False)
        client = app.test_client()
        slug = "print-bench"
        token = client.post(
            "/api/v1/signup",
            json={
                "company": "打印基准有限公司",
                "slug": slug,
                "email": f"{slug}@example.com",
                "password": "bench passphrase 2026",
                "locale": "zh_CN",
            },
        ).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        print(f"machine: {machine()}; load average {os.getloadavg()}")
        started = time.perf_counter()
        ids = _make_quotes(client, slug, headers, args.quotes, args.lines)
        print(
            f"{len(ids)} quotes of {args.lines} lines made in {time.perf_counter() - started:.1f} s"
        )
        jobs = []
        for quote_id in ids:
            response = client.post(
                f"/api/v1/t/{slug}/records/quote/{quote_id}/pdf", json={}, headers=headers
            )
            assert response.status_code == 202, response.get_json()
            jobs.append(response.get_json()["id"])

        env = {
            **os.environ,
            "DATABASE_URL": bench.settings.database_url,
            "REDIS_URL": bench.settings.redis_url,
            "QUEUE_PREFIX": bench.settings.queue_prefix,
            "LOG_JSON": "0",
        }
        kehu = os.path.join(os.path.dirname(sys.executable), "kehu")
        started = time.perf_counter()
        workers = [
            subprocess.Popen(
                [kehu, "worker", "--burst", "--no-schedule"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        with _Peak([psutil.Process(w.pid) for w in workers]) as peak:
            for worker in workers:
                worker.wait(timeout=1800)
        elapsed = time.perf_counter() - started

        statuses: dict[str, int] = {}
        for job_id in jobs:
            body = client.get(f"/api/v1/t/{slug}/jobs/{job_id}", headers=headers).get_json()
            statuses[body["status"]] = statuses.get(body["status"], 0) + 1
        with app.app_context():
            from sqlalchemy import func, select

            from print_templates.models import PrintDocument
            from saas.extensions import db
            from tenants import services
            from tenants.context import tenant_context

            tenant = services.tenant_by_slug(slug)
            with tenant_context(tenant.id, db.session):
                stored, size = db.session.execute(
                    select(func.count(), func.avg(PrintDocument.size)).where(
                        PrintDocument.object_key == "quote"
                    )
                ).one()
        print(
            f"{args.quotes} PDFs through {args.workers} workers: {elapsed:.1f} s "
            f"({elapsed / args.quotes * 1000:.0f} ms a quote, workers started cold); "
            f"jobs {statuses}; documents stored {stored}, "
            f"average {float(size or 0) / 1024:.0f} KB; "
            f"largest process of the workers {peak.peak / 2**20:.0f} MB"
        )


if __name__ == "__main__":
    main()
