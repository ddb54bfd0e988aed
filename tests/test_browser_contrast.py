"""A reviewer's contrastive journey in headless Chromium: open an approved seed, ask for failed turns for one
assistant turn, watch them arrive, read a pair side by side and accept it.

It runs its own app with an API key pointing at the fake server, on a seeded database of its own.
Screenshots go to test-artifacts/contrast-*.png.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from lib.core.taxonomy import load_taxonomy
from tests.browser_app import running_app, screenshot, settle
from tests.fake_anthropic import FakeAnthropic, FakeLimits

pytestmark = pytest.mark.browser
NAME = "Dana Reyes"


@pytest.fixture(scope="module")
def keyed_app(seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with FakeAnthropic(load_taxonomy()) as fake:
        fake.limits = FakeLimits(rpm=1_000_000, otpm=1_000_000_000)
        env = {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url}
        with seeded_database() as dsn, running_app(dsn, env) as app:
            yield app.url


def ask_for_failed_turns(page: Any, url: str) -> None:
    """Open seed-01 on Review under a name and ask for failed turns for its turn 3."""
    page.set_viewport_size({"width": 1440, "height": 1300})
    page.goto(f"{url}/review")
    settle(page, timeout=90_000)
    page.get_by_role("textbox", name="Your name").last.fill(NAME)
    page.get_by_role("button", name="Start reviewing").click()
    settle(page)
    page.get_by_role("button", name=re.compile("Review the seeds")).click()
    settle(page)
    page.get_by_text("1 of 10", exact=True).wait_for(timeout=20_000)

    section = page.get_by_role("heading", name=re.compile("Contrastive turns"))
    section.scroll_into_view_if_needed()
    turn = page.get_by_role("combobox", name="Turn", exact=True)
    turn.click()
    page.get_by_role("option", name=re.compile(r"^Turn 3, answering turn 2")).click()
    settle(page)
    page.get_by_role("button", name=re.compile("Write failed turns")).click()
    settle(page)


def first_pair(page: Any) -> Any:
    """The first pair once the failed turns have arrived, in view."""
    page.get_by_text(re.compile(r"\d+ contrastive responses: \d+ proposed")).wait_for(timeout=60_000)
    settle(page)
    pair = page.locator('[class*="st-key-ct_pair_"]').first
    pair.scroll_into_view_if_needed()
    assert pair.get_by_text("Approved turn").is_visible() and pair.get_by_text("Failed response").is_visible()
    assert pair.get_by_text(re.compile("^Why it fails:")).is_visible()
    return pair


def accept(page: Any, pair: Any) -> None:
    pair.get_by_role("button", name=re.compile("Accept")).click()
    settle(page)
    page.get_by_text(re.compile("goes into the preference export")).wait_for(timeout=20_000)
    page.get_by_text(re.compile(r"contrastive responses: \d+ proposed, 1 accepted")).wait_for(timeout=20_000)


def test_a_reviewer_asks_for_failed_turns_watches_them_arrive_and_accepts_a_pair(keyed_app: str, page: Any) -> None:
    ask_for_failed_turns(page, keyed_app)
    screenshot(page, "contrast-01-asked")
    pair = first_pair(page)
    screenshot(page, "contrast-02-pairs-side-by-side")
    accept(page, pair)
    screenshot(page, "contrast-03-accepted")
