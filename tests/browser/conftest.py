"""Browser-test fixtures: demo data, the real API server on loopback, headless Chromium.

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/system-deps.sh`` installs it with
a CJK font); playwright never downloads a browser. Without Chromium the browser tests
skip, except under CI (``CI=1``, ``true``, ``True``…: ``tests.ciflag``) where they fail.
Screenshots go to
``test-output/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from casestore.identity import issue_dev_token
from tests.ciflag import under_ci

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-test-secret-0123456789-abcdef"
#: Staff the browser tests act as: enrolled and granted by the simulated bureau's admin.
TEST_STAFF = {
    "clerk-t1": ("clerk", "W01", "王窗口"),
    "approver-t1": ("approver", "", "李审批"),
    "inspector-t1": ("inspector", "", "陈监察"),
}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
FULL_HD = {"width": 1920, "height": 1080}
LAPTOP = {"width": 1366, "height": 768}
DEMO_CASES = 200
DEMO_DAYS = 60


def _cjk_font() -> bool:
    """Whether fontconfig knows a font covering Chinese (else the pages render tofu)."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.strip())


def _require_chromium() -> None:
    missing = []
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    if not _cjk_font():
        missing.append("a CJK font (Debian package fonts-noto-cjk)")
    if not missing:
        return
    message = f"missing {' and '.join(missing)}: run scripts/system-deps.sh"
    if under_ci():
        pytest.fail(message)
    pytest.skip(message)


def token(role: str, staff: str = "", window: str = "", name: str = "") -> str:
    """A development token for the test server (authority comes from the grants)."""
    return issue_dev_token(SECRET, staff or f"{role}-t1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with a simulated 60-day history ending today (200 cases)."""
    from casestore.simulate import run_simulation

    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'demo.db'}"
    run_simulation(url, cases=DEMO_CASES, seed=1, start=None, days=DEMO_DAYS, progress=False)
    return url


class LiveServer:
    """The real FastAPI app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, db_url: str) -> None:
        import uvicorn
        from casestore.api.app import create_app

        app = create_app(db_url, secret=SECRET, workers=True)  # embedded projection workers
        authority = app.state.casestore.authority
        for staff_id, (role, window, name) in TEST_STAFF.items():
            if authority.staff(staff_id, fresh=True) is None:
                authority.enroll(staff_id, name=name, by="admin-01")
                authority.grant(staff_id, role, by="admin-01", window=window, reason="测试")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    def wait_for_projections(self, timeout: float = 60) -> None:
        """Until every projection has applied the whole log (``/health`` lag 0)."""
        deadline = time.monotonic() + timeout
        while True:
            health = httpx.get(self.url + "/health", timeout=10).json()
            lags = {name: p["lag"] for name, p in health["projections"].items()}
            if lags and not any(lags.values()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"projections did not catch up: {lags}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self, role: str = "clerk", window: str = "W01") -> httpx.Client:
        headers = {"Authorization": f"Bearer {token(role, window=window)}"}
        if role == "inspector":
            headers["X-Purpose"] = "browser test"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def live_server(demo_db: str) -> Iterator[LiveServer]:
    server = LiveServer(demo_db)
    server.start()
    server.wait_for_projections()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium for the browser tier only: playwright's sync API keeps an event loop
    running in the main thread while it is open, so it must close with this package —
    a session-scoped browser made every later ``asyncio.run`` in the suite fail."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context: own sessionStorage) that fails the test on script errors."""
    context = browser.new_context(viewport=FULL_HD, locale="zh-CN", timezone_id="Asia/Shanghai")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS
