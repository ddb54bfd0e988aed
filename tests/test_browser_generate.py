"""Generate from the Scenarios page in a browser, against the fake Anthropic server: select five
rows, Generate selected, and watch the Generate page's progress bar reach 5 of 5, with the judge's
cost apart; then rate the conversations not rated yet from the Generate page."""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from lib.core.taxonomy import load_taxonomy
from tests.browser_app import grids_ready, next_frames, running_app, screenshot, settle
from tests.fake_anthropic import FakeAnthropic, FakeLimits, is_judge_request
from tests.test_browser_scenarios import grid_click_row

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(load_taxonomy()) as server:
        server.limits = FakeLimits(rpm=1_000_000, otpm=1_000_000_000)
        server.gate = threading.Semaphore(0)  # type: ignore[attr-defined]  # each answer waits for a release

        def gated(body: dict) -> tuple:
            if not is_judge_request(body):  # the judge's ratings come back at once
                server.gate.acquire(timeout=60)  # type: ignore[attr-defined]
            return server.answer(body, "valid")

        server.default = gated
        yield server


@pytest.fixture(scope="module")
def keyed_app(fake: FakeAnthropic, seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    """An app of its own with an API key: its worker thread generates against the fake."""
    env = {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url, "BRIGHTRUN_CONCURRENCY": "2"}
    with seeded_database() as dsn, running_app(dsn, env) as app:
        yield app.url


def test_generate_five_selected_and_watch_the_progress_reach_five_of_five(page, keyed_app: str,
                                                                          fake: FakeAnthropic) -> None:
    page.goto(f"{keyed_app}/?status=not_generated")
    settle(page, timeout=90_000)  # the first visit of a server imports what the pages need
    page.get_by_text("Showing 1–90 of 90 (of 100 scenarios)").wait_for()
    for row in range(5):
        grid_click_row(page, row)
    page.get_by_text("5 selected").wait_for()
    page.get_by_role("button", name="Generate selected (5)").click()
    settle(page)
    page.get_by_text("5 conversations queued").wait_for()
    page.get_by_text(re.compile(r"\(realtime\): \d of 5 generated")).first.wait_for(timeout=20_000)
    page.goto(keyed_app)  # all rows: the badges follow the job
    settle(page)
    page.get_by_text("Showing 1–100 of 100 scenarios").wait_for()
    grids_ready(page)
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.move(grid["x"] + grid["width"] / 2, grid["y"] + grid["height"] / 2)
    page.mouse.wheel(0, 35 * 8)  # rows 11-15, the ones generating
    next_frames(page, 4)
    screenshot(page, "generate-01-scenarios-live")

    page.goto(f"{keyed_app}/generate")
    settle(page)
    page.get_by_text("Job #1 · Realtime").wait_for()
    fake.gate.release(2)  # type: ignore[attr-defined]  # two answers come back
    page.get_by_text("2 of 5 conversations").wait_for(timeout=30_000)  # the fragment polls; no reload
    page.get_by_text("Generating #", exact=False).first.wait_for(timeout=20_000)  # the next two in flight
    screenshot(page, "generate-02-progress")
    fake.gate.release(3)  # type: ignore[attr-defined]
    page.get_by_text("5 of 5 conversations").wait_for(timeout=60_000)
    page.get_by_text("Completed").first.wait_for(timeout=10_000)
    settle(page)  # the last refresh draws the page once more, without the timer
    next_frames(page)
    page.get_by_text("Judge cost").first.wait_for()  # each conversation was rated as it was stored
    screenshot(page, "generate-03-done")
    judged = [r for r in fake.message_requests() if is_judge_request(r.body)]
    assert len(fake.message_requests()) == 10 and len(judged) == 5

    # the seed conversations have no rating yet: rate them, after the count and the estimate
    page.get_by_text("current conversations not rated by the quality judge yet").wait_for()
    page.get_by_role("button", name="Rate conversations not rated yet").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Estimated cost").wait_for(timeout=20_000)
    dialog.get_by_text("10", exact=True).first.wait_for()
    screenshot(page, "generate-04-rate-dialog")
    dialog.get_by_role("button", name="Start rating").click()
    settle(page)
    # the job's own title, not the start's note: that note goes with the rerun the finished job causes
    page.get_by_text("Rate 10 conversations").first.wait_for(timeout=40_000)
    page.get_by_text("10 of 10 conversations rated").wait_for(timeout=60_000)
    settle(page)
    next_frames(page)
    screenshot(page, "generate-05-rated")
    assert len([r for r in fake.message_requests() if is_judge_request(r.body)]) == 15

    # back on the Scenarios page the five rows are generated
    page.goto(f"{keyed_app}/?status=generated")
    settle(page)
    page.get_by_text("Showing 1–5 of 5 (of 100 scenarios)").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    grids_ready(page)
    next_frames(page)
    screenshot(page, "generate-06-scenarios-generated")
