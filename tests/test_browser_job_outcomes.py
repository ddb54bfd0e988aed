"""Job outcomes in a browser, against the fake Anthropic server: a job whose every answer fails the checks
ends "Failed" with one grouped cause (and the failed scenario's detail says why); Stop settles the panel
within 2 s of the last item in flight, without a reload; an unreachable endpoint is named before any item
is spent."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import psycopg
import pytest

from lib.core.taxonomy import load_taxonomy
from tests.browser_app import next_frames, running_app, screenshot, settle
from tests.fake_anthropic import FakeAnthropic
from tests.test_browser_scenarios import grid_click_row

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(load_taxonomy()) as server:
        yield server


@pytest.fixture(scope="module")
def keyed(fake: FakeAnthropic, seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[tuple[str, str]]:
    """(the app's URL, its database) for an app whose worker generates against the fake."""
    env = {
        "ANTHROPIC_API_KEY": fake.api_key,
        "ANTHROPIC_BASE_URL": fake.url,
        "BRIGHTRUN_CONCURRENCY": "2",
        "BRIGHTRUN_JUDGE": "false",
    }
    with seeded_database() as dsn, running_app(dsn, env) as app:
        yield app.url, dsn


@pytest.fixture
def keyed_app(keyed: tuple[str, str]) -> str:
    return keyed[0]


def when_settled(dsn: str) -> Callable[[], float]:
    """Watch the database from a thread: the returned call gives the monotonic time at which the latest job
    had no item in flight any more (waiting for it up to 60 s)."""
    seen: list[float] = []

    def watch() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = conn.execute(
                    "select count(*) from public.generation_job_items where status = 'claimed' "
                    "and job_id = (select max(id) from public.generation_jobs)"
                ).fetchone()
                if row and row[0] == 0:
                    seen.append(time.monotonic())
                    return
                time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def settled_at() -> float:
        thread.join(61)
        assert seen, "the job's items in flight never settled"
        return seen[0]

    return settled_at


def generate_first_rows(page, url: str, n: int) -> None:
    page.goto(f"{url}/?status=not_generated")
    settle(page, timeout=90_000)  # the first visit of a server imports what the pages need
    for row in range(n):
        grid_click_row(page, row)
    page.get_by_text(f"{n} selected").wait_for()
    page.get_by_role("button", name=f"Generate selected ({n})").click()
    settle(page)


def test_a_job_whose_answers_all_fail_ends_failed_with_one_grouped_cause(
    page, keyed_app: str, fake: FakeAnthropic
) -> None:
    fake.default = "unknown_label"  # every answer, repairs included, names a strategy the taxonomy lacks
    generate_first_rows(page, keyed_app, 3)
    page.get_by_text("3 conversations queued").wait_for()
    page.goto(f"{keyed_app}/generate")
    settle(page)
    page.get_by_text("all 3 items failed (one cause)").wait_for(timeout=60_000)
    page.get_by_role("cell", name="Failed", exact=True).wait_for()  # the job's status in the table of jobs
    page.get_by_text("Failures: 3 · 1 cause").wait_for()
    group = page.get_by_text("3 × Failed quality checks after the repairs")
    group.wait_for()
    assert page.get_by_text("Completed").count() == 0
    group.click()  # the example opens
    page.get_by_text("Example: scenario #").wait_for()
    next_frames(page)
    screenshot(page, "outcomes-01-all-failed")
    assert page.evaluate("document.documentElement.scrollHeight") < 3_000  # one group, not a wall of errors

    # the failed scenario's detail says why, and the queued banner is gone
    page.goto(f"{keyed_app}/?status=failed")
    settle(page)
    page.get_by_text("Showing 1–3 of 3 (of 100 scenarios)").wait_for()
    assert page.get_by_text("(realtime):").count() == 0  # no job's progress banner: nothing is queued
    grid_click_row(page, 0)
    line = page.get_by_text("The latest generation failed")
    line.wait_for()
    line.scroll_into_view_if_needed()
    next_frames(page)
    screenshot(page, "outcomes-02-scenario-failure")


def test_stop_settles_within_two_seconds_of_the_last_item(page, keyed: tuple[str, str], fake: FakeAnthropic) -> None:
    keyed_app, dsn = keyed
    gate = threading.Semaphore(0)

    def gated(body: dict) -> tuple:
        gate.acquire(timeout=60)
        return fake.answer(body, "valid")

    fake.default = gated
    generate_first_rows(page, keyed_app, 4)
    page.goto(f"{keyed_app}/generate")
    settle(page)
    page.get_by_text("Generating #").first.wait_for(timeout=20_000)  # two in flight, waiting for the fake
    page.get_by_role("button", name="Stop").click()
    # one or two in flight, as the worker's limiter allowed so far
    page.get_by_text(re.compile(r"Stopping: [12] in flight will finish")).wait_for(timeout=10_000)
    screenshot(page, "outcomes-03-stopping")
    settled_at = when_settled(dsn)
    gate.release(4)  # the two in flight come back (the worker's limiter may space their requests apart)
    page.get_by_text("Stopping:").wait_for(state="detached", timeout=30_000)
    shown = time.monotonic()
    settled_s = shown - settled_at()
    page.get_by_text("Stopped", exact=True).first.wait_for()
    page.get_by_text(re.compile(r"[12] of [12] conversations")).wait_for()
    assert page.get_by_text("Stopping:").count() == 0
    # the lines of the items in flight are gone, and nothing drawn before is left over
    page.wait_for_function("() => [...document.querySelectorAll('h5')].filter(h => h.textContent === 'All jobs')"
                           ".length === 1", timeout=10_000)
    next_frames(page)
    screenshot(page, "outcomes-04-stopped")
    print(f"\nThe panel showed Stopped {settled_s:.2f} s after the database had the last item settled")
    assert settled_s < 2.0
    fake.default = "valid"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_endpoint_is_named_before_any_item_is_spent(
    page, seeded_database: Callable[[], AbstractContextManager[str]]
) -> None:
    env = {"ANTHROPIC_API_KEY": "fake-ak-test-unreachable", "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    with seeded_database() as dsn, running_app(dsn, env) as app:
        generate_first_rows(page, app.url, 2)
        page.get_by_text("Nothing was started: The API endpoint could not be reached").wait_for(timeout=20_000)
        page.get_by_text("ANTHROPIC_BASE_URL", exact=False).first.wait_for()
        next_frames(page)
        screenshot(page, "outcomes-05-unreachable")
        page.goto(f"{app.url}/generate")
        settle(page)
        page.get_by_text("No generation job yet").wait_for()
