"""A reviewer's journey in headless Chromium: name, the seeds, approve one, reject one with a
reason, correct a label, look at the label analytics; then restart the app and find it all kept.

It runs its own app on a seeded database of its own: it changes the seeds' decisions, which other
browser tests (export, coverage) must not see. Screenshots go to test-artifacts/review-*.png.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.browser_app import App, next_frames, running_app, screenshot, settle

pytestmark = pytest.mark.browser
NAME = "Dana Reyes"


@pytest.fixture(scope="module")
def review_app(seeded_database: Callable[[], AbstractContextManager[str]]) -> Iterator[App]:
    with seeded_database() as dsn, running_app(dsn) as app:
        yield app


def open_review(page: Any, url: str, query: str = "") -> None:
    page.goto(f"{url}/review{query}")
    settle(page, timeout=90_000)  # the first visit of a server imports what the pages need
    page.get_by_role("heading", name="Review").first.wait_for(timeout=60_000)


def at_position(page: Any, text: str) -> None:
    page.get_by_text(text, exact=True).wait_for(timeout=20_000)


def choose(page: Any, box: str, option: str, scope: Any = None) -> None:
    box_ = (scope or page).get_by_role("combobox", name=box, exact=True)
    box_.click()
    wanted = page.get_by_role("option", name=option, exact=True)
    try:
        wanted.wait_for(timeout=3_000)
    except PlaywrightTimeout:  # the click only focused it (the page was still drawing): open the list
        box_.press("ArrowDown")
    wanted.click()
    settle(page)


def charts_drawn(page: Any) -> None:
    """Plotly draws after the page settles (its bundle loads on first use): wait, for the pictures."""
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=30_000)
    next_frames(page)


def type_notes(page: Any, text: str) -> None:
    notes = page.get_by_role("textbox", name="Notes")
    notes.fill(text)
    notes.press("Tab")  # a text area sends its value when it loses focus
    settle(page)


def test_a_reviewer_approves_rejects_and_corrects_a_label_and_it_survives_a_restart(
        review_app: App, page: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 1300})
    open_review(page, review_app.url)
    page.get_by_text("Who is reviewing?").wait_for()
    page.get_by_text("Nothing is waiting for review").wait_for()
    page.get_by_role("button", name=re.compile("Review the seeds")).wait_for()
    screenshot(page, "review-01-empty-queue-and-name")

    page.get_by_role("textbox", name="Your name").last.fill(NAME)
    page.get_by_role("button", name="Start reviewing").click()
    settle(page)
    page.get_by_text("Who is reviewing?").wait_for(state="detached")
    page.get_by_role("button", name=re.compile("Review the seeds")).click()
    settle(page)
    at_position(page, "1 of 10")
    page.get_by_text("seed-01").first.wait_for()
    charts_drawn(page)
    screenshot(page, "review-02-first-seed")

    # approve the first seed: the queue moves on by itself
    type_notes(page, "Warm, accurate and well paced.")
    page.get_by_role("button", name=re.compile("Approve")).click()
    settle(page)
    at_position(page, "2 of 10")
    page.get_by_text(re.compile(r"Approved: scenario #\d+ \(seed-01\), recorded for Dana Reyes")).wait_for()
    charts_drawn(page)
    screenshot(page, "review-03-approved-next")

    # reject the second: a reason from the list and notes
    page.get_by_role("button", name=re.compile("Reject")).click()
    settle(page)
    page.get_by_text("A rejection needs a reason").wait_for()
    choose(page, "Reason (needed to reject)", "Off-voice")
    type_notes(page, "Turn 3 sounds like a sales pitch, not Elena.")
    screenshot(page, "review-04-reject-with-reason")
    page.get_by_role("button", name=re.compile("Reject")).click()
    settle(page)
    at_position(page, "3 of 10")
    page.get_by_text(re.compile(r"Rejected: scenario #\d+ \(seed-02\)")).wait_for()

    # correct the emotion of the first user turn of the third seed
    page.get_by_role("button", name=re.compile("Correct labels")).first.click()
    popover = page.locator('[data-testid="stPopoverBody"]')
    choose(page, "Emotion", "Shame", popover)
    choose(page, "Sub-emotion", "self blame", popover)
    why = popover.get_by_role("textbox", name="Why (optional)")
    why.fill("the client blames herself here")
    why.press("Tab")
    settle(page)
    screenshot(page, "review-05-correcting-a-label")
    popover.get_by_role("button", name=re.compile("Save correction")).click()
    settle(page)
    page.get_by_text(re.compile(r"Emotion: \w+ → Shame · Dana Reyes")).first.wait_for()
    page.keyboard.press("Escape")  # close the popover for the picture
    settle(page)
    charts_drawn(page)
    screenshot(page, "review-06-label-corrected")

    page.get_by_role("tab", name=re.compile("Label analytics")).click()
    settle(page)
    page.get_by_text("Most corrected label").wait_for()
    charts_drawn(page)
    screenshot(page, "review-07-label-analytics")

    # a restart keeps everything: decisions with who and when, the label revision
    review_app.stop()
    review_app.start()
    open_review(page, review_app.url, "?conversation=seed-02")
    page.get_by_text(re.compile(r"Latest: Rejected by Dana Reyes")).wait_for()
    page.get_by_role("tab", name=re.compile(r"Decisions \(2\)")).click()
    settle(page)
    page.get_by_text("Turn 3 sounds like a sales pitch, not Elena.").wait_for()
    page.set_viewport_size({"width": 1440, "height": 1700})
    page.mouse.move(5, 5)  # no tooltip in the picture
    page.locator('[data-baseweb="tooltip"]').first.wait_for(state="detached")
    next_frames(page)
    screenshot(page, "review-08-after-restart-history")
    page.set_viewport_size({"width": 1440, "height": 1300})
    open_review(page, review_app.url, "?conversation=seed-03")
    page.get_by_text(re.compile(r"Emotion: \w+ → Shame · Dana Reyes")).first.wait_for()
    open_review(page, review_app.url, "?conversation=seed-01")
    page.get_by_text(re.compile(r"Latest: Approved by Dana Reyes")).wait_for()


def test_generated_markup_shows_as_text_in_the_browser(review_app: App, page: Any) -> None:
    """A generated turn holding HTML, a script, a markdown image and link: the reviewer sees the
    characters; the browser gets no script, image or link from it."""
    from lib.core.models import Conversation
    from lib.store.postgres import PostgresStore
    from tests.conftest import make_conversation

    assert review_app.database_url
    store = PostgresStore(review_app.database_url, min_size=1, max_size=1)  # the app's database, while it runs
    try:
        row = next(r for r in store.list_scenarios({"status": ["not_generated"]}) if r["tier"] == "template")
        doc = make_conversation(row, "markup-1").model_dump(mode="json")
        doc["turns"][0]["text"] = ('<script>window.pwned = 1</script> <img src="http://e/x.png"> I owe $4,000 '
                                   "![x](http://e/x.png) [click](http://evil) **bold** :red[x]")
        store.save_generated(Conversation.model_validate(doc), scenario_id=row["id"])
    finally:
        store.close()

    page.set_viewport_size({"width": 1440, "height": 1300})
    open_review(page, review_app.url, "?conversation=markup-1")
    turn = page.locator('[data-testid="stChatMessage"]').first
    # the text, and the findings under it that quote it
    turn.get_by_text("<script>window.pwned = 1</script>", exact=False).first.wait_for()
    shown = turn.inner_text().replace("\u2060", "")  # the word joiner that keeps a URL from becoming a link
    assert '<img src="http://e/x.png">' in shown and "![x](http://e/x.png) [click](http://evil)" in shown
    assert "**bold** :red[x]" in shown and "$4,000" in shown
    assert page.evaluate("() => window.pwned") is None
    assert turn.locator("script, img, a").count() == 0
    charts_drawn(page)
    turn.scroll_into_view_if_needed()
    screenshot(page, "review-09-markup-as-text")


def cookie_says(page: Any, value: str) -> None:
    """The browser has stored the name (the page writes the cookie with a script as it draws)."""
    page.wait_for_function(f"() => document.cookie.includes('brightrun_reviewer={value}')", timeout=15_000)


def test_a_reviewer_reloads_mid_queue_and_carries_on_with_the_same_name_and_position(
        review_app: App, page: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 1300})
    open_review(page, review_app.url)
    page.get_by_text("Who is reviewing?").wait_for()
    page.get_by_role("textbox", name="Your name").last.fill("Sam Okafor")
    page.get_by_role("button", name="Start reviewing").click()
    settle(page)
    cookie_says(page, "Sam%20Okafor")
    open_review(page, review_app.url, "?status=&source=seed")  # a shared link to every seed
    at_position(page, "1 of 10")
    for _ in range(2):
        page.get_by_role("button", name=re.compile("Next")).click()
        settle(page)
    at_position(page, "3 of 10")
    assert "conversation=seed-03" in page.url and "source=seed" in page.url

    page.reload()  # a new session: the name and the place come back, the buttons are on
    settle(page, timeout=60_000)
    at_position(page, "3 of 10")
    page.get_by_text("seed-03").first.wait_for()
    assert page.get_by_text("Who is reviewing?").count() == 0
    expect(page.get_by_role("textbox", name="Your name").first).to_have_value("Sam Okafor")  # once it is drawn
    assert page.get_by_role("button", name=re.compile("Approve")).is_enabled()
    charts_drawn(page)
    screenshot(page, "review-10-after-reload-same-name-and-place")

    tab = page.context.new_page()  # a new tab remembers the name too
    tab.goto(f"{review_app.url}/review")
    tab.get_by_role("heading", name="Review").first.wait_for(timeout=60_000)
    tab.get_by_role("textbox", name="Your name").first.wait_for()
    tab.wait_for_function("() => [...document.querySelectorAll('input')].some(i => i.value === 'Sam Okafor')")
    tab.close()

    page.get_by_role("button", name=re.compile("Approve")).click()  # and carries on where it was
    settle(page)
    at_position(page, "4 of 10")
    page.get_by_text(re.compile(r"Approved: scenario #\d+ \(seed-03\), recorded for Sam Okafor")).wait_for()

    # the name can be changed in the sidebar, and the change is what the next reload remembers
    name = page.get_by_role("textbox", name="Your name").first
    name.fill("Sam O.")
    name.press("Enter")
    settle(page)
    cookie_says(page, "Sam%20O.")
    page.reload()
    settle(page, timeout=60_000)
    expect(page.get_by_role("textbox", name="Your name").first).to_have_value("Sam O.")
