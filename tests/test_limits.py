"""Length limits (lib/core/limits.py): a value over its limit is refused by the action behind the widget
with a message naming the field and the lengths, and no message repeats a long value."""
from __future__ import annotations

import pytest

import lib.review as rv
from lib.core import limits
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.core.rubric import default_rubric
from tests.test_review import FakeStore, seed, view_of  # noqa: F401  (the seed fixture)

MIB = "x" * (1 << 20)
LONG_LABEL = "y" * 10_000


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


def assert_refused_without_echo(exc: pytest.ExceptionInfo[BaseException], value: str, what: str) -> None:
    message = str(exc.value)
    assert what in message and f"{len(value):,}" in message
    assert value[:100] not in message and len(message) < 300


def test_check_keeps_a_value_at_its_limit_and_refuses_one_over() -> None:
    assert limits.check(limits.NOTE, "n" * limits.NOTE.max_chars) == "n" * limits.NOTE.max_chars
    assert limits.check(limits.NAME, None) == ""
    with pytest.raises(limits.TooLong) as exc:
        limits.check(limits.NOTE, "n" * (limits.NOTE.max_chars + 1))
    assert_refused_without_echo(exc, "n" * (limits.NOTE.max_chars + 1), "The notes")


def test_quoted_shows_a_short_value_and_only_the_length_of_a_long_one() -> None:
    assert limits.quoted("magic") == "'magic'"
    assert limits.quoted(LONG_LABEL) == "a 10,000-character value"


def test_a_one_mib_note_is_refused_before_it_is_stored_or_sent_as_feedback(seed, tax: Taxonomy) -> None:  # noqa: F811
    store = FakeStore()
    view = view_of(seed, tax)
    with pytest.raises(rv.ReviewError) as exc:
        rv.decide(store, view, "needs_edit", reviewer="Ana", notes=MIB)
    assert_refused_without_echo(exc, MIB, "The notes")
    with pytest.raises(rv.ReviewError) as exc:
        rv.queue_regeneration(store, view, notes=MIB, reviewer="Ana")
    assert_refused_without_echo(exc, MIB, "The feedback")
    assert store.calls == []


def test_a_100000_character_name_is_refused(seed, tax: Taxonomy) -> None:  # noqa: F811
    store = FakeStore()
    name = "N" * 100_000
    with pytest.raises(rv.ReviewError) as exc:
        rv.decide(store, view_of(seed, tax), "approved", reviewer=name)
    assert_refused_without_echo(exc, name, "The name")
    assert store.calls == []


def test_a_long_reason_and_a_long_label_value_are_refused_without_being_echoed(seed, tax: Taxonomy) -> None:  # noqa: F811
    store = FakeStore()
    view = view_of(seed, tax)
    reason = "r" * (limits.REASON.max_chars + 1)
    with pytest.raises(rv.ReviewError) as exc:
        rv.correct_user_turn(store, view, 0, primary="shame", sub_emotion="guilt", intensity=0.75, author="Ana",
                             reason=reason, tax=tax)
    assert_refused_without_echo(exc, reason, "The reason")
    for kw in ({"primary": LONG_LABEL, "sub_emotion": None}, {"primary": "anxiety", "sub_emotion": LONG_LABEL}):
        with pytest.raises(rv.ReviewError) as exc:
            rv.correct_user_turn(store, view, 0, intensity=0.5, author="Ana", reason="", tax=tax, **kw)
        assert LONG_LABEL[:50] not in str(exc.value) and "10,000-character value" in str(exc.value)
    with pytest.raises(rv.ReviewError) as exc:
        rv.correct_assistant_turn(store, view, 1, primary=LONG_LABEL, supporting=[], author="Ana", reason="", tax=tax)
    assert LONG_LABEL[:50] not in str(exc.value)
    rubric = default_rubric(tax.path)
    with pytest.raises(rv.ReviewError) as exc:
        rv.rate(store, view, rubric.ids[0], 3, rater="Ana", reason=reason, rubric=rubric)
    assert_refused_without_echo(exc, reason, "The reason")
    assert store.calls == []


def test_the_review_widgets_count_down_to_their_limits(app_env: str) -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).parent.parent / "pages" / "review.py"), default_timeout=60)
    at.query_params["conversation"] = "seed-01"
    at.session_state["br_reviewer"] = "Ana"
    at.run()
    assert not at.exception, at.exception
    notes = [t for t in at.text_area if t.label == "Notes"]
    assert notes and notes[0].proto.max_chars == limits.NOTE.max_chars
    at.session_state["br_reviewer"] = ""
    at.run()  # nobody named yet: the page asks for a name
    names = [t for t in at.text_input if t.label == "Your name"]
    assert names and all(t.proto.max_chars == limits.NAME.max_chars for t in names)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [("name", limits.NAME), ("note", limits.NOTE), ("note", limits.FEEDBACK), ("reason", limits.REASON),
     ("label value", limits.LABEL_VALUE)],
)
def test_the_database_refuses_at_the_same_length_the_widgets_stop(conn, kind: str, limit: limits.Limit) -> None:
    # the widgets' max_chars and the database's check constraints are one rule: a value the page accepts
    # is never refused by the database, and the database refuses nothing shorter than the page allows
    assert conn.execute("select app_private.text_limit(%s) as n", (kind,)).fetchone()["n"] == limit.max_chars
