"""The README's run command, end to end: services, migrations, demo, gunicorn, worker, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest

from saas.config import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def run_env(settings, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "QUEUE_PREFIX": settings.queue_prefix + "run",
        "PORT": str(_free_port()),
        "WEB_CONCURRENCY": "1",
        "KEHU_DATA_DIR": str(tmp_path),
        "LOG_JSON": "1",
    }
    return env


def test_run_serves_the_demo_and_stops_cleanly_on_ctrl_c(run_env):
    port = run_env["PORT"]
    process = subprocess.Popen(
        [sys.executable, "-m", "saas.cli", "run"],
        cwd=ROOT,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                pytest.fail("run exited early:\n" + "".join(output))
            output.append(line)
            if "Press Ctrl-C to stop" in line:
                break
        text = "".join(output)
        assert f"http://localhost:{port}/" in text
        login = re.search(r"Demo login: (\S+) / (\S+)", text)
        assert login, text
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:  # noqa: S310
            assert json.load(response)["status"] == "ok"
        # Log in to the demo company over real HTTP (CSRF token from the form).
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = opener.open(f"{base}/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        data = urlencode(
            {"email": login.group(1), "password": login.group(2), "csrf_token": token}
        ).encode()
        home = opener.open(f"{base}/login", data=data, timeout=10)
        assert home.url.endswith("/t/demo/")
        assert "Kehu 演示公司" in home.read().decode()
        # A few hundred customers: the first one of the demo is found by quick search (pinyin).
        customers = (
            opener.open(f"{base}/t/demo/o/account/?q=shanghaimingyuan", timeout=10).read().decode()
        )
        assert "上海明远精密制造有限公司" in customers
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.returncode == 0, "".join(output) + rest
    assert "stopped" in rest
