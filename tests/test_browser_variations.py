"""Variation sets in a browser, against the fake Anthropic server: on Review, make variations of an
approved seed (open the popover, make them), watch them generate on the Generate page, and open one on
Review with its source beside it."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.core.taxonomy import load_taxonomy
from tests.browser_app import next_frames, screenshot, settle
from tests.fake_anthropic import FakeAnthropic, FakeLimits
from tests.test_browser_generate import keyed_app  # noqa: F401  (an app whose worker generates against `fake`)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(load_taxonomy()) as server:
        server.limits = FakeLimits(rpm=1_000_000, otpm=1_000_000_000)
        yield server


def test_make_variations_on_review_watch_them_generate_and_review_one_beside_its_source(
        page, keyed_app: str, fake: FakeAnthropic) -> None:
    page.goto(f"{keyed_app}/review?conversation=seed-01")
    settle(page, timeout=90_000)  # the first visit of a server imports what the pages need
    page.get_by_role("button", name="Make variations").click()
    settle(page)
    count = page.get_by_label("How many (per conversation)")
    count.fill("5")
    count.press("Tab")
    settle(page)
    make = page.get_by_role("button", name="Make 5 variations and generate")
    make.wait_for()
    page.get_by_test_id("stPopoverBody").get_by_text("Estimated cost").wait_for()  # before the click
    screenshot(page, "variations-01-popover")
    make.click()
    settle(page)
    page.get_by_test_id("stPopoverBody").get_by_text("5 variations (topic) of seed-01 are queued as job #").wait_for()
    next_frames(page)
    screenshot(page, "variations-02-queued")

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Generate").click()  # the notice's link opens a tab
    settle(page)
    page.get_by_text("5 of 5 conversations").wait_for(timeout=90_000)  # the fragment polls; no reload
    page.get_by_text("Variations of seed-01: 5 conversations").first.wait_for()  # the job says what it is
    next_frames(page)
    screenshot(page, "variations-03-generated")
    generated = [r for r in fake.message_requests() if "<source_id>seed-01</source_id>" in str(r.body)]
    assert len(generated) == 5

    page.goto(f"{keyed_app}/review")  # the default queue: generated, not reviewed yet
    settle(page)
    page.get_by_text("Variation of seed-01").first.wait_for()
    page.get_by_text("Topic: First portfolio →").first.wait_for()
    page.get_by_text("0 · user").first.wait_for()  # the source's first turn, beside the variation's
    settle(page)
    page.get_by_text("Variation of seed-01").first.scroll_into_view_if_needed()
    next_frames(page)
    screenshot(page, "variations-04-review-beside-source")
