"""Browser fixtures: the real app (CSRF on) on a live server, driven by Debian's Chromium.

Playwright's own browser downloads are never used: Chromium comes from the system
(``/usr/bin/chromium``). Outside CI the browser tests skip when it is missing; in CI
(``CI=true``) they fail instead, so a broken image cannot pass silently.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import build_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "saas" / "translations"
ARTIFACTS = ROOT / "test-artifacts"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    """Skip on a developer machine; fail in CI, where browser tests must always run."""
    if _in_ci():
        pytest.fail(f"browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def compiled_translations() -> Path:
    """Compile the gettext catalogues (``*.mo`` are not committed) before the app loads them."""
    if not any(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        return TRANSLATIONS
    pybabel = Path(sys.executable).with_name("pybabel")
    result = subprocess.run(
        [str(pybabel), "compile", "-d", str(TRANSLATIONS)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"pybabel compile failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return TRANSLATIONS


@pytest.fixture(scope="session")
def live_server(settings, compiled_translations) -> Iterator[str]:
    """The app with CSRF on, served by werkzeug on a free port; yields its base URL."""
    app = build_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    # Links in emails (invitations, password resets) must point at this server.
    app.config["KEHU_SETTINGS"] = dataclasses.replace(settings, base_url=base)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:  # pragma: no cover - depends on the environment
        _unavailable(f"the playwright package is not installed ({err})")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser, live_server):
    """Open fresh browser contexts (separate cookies: separate people); closed after the test."""
    contexts = []

    def factory():
        context = browser.new_context(base_url=live_server, locale="en-US")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page(request, new_context):
    """A page in a fresh context; a screenshot lands in test-artifacts/ when the test fails."""
    page = new_context().new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and not page.is_closed():
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception as err:  # a screenshot must never hide the real failure
            print(f"could not save a screenshot: {err}", file=sys.stderr)
