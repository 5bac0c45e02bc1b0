"""Print jobs on real RQ workers in their own processes (forking work horses, as in production):
a work horse killed with SIGKILL mid-render is retried and stores exactly one document; so is a
job whose whole worker died; a render past its time limit or its memory limit fails with a plain
message and is not retried, and the worker lives on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from print_templates.models import PrintDocument
from saas import tracked
from saas.extensions import db
from tenants.context import tenant_context

ROOT = Path(__file__).resolve().parents[2]
#: A template that takes seconds to lay out (hundreds of table rows on dozens of pages).
SLOW = """<h1>{{ record.name }}</h1>
<table>{% for i in range(ROWS) %}<tr><td>{{ i }}</td><td>{{ record.name }} 第 {{ i }} 行</td>
<td>{{ company.name }}</td></tr>{% endfor %}</table>"""
WORKER = """
import json, sys
from rq import Worker
from saas.app import create_app
from saas.config import Settings
from saas.jobs import queue, redis_connection

args = json.loads(sys.argv[1])
settings = Settings.from_env(
    database_url=args["db"], redis_url=args["redis"], queue_prefix=args["prefix"],
    log_json=False, password_hash_profile="test",
)
app = create_app(settings, **args["config"])
with app.app_context():
    from print_templates.jobs import warm_renderer

    warm_renderer()  # as `kehu worker` does
    Worker([queue("default")], connection=redis_connection(), name=args["name"]).work(
        with_scheduler=True
    )
"""


class Workers:
    """RQ worker processes of the test's queues, each killed at the end."""

    def __init__(self, settings, config: dict) -> None:
        self.settings = settings
        self.config = config
        self.started: list[subprocess.Popen] = []

    def start(self, **config) -> subprocess.Popen:
        args = {
            "db": self.settings.database_url,
            "redis": self.settings.redis_url,
            "prefix": self.settings.queue_prefix,
            "config": {**self.config, **config},
            "name": f"print-test-{uuid.uuid4().hex[:8]}",
        }
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(args)],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            for pid in children(process.pid):  # the horse and the scheduler
                kill(pid)
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def horses(worker_pid: int) -> list[int]:
    """The work horses a worker forked: its children that lead a process group of their own
    (RQ's horse calls ``setpgrp``; its scheduler process does not)."""
    try:
        children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text()
    except OSError:
        return []
    found = []
    for pid in map(int, children.split()):
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                found.append(pid)
    return found


def children(worker_pid: int) -> list[int]:
    try:
        return [
            int(p)
            for p in Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
        ]
    except OSError:
        return []


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def workers(settings) -> Iterator[Workers]:
    pool = Workers(settings, {})
    yield pool
    pool.stop()


def _row(app, company, job_id: str) -> tracked.TrackedJob | None:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        row = tracked.get_job(job_id)
        if row is not None:
            db.session.expunge(row)
        return row


def _wait(app, company, job_id: str, want, timeout: float, what: str) -> tracked.TrackedJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _row(app, company, job_id)
        if row is not None and want(row):
            return row
        time.sleep(0.2)
    raise AssertionError(f"{what}: still {_row(app, company, job_id).__dict__}")


def _documents(app, company) -> list[PrintDocument]:
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        found = list(db.session.execute(select(PrintDocument)).scalars())
        db.session.expunge_all()
        return found


def _slow_pdf(shop, rows: int = 1500) -> dict:
    """A PDF job of a template several seconds long (about 1 s per 1,000 rows here)."""
    body = {
        "object_key": "account",
        "name": "Long list",
        "locale": "zh_CN",
        "source": SLOW.replace("ROWS", str(rows)),
        "is_default": True,
    }
    response = shop.owner.post(shop.url("/print-templates"), json=body)
    assert response.status_code == 201, response.get_json()
    response = shop.owner.post(shop.url(f"/records/account/{shop.customer_id}/pdf"), json={})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def _running(row: tracked.TrackedJob) -> bool:
    return row.status == "running"


def test_a_horse_killed_mid_render_is_retried_and_stores_one_document(app, shop, workers):
    worker = workers.start()
    job = _slow_pdf(shop)
    _wait(app, shop.company, job["id"], _running, 60, "the job did not start")
    time.sleep(1.5)  # well inside the render (several seconds)
    assert _row(app, shop.company, job["id"]).status == "running"
    killed = horses(worker.pid)
    assert killed, "the worker runs the job in a forked work horse"
    for pid in killed:
        kill(pid)
    # RQ sees the horse die and retries the job (after 5 s) in a new horse.
    row = _wait(app, shop.company, job["id"], lambda r: r.status == "succeeded", 120, "no retry")
    assert row.attempts == 2
    documents = _documents(app, shop.company)
    assert len(documents) == 1
    assert row.result["document_id"] == documents[0].id
    assert documents[0].pages > 10


def test_a_job_of_a_dead_worker_is_retried_by_another(app, shop, workers):
    """The worker, its horse and its scheduler are killed outright (a machine going down);
    another worker takes the job up once RQ counts it abandoned. RQ does that when the dead
    worker's heartbeat has expired (about 90 s) and the dead scheduler's lock too (61 s); the
    test advances that clock instead of waiting."""
    from rq.registry import StartedJobRegistry
    from rq.scheduler import RQScheduler

    from saas.jobs import queue, redis_connection

    first = workers.start()
    job = _slow_pdf(shop)
    _wait(app, shop.company, job["id"], _running, 60, "the job did not start")
    time.sleep(1.5)
    for pid in [*children(first.pid), first.pid]:  # horse, scheduler and worker
        kill(pid)
    first.wait(timeout=30)
    with app.app_context():
        registry = StartedJobRegistry(queue=queue("default"))
        assert registry.get_job_ids(), "the job is left as started"
        registry.cleanup(timestamp=time.time() + 3600)  # its heartbeat has long expired
        # The dead scheduler's lock would have expired as well.
        redis_connection().delete(RQScheduler.get_locking_key(queue("default").name))
    workers.start()
    row = _wait(app, shop.company, job["id"], lambda r: r.status == "succeeded", 120, "no retry")
    assert row.attempts == 2
    assert len(_documents(app, shop.company)) == 1


def test_a_render_past_its_time_limit_fails_without_retries(app, shop, workers, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_TIMEOUT_SECONDS", 2)  # the job's RQ timeout
    workers.start()
    job = _slow_pdf(shop, rows=8000)  # far past 2 s on any machine this suite runs on
    row = _wait(app, shop.company, job["id"], lambda r: r.status == "failed", 60, "no failure")
    assert "longer than 2 seconds" in row.error
    time.sleep(6)  # a retry would have started by now
    row = _row(app, shop.company, job["id"])
    assert (row.status, row.attempts) == ("failed", 1)
    assert _documents(app, shop.company) == []


def test_a_render_past_its_memory_limit_fails(app, shop, workers):
    """The layout libraries abort their process when memory runs out: the render's own child
    dies, the job fails with a plain message and is not retried."""
    workers.start(PRINT_MEMORY_LIMIT_MB=20)
    job = _slow_pdf(shop)
    row = _wait(app, shop.company, job["id"], lambda r: r.status == "failed", 60, "no failure")
    assert "more than 20 MB of memory" in row.error
    time.sleep(6)  # a retry would have started by now
    row = _row(app, shop.company, job["id"])
    assert (row.status, row.attempts) == ("failed", 1)
    assert _documents(app, shop.company) == []


def test_the_limit_is_the_render_childs_not_the_workers(app, shop, drain_jobs):
    """A worker that runs jobs in its own process (the test suite's) keeps its limits: the
    memory limit is set in the child each render runs in."""
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    response = shop.owner.post(shop.url(f"/records/account/{shop.customer_id}/pdf"), json={})
    drain_jobs()
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    status = shop.owner.get(response.get_json()["status_url"]).get_json()
    assert status["status"] == "succeeded"
    with app.app_context(), tenant_context(shop.company.tenant_id, db.session):
        count = db.session.execute(select(func.count()).select_from(PrintDocument)).scalar_one()
    assert count == 1
