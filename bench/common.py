"""Shared set-up for the benchmarks: a database on the configured server, migrated, and a
tenant filled with generated records.

Run a benchmark with the servers it should measure, for example
``DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0
.venv/bin/python -m bench.add_field``; without them the embedded servers are started.
"""

from __future__ import annotations

import os
import platform
import secrets
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from saas.config import Settings
from saas.devstack import ensure_services


@dataclass
class BenchDatabase:
    settings: Settings
    name: str
    admin_url: str


@contextmanager
def bench_database(keep: bool = False) -> Iterator[BenchDatabase]:
    """A fresh, migrated database on the configured (or embedded) server; dropped afterwards."""
    services = ensure_services(database_name="postgres")
    admin = make_url(services.database_url).set(drivername="postgresql")
    admin_url = admin.render_as_string(hide_password=False)
    name = f"kehu_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = Settings.from_env(
        database_url=admin.set(database=name).render_as_string(hide_password=False),
        redis_url=services.redis_url,
        log_json=False,
        queue_prefix=f"bench{name[-8:]}",
        password_hash_profile="test",
        signup_rate_limit="100000 per minute",
    )
    from saas.database import migrate

    migrate(settings)
    try:
        yield BenchDatabase(settings, name, admin_url)
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        services.stop()


def owner_connection(settings: Settings) -> psycopg.Connection:
    url = make_url(settings.database_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def timed(func: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock milliseconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ordered[-1]:.1f} ms (n={len(ordered)})"
    )


def machine() -> str:
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = (
        subprocess.run(["free", "-g"], capture_output=True, text=True, check=False)
        .stdout.split("\n")[1]
        .split()[1]
    )
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, {memory} GiB RAM"
