"""The record list endpoint of small tenants: its cost in-process, its queries, and its
throughput under gunicorn.

``GET /api/v1/t/<slug>/records/account`` (a page of 50, newest first, with the count) on the 50
tenants of 5,000 accounts of ``kehu_bench`` (``bench.query_data``, generated once and kept):

1. in-process (Flask test client): the statements and network round trips of one request, the
   wall time and the app thread's CPU time per request;
2. server side: ``engine.run_query`` for the queries of ``bench.query`` on one of those tenants,
   with and without the count (target: any query ≤ 15 ms);
3. under gunicorn (``infra/gunicorn.conf.py``, or ``GUNICORN_CMD_ARGS``): ``wrk`` pinned to one
   core (``taskset -c <last core>``, one thread), first on ``/healthz`` — the ceiling of this
   machine for a request that does nothing — then on the list endpoint round-robin over the 50
   tenants and their tokens. For each run: requests/s, latency percentiles, errors, the load
   average and the CPU milliseconds per request spent by gunicorn, PostgreSQL (the backends of
   the benchmark database) and wrk.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.list_load [--seconds 20] [--connections 16,4] [--skip-http]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import query_data
from bench.common import machine
from bench.query import QUERIES, WRK_SCRIPT, Server, _plan_summary, gunicorn

ROOT = Path(__file__).resolve().parent.parent
LIST_LABEL = "/api/v1/t/…/records/account"
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- in-process


def in_process(settings, small: list[query_data.TenantInfo], runs: int) -> dict[str, Any]:
    """Statements and round trips of one request, then wall and app-thread CPU per request."""
    import psycopg
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from saas.app import create_app

    app = create_app(settings, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    statements: list[tuple[float, str]] = []
    trips = [0]

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["kehu_bench_t0"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        ms = (time.perf_counter() - conn.info["kehu_bench_t0"]) * 1000
        statements.append((ms, " ".join(statement.split())[:100]))

    def counted(method):
        def wrapper(self, *args, **kwargs):
            trips[0] += 1
            return method(self, *args, **kwargs)

        return wrapper

    # Round trips: every statement (pool pings included) and BEGIN/COMMIT/ROLLBACK.
    saved = psycopg.Cursor.execute, psycopg.Connection._exec_command
    psycopg.Cursor.execute = counted(saved[0])
    psycopg.Connection._exec_command = counted(saved[1])
    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:

        def call(tenant: query_data.TenantInfo) -> dict[str, Any]:
            response = client.get(
                f"/api/v1/t/{tenant.slug}/records/account",
                headers={"Authorization": f"Bearer {tenant.token}"},
            )
            assert response.status_code == 200, response.data[:300]
            return response.get_json()

        for _ in range(2):  # warm: every tenant's definitions, the pools, the caches
            for tenant in small:
                call(tenant)
        statements.clear()
        trips[0] = 0
        body = call(small[7])
        one = {"statements": list(statements), "round_trips": trips[0], "count": body["count"]}
        walls: list[float] = []
        cpu = []
        for _rep in range(5):
            start_cpu = time.thread_time()
            for i in range(runs):
                start = time.perf_counter()
                call(small[i % len(small)])
                walls.append((time.perf_counter() - start) * 1000)
            cpu.append((time.thread_time() - start_cpu) * 1000 / runs)
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
        psycopg.Cursor.execute, psycopg.Connection._exec_command = saved
    walls.sort()
    one.update(
        wall_p50=statistics.median(walls),
        wall_p90=walls[int(len(walls) * 0.9)],
        cpu_best=min(cpu),
        cpu_median=statistics.median(cpu),
    )
    print(
        f"in-process: {len(one['statements'])} statements, {one['round_trips']} round trips; "
        f"wall p50 {one['wall_p50']:.1f} ms (p90 {one['wall_p90']:.1f}); app thread CPU "
        f"{one['cpu_best']:.1f} ms (best of 5 × {runs}), {one['cpu_median']:.1f} (median)",
        flush=True,
    )
    for ms, text in one["statements"]:
        print(f"    {ms:6.2f} ms  {text}", flush=True)
    return one


def server_side(settings, small: list[query_data.TenantInfo], runs: int) -> dict[str, Any]:
    """``engine.run_query`` on one small tenant: every query of ``bench.query``, with and without
    the count, p50 / p95 in ms (after a warm-up run), and the plan of its page statement as the
    list reader runs it."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from custom_fields.query import reader
    from saas.app import create_app
    from tenants.context import tenant_context

    app = create_app(settings, WTF_CSRF_ENABLED=False)
    server = Server(app, small[0])
    seen: list[tuple[str, Any]] = []

    def page_statement(conn, cursor, statement, parameters, context, executemany) -> None:
        if "LIMIT" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    def timing(body: dict[str, Any], count: bool) -> list[float]:
        server.run(body, count=count)  # warm: caches, the plan, the pages
        return sorted(server.run(body, count=count)[1] for _ in range(runs))

    def plan(body: dict[str, Any]) -> str:
        seen.clear()
        server.run(body)
        statement, parameters = seen[-1]
        with app.app_context(), tenant_context(small[0].tenant_id), reader.reading() as session:
            rows = session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
            return _plan_summary([r[0] for r in rows])

    bodies = {name: body for name, (_label, body, _target) in QUERIES.items() if name != "q1p200"}
    bodies["q1p2"] = {**bodies["q1"], "cursor": server.cursor_of_page(bodies["q1"], 2)}
    results = {}
    event.listen(Engine, "before_cursor_execute", page_statement)
    try:
        for name, body in bodies.items():
            plain, counted = timing(body, False), timing(body, True)
            results[name] = {
                "p50": statistics.median(plain),
                "p95": plain[int(len(plain) * 0.95)],
                "count_p50": statistics.median(counted),
                "count_p95": counted[int(len(counted) * 0.95)],
                "plan": plan(body),
            }
            r = results[name]
            print(
                f"  server {name:5} p50 {r['p50']:6.1f} / p95 {r['p95']:6.1f} ms; with the count "
                f"p50 {r['count_p50']:6.1f} / p95 {r['count_p95']:6.1f} ms   {r['plan']}",
                flush=True,
            )
    finally:
        event.remove(Engine, "before_cursor_execute", page_statement)
    return results


# ---------------------------------------------------------------- under gunicorn


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _processes(master: int) -> dict[int, tuple[str, int]]:
    """CPU ticks so far per process of gunicorn (master and workers) and of this database's
    PostgreSQL backends."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = _stat(pid)
        if stat is None:
            continue
        if pid == master or stat[0] == master:
            found[pid] = ("gunicorn", stat[1])
        elif f" {query_data.DATABASE} " in _cmdline(pid):  # postgres: <role> kehu_bench <client>
            found[pid] = ("postgres", stat[1])
    return found


class CpuMeter:
    """CPU ticks of gunicorn and the database's backends over a run, sampled twice a second so
    that processes ending during it (recycled workers, their connections) keep what they used
    until shortly before."""

    def __init__(self, master: int):
        self.master = master
        self.start = _processes(master)
        self.last = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.last.update(_processes(self.master))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self.last.update(_processes(self.master))
        used = {"gunicorn": 0.0, "postgres": 0.0}
        for pid, (kind, ticks) in self.last.items():
            used[kind] += (ticks - self.start.get(pid, (kind, 0))[1]) / TICK
        return used


def _machine_busy() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _wrk(args: list[str]) -> tuple[str, float]:
    """Run wrk; its output and the CPU seconds it used."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"wrk failed: {output}")
    return output, usage.ru_utime + usage.ru_stime


def _latency(output: str, pct: str) -> float:
    value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", output).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def load(
    port: int,
    master: int,
    label: str,
    script: str | None,
    seconds: int,
    connections: int,
    warmup: int = 5,
) -> dict[str, Any]:
    """``wrk`` on ``label`` (a path, or what ``script``'s requests are)."""
    wrk = shutil.which("wrk")
    core = str((os.cpu_count() or 1) - 1)
    args = ["taskset", "-c", core, wrk, "-t1", f"-c{connections}", "--latency"]
    if script:
        args += ["-s", script]
    url = f"http://127.0.0.1:{port}{'/' if script else label}"
    _wrk([*args, f"-d{warmup}s", url])  # warm: every worker's caches and pools; not measured
    load_before = os.getloadavg()[0]
    busy0, total0 = _machine_busy()
    meter = CpuMeter(master)
    output, wrk_seconds = _wrk([*args, f"-d{seconds}s", url])
    used = meter.stop()
    busy1, total1 = _machine_busy()
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    per_request = {k: v * 1000 / max(requests, 1) for k, v in used.items()}
    per_request["wrk"] = wrk_seconds * 1000 / max(requests, 1)
    result = {
        "path": label,
        "connections": connections,
        "seconds": seconds,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _latency(output, "50"),
        "p90": _latency(output, "90"),
        "p99": _latency(output, "99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "machine_busy": (busy1 - busy0) / max(total1 - total0, 1),
        "cpu_ms": per_request,
    }
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in per_request.items())
    print(
        f"  wrk {label:>27} -c{connections:<3} {result['rps']:7.1f} req/s  "
        f"p50 {result['p50']:6.1f}  p90 {result['p90']:6.1f}  p99 {result['p99']:6.1f} ms  "
        f"non-2xx {result['non_2xx']}  load {load_before:.2f}→{result['load_after']:.2f}  "
        f"machine busy {result['machine_busy']:.0%}  CPU ms/request: {cpu}",
        flush=True,
    )
    return result


def http_load(
    settings,
    small: list[query_data.TenantInfo],
    seconds: int,
    connections: list[int],
    ceiling: bool = True,
    warmup: int = 5,
) -> list[dict[str, Any]]:
    lua = "{" + ",".join(f'{{"{t.slug}", "{t.token}"}}' for t in small) + "}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % lua)
    results = []
    try:
        with gunicorn(settings) as (port, master):
            for n in connections:
                if ceiling:
                    results.append(load(port, master, "/healthz", None, seconds, n, warmup))
                results.append(load(port, master, LIST_LABEL, script.name, seconds, n, warmup))
    finally:
        os.unlink(script.name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100, help="requests per in-process round")
    parser.add_argument("--query-runs", type=int, default=30)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", default="16,4")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--only-http", action="store_true")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the /healthz runs")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before each run")
    args = parser.parse_args()

    started = time.perf_counter()
    services = query_data.servers()
    try:
        settings, meta = query_data.ensure(services)
        _big, small = query_data.tenants_from(meta)
        print(f"machine: {machine()}; {dt.date.today().isoformat()}", flush=True)
        print(f"load average before: {os.getloadavg()}", flush=True)
        if not args.only_http:
            in_process(settings, small, args.runs)
            server_side(settings, small, args.query_runs)
        if not args.skip_http:
            if shutil.which("wrk") is None:
                print("wrk is not installed (apt-get install -y wrk): no load test")
            else:
                config = os.environ.get("GUNICORN_CMD_ARGS", "")
                print(f"gunicorn: infra/gunicorn.conf.py {config}".rstrip(), flush=True)
                connections = [int(n) for n in args.connections.split(",")]
                http_load(
                    settings, small, args.seconds, connections, not args.no_ceiling, args.warmup
                )
    finally:
        services.stop()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
