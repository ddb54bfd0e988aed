"""The running app and headless Chromium, for the browser tests.

An `App` is `streamlit run app.py` on a free port. The shared one (`app_url`) and the ones a test
module starts for itself run on a copy of the session's seeded database (DATABASE_URL), so no app
boots a database of its own; `App(folder, database_url=None)` starts the way a machine with
nothing configured does, on an empty embedded PostgreSQL in its folder.

`settle(page)` waits for the script runs a page asked for, by following the app's websocket:
the browser sends a `rerun_script` message for every run it wants, and the server ends each run
with `script_finished`. Fixed sleeps would either be too short on a busy machine or waste time.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from lib.config import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
# How long an action may take to send the rerun it causes. An action that causes none (a scroll,
# Escape on a popover) costs this much in settle(); one that does ends the wait when its message goes.
RERUN_GRACE_S = 0.25
POLL_MS = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """`streamlit run` in a folder of its own (its log, and its embedded database when it has no
    database_url). start() and stop() can be repeated: a restart keeps the database."""

    def __init__(self, folder: Path, *, database_url: str | None, env: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.database_url = database_url
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANTHROPIC_", "DATABASE_URL", "SUPABASE_", "BRIGHTRUN_"))}
        env.update({"BRIGHTRUN_DATA_DIR": str(self.data), **self.env})
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        log = self.folder / f"streamlit-{port}.log"
        with open(log, "w") as out:
            # No file watcher: nothing changes the sources while a test runs, and checking every
            # imported module for changes makes each script run about a quarter slower.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true",
                 "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"streamlit did not start; see {log}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        stop_embedded_dir(self.data)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def running_app(database_url: str | None, env: Mapping[str, str] | None = None) -> Iterator[App]:
    app = App(Path(tempfile.mkdtemp(prefix="brightrun-app-")), database_url=database_url, env=env)
    try:
        app.start()
        yield app
    finally:
        app.close()


def stop_embedded_dir(data_dir: Path) -> None:
    """An app leaves its embedded server running for its next start; a test stops it (fast shutdown)."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


@pytest.fixture(scope="session")
def app_url(seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    """One app for the browser tests that leave the seeds' decisions alone, on a seeded database."""
    with seeded_database() as dsn, running_app(dsn) as app:
        yield app.url


class SharedChromium:
    """One Chromium for a run of consecutive browser tests. Not one per session: Playwright's sync
    API keeps an event loop running in this thread while it is open, and asyncio.run() in a later
    (non-browser) test would fail; so close_unless_needed() closes it before such a test."""

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None

    def get(self) -> Any:
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                             args=CHROMIUM_ARGS)
        return self._browser

    def close_unless_needed(self, next_item: pytest.Item | None) -> None:
        if self._browser is not None and "browser" not in getattr(next_item, "fixturenames", ()):
            self._browser.close()
            self._playwright.stop()
            self._browser = self._playwright = None


chromium = SharedChromium()


@pytest.fixture
def browser() -> Any:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return chromium.get()


class ScriptRuns:
    """What a page's websockets have said about script runs (counted over navigations)."""

    def __init__(self) -> None:
        self.requested = 0  # rerun_script messages the browser sent
        self.answered = 0   # `requested` when the latest run ended (one cut short for a newer rerun does not count)
        self.settled = 0    # `requested` when settle() last returned

    def watch(self, ws: Any) -> None:
        ws.on("framesent", self._sent)
        ws.on("framereceived", self._received)

    def _sent(self, payload: str | bytes) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = _parse(BackMsg, payload)
        if msg is not None and msg.WhichOneof("type") == "rerun_script":
            self.requested += 1

    def _received(self, payload: str | bytes) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = _parse(ForwardMsg, payload)
        if (msg is not None and msg.WhichOneof("type") == "script_finished"
                and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN):
            self.answered = self.requested


def _parse(kind: Any, payload: str | bytes) -> Any:
    from google.protobuf.message import DecodeError

    if not isinstance(payload, bytes):
        return None
    try:
        return kind.FromString(payload)
    except DecodeError:
        return None


_runs: weakref.WeakKeyDictionary[Any, ScriptRuns] = weakref.WeakKeyDictionary()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A browser tab of a returning visitor (the first-visit overview seen: tests/test_browser_intro.py
    is the new visitor's journey)."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    ctx.add_cookies([{"name": "brightrun_overview_seen", "value": "1", "domain": "127.0.0.1", "path": "/"}])
    pg = ctx.new_page()
    runs = _runs[pg] = ScriptRuns()
    pg.on("websocket", runs.watch)
    yield pg
    ctx.close()


STARTED = ("() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
           " return app && app.dataset.testConnectionState === 'CONNECTED'"
           " && app.dataset.testScriptState !== 'initial'; }")
NOT_RUNNING = "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"


def settle(page: Any, timeout: float = 20_000) -> None:
    """Wait until Streamlit has finished every script run the page asked for, the one the last
    action caused included (timeout in ms, as Playwright's)."""
    runs = _runs[page]
    deadline = time.monotonic() + timeout / 1000
    page.wait_for_function(STARTED, timeout=timeout)  # connected, and the first run has begun
    if runs.requested == runs.settled:
        _wait(page, lambda: runs.requested != runs.settled, min(deadline, time.monotonic() + RERUN_GRACE_S))
    if not _wait(page, lambda: runs.answered == runs.requested, deadline):
        raise TimeoutError(f"the app did not finish its script run within {timeout / 1000:.0f} s")
    page.wait_for_function(NOT_RUNNING, timeout=max((deadline - time.monotonic()) * 1000, 1))
    runs.settled = runs.requested


def _wait(page: Any, done: Callable[[], bool], until: float) -> bool:
    # wait_for_timeout, not time.sleep: Playwright delivers the websocket events while it waits
    while not done():
        if time.monotonic() >= until:
            return False
        page.wait_for_timeout(POLL_MS)
    return True


def next_frames(page: Any, n: int = 2) -> None:
    """Let the browser paint what the last change drew (n animation frames)."""
    page.evaluate("n => new Promise(done => { const step = k => k ? requestAnimationFrame(() => step(k - 1))"
                  " : done(); step(n); })", n)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def grids_ready(page: Any, timeout: float = 20_000) -> None:
    """Wait until every st.dataframe in view (not in a hidden tab) has laid out its rows: the
    canvas grid ignores clicks until then, and its accessible rows appear at that moment."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stDataFrame\"]')]"
        ".every(g => !g.checkVisibility() || g.querySelectorAll('[role=row]').length > 1)", timeout=timeout)
