"""The ``kehu`` command: run the whole product, set up the database, seed the demo, run workers
and the test suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from saas.config import ROOT, Settings

DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "kehu-demo-2024"  # noqa: S105 (the published demo login)


@click.group()
def main() -> None:
    """Kehu, a multi-tenant CRM."""


@main.command()
def setup() -> None:
    """Apply migrations as the owner role and provision the app role (uses DATABASE_URL)."""
    from saas.database import migrate

    migrate(Settings.from_env())
    click.echo("database is up to date")


@main.command("seed-demo")
def seed_demo() -> None:
    """Create the demo company and login if they do not exist yet."""
    from saas.demo import ensure_demo_tenant

    created = ensure_demo_tenant(DEMO_SLUG, DEMO_EMAIL, DEMO_PASSWORD)
    click.echo("demo tenant created" if created else "demo tenant already present")


@main.command()
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
@click.option(
    "--no-schedule", is_flag=True, help="Do not queue the periodic jobs (another worker does)."
)
def worker(burst: bool, no_schedule: bool) -> None:
    """Run an RQ worker for the mail and default queues, and (unless --burst or --no-schedule)
    a child process queueing the periodic jobs such as the daily public pool sweep."""
    import multiprocessing

    from rq import Worker

    from saas.app import worker_app
    from saas.jobs import queue, redis_connection

    schedule = None
    if not burst and not no_schedule:
        # A process of its own (spawned before this one opens connections): RQ's scheduler
        # loop blocks and handles its own signals.
        schedule = multiprocessing.get_context("spawn").Process(
            target=_run_schedule, name="kehu-schedule", daemon=True
        )
        schedule.start()
    try:
        app = worker_app()
        with app.app_context():
            from print_templates.jobs import warm_renderer

            warm_renderer(quiet=True)  # loaded once: each work horse forked for a PDF is warm
            queues = [queue("default"), queue("mail")]
            Worker(queues, connection=redis_connection()).work(burst=burst, with_scheduler=True)
    finally:
        if schedule is not None and schedule.is_alive():
            schedule.terminate()
            schedule.join(10)


def _run_schedule() -> None:
    from saas.app import worker_app
    from saas.jobs import cron_scheduler

    with worker_app().app_context():
        cron_scheduler().start()


def _export(services) -> None:
    os.environ["DATABASE_URL"] = services.database_url
    os.environ["REDIS_URL"] = services.redis_url


@main.command()
@click.option("--port", default=lambda: int(os.environ.get("PORT", "8000")), show_default="8000")
def run(port: int) -> None:
    """Start everything: databases, migrations, demo data, web server and a worker."""
    from saas.devstack import ensure_services

    services = ensure_services()
    procs: list[subprocess.Popen] = []
    try:
        _export(services)
        for line in services.started:
            click.echo(f"started {line}")
        os.environ.setdefault("BASE_URL", f"http://localhost:{port}")
        _run_step([sys.executable, "-m", "saas.cli", "setup"])
        _run_step([sys.executable, "-m", "saas.cli", "seed-demo"])
        env = {**os.environ, "PORT": str(port)}
        procs.append(
            subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    str(ROOT / "infra" / "gunicorn.conf.py"),
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=env,
            )
        )
        procs.append(
            subprocess.Popen([sys.executable, "-m", "saas.cli", "worker"], cwd=ROOT, env=env)
        )
        _wait_until_ready(port, procs)
        click.secho(f"\n  Kehu is running at http://localhost:{port}/", fg="green", bold=True)
        click.echo(f"  Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}  (company /t/{DEMO_SLUG}/)")
        click.echo("  Press Ctrl-C to stop.\n")
        _supervise(procs)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("stopping…")
        _terminate(procs)
        services.stop()
        click.echo("stopped")


def _run_step(cmd: list[str]) -> None:
    result = subprocess.run(cmd, cwd=ROOT, check=False)  # noqa: S603
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(cmd[2:])} failed with exit code {result.returncode}")


def _wait_until_ready(port: int, procs: list[subprocess.Popen]) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise click.ClickException(f"a process exited early (code {p.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise click.ClickException("the web server did not become ready within 60 s")


def _supervise(procs: list[subprocess.Popen]) -> None:
    stop = {"now": False}

    def _handle(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _handle)
    while not stop["now"]:
        for p in procs:
            if p.poll() is not None:
                raise click.ClickException(f"process {p.args[2:]} exited (code {p.returncode})")
        time.sleep(0.5)


def _terminate(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def test(ctx: click.Context) -> None:
    """Run the test suite against one shared database server (extra args go to pytest)."""
    from saas.devstack import ensure_services

    services = ensure_services(database_name="postgres")
    code = 1
    try:
        env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
        code = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pytest", *ctx.args], cwd=ROOT, env=env, check=False
        ).returncode
    finally:
        services.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
