"""Reviewer agreement (lib/review/agreement.py) on fixtures whose figures are worked out by hand, and on
the database: two reviewers on 20 conversations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.review import agreement as ag
from lib.store.postgres import PostgresStore
from tests.test_review_db import saved

TAX = load_taxonomy()
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday


def decisions(pairs: list[tuple[str, str]], *, reviewers: tuple[str, ...] = ("Ana", "Ben")) -> list[dict[str, Any]]:
    """Each reviewer's decision on conv-<i>, the i-th conversation decided on day i."""
    return [
        {"conversation_id": f"conv-{i}", "reviewer": who, "decision": d, "decided_at": T0 + timedelta(days=i, hours=n)}
        for i, row in enumerate(pairs)
        for n, (who, d) in enumerate(zip(reviewers, row, strict=True))
        if d
    ]


A, R = "approved", "rejected"
# the 2x2 table of the decisions:   Ben approved  Ben rejected
#                 Ana approved            5             1
#                 Ana rejected            1             3
TABLE = [(A, A)] * 5 + [(A, R)] + [(R, A)] + [(R, R)] * 3


def test_cohen_kappa_on_the_decisions_of_two_reviewers() -> None:
    """Observed agreement p_o = (5 + 3) / 10 = 0.8. Ana approves 6 of 10 and Ben 6 of 10, so chance
    agreement p_e = 0.6 * 0.6 + 0.4 * 0.4 = 0.52, and kappa = (0.8 - 0.52) / (1 - 0.52) = 0.28 / 0.48 =
    0.5833: moderate."""
    ratings = ag.ratings_frame(decisions(TABLE), [], TAX)
    fields = ag.by_field(ratings).set_index("field")
    assert fields.loc["decision", "Statistic"] == ag.KAPPA
    assert fields.loc["decision", "Value"] == pytest.approx(0.28 / 0.48)
    assert fields.loc["decision", "Reading"] == "moderate"
    assert (fields.loc["decision", "Items"], fields.loc["decision", "Agreed"]) == (10, 0.8)
    pairs = ag.by_pair(ratings)
    assert list(pairs["Reviewers"]) == ["Ana · Ben"] and pairs["Value"].iloc[0] == pytest.approx(0.28 / 0.48)

    listed = ag.disagreements(ratings, TAX)
    assert sorted(listed["conversation_id"]) == ["conv-5", "conv-6"]
    assert set(listed["Values"]) == {"Ana: Approved · Ben: Rejected", "Ana: Rejected · Ben: Approved"}
    assert listed["Turn"].isna().all() and set(listed["Field"]) == {"Decision"}


def test_krippendorff_alpha_where_more_than_two_reviewed() -> None:
    """Three reviewers, four conversations: (A, A, A), (A, A, R), (R, R, R), (R, R, -). The coincidences
    (each ordered pair of values within a conversation, weighted 1 / (values - 1)): o_AA = 3 + 1 = 4,
    o_AR = o_RA = 1, o_RR = 3 + 2 = 5; n_A = 5, n_R = 6, n = 11. Nominal alpha = 1 - (n - 1) * (o_AR + o_RA)
    / (2 * n_A * n_R) = 1 - 10 * 2 / 60 = 2/3."""
    rows = decisions([(A, A, A), (A, A, R), (R, R, R), (R, R, None)], reviewers=("Ana", "Ben", "Cleo"))
    fields = ag.by_field(ag.ratings_frame(rows, [], TAX)).set_index("field")
    assert fields.loc["decision", "Statistic"] == ag.ALPHA
    assert fields.loc["decision", "Value"] == pytest.approx(2 / 3)
    assert fields.loc["decision", "Reading"] == "substantial"
    # each pair still gets its kappa: Ana and Ben agree on all four (two values used): 1.0
    assert ag.build_agreement(rows, [], TAX).pairs == 3
    pairs = ag.by_pair(ag.ratings_frame(rows, [], TAX)).set_index("Reviewers")
    assert pairs.loc["Ana · Ben", "Value"] == pytest.approx(1.0) and pairs.loc["Ana · Cleo", "Items"] == 3


def test_labels_use_band_and_names_and_one_value_everywhere_is_not_measurable() -> None:
    """Both reviewers label the same emotion on every turn (one value only: kappa is 0/0, not a figure),
    but Ben puts turn 0's intensity in another band."""
    labels = []
    for i in range(3):
        for who, intensity in (("Ana", 0.7), ("Ben", 0.2 if i == 0 else 0.75)):
            labels += [
                {"conversation_id": f"conv-{i}", "reviewer": who, "turn_idx": 0, "role": "user",
                 "emotion_primary": "anxiety", "emotion_intensity": intensity, "strategy_primary": None},
                {"conversation_id": f"conv-{i}", "reviewer": who, "turn_idx": 1, "role": "assistant",
                 "emotion_primary": None, "emotion_intensity": None, "strategy_primary": "reframing"},
            ]  # fmt: skip
    ratings = ag.ratings_frame(decisions([(A, A)] * 3), labels, TAX)
    fields = ag.by_field(ratings).set_index("field")
    assert pd.isna(fields.loc["emotion.primary", "Value"])
    assert fields.loc["emotion.primary", "Reading"] == "not measurable"
    assert fields.loc["emotion.primary", "Agreed"] == 1.0
    assert fields.loc["emotion.band", "Items"] == 3 and fields.loc["emotion.band", "Agreed"] == pytest.approx(2 / 3)
    listed = ag.disagreements(ratings, TAX)
    assert list(zip(listed["conversation_id"], listed["Turn"], listed["Field"], listed["Values"])) == [
        ("conv-0", 0, "Intensity band", "Ana: high · Ben: low")
    ]


def test_over_time_by_the_day_and_week_of_the_second_decision() -> None:
    ratings = ag.ratings_frame(decisions(TABLE), [], TAX)  # conv-i's second decision on day i, from a Monday
    weekly = ag.over_time(ratings, "W")
    assert list(weekly["Period"].dt.strftime("%Y-%m-%d")) == ["2026-11-30", "2026-12-07"]
    assert list(weekly["Items"]) == [7, 3]
    daily = ag.over_time(ratings, "D")
    # one conversation a day: where both said the same, one value only (no figure); else no better than chance
    assert list(daily["Value"].fillna(-1)) == [-1] * 5 + [0.0, 0.0] + [-1] * 3


@pytest.mark.parametrize(
    ("value", "word"),
    [
        (-0.1, "poor"),
        (0.2, "poor"),
        (0.35, "fair"),
        (0.5, "moderate"),
        (0.7, "substantial"),
        (0.9, "almost perfect"),
        (None, "not measurable"),
    ],
)
def test_the_plain_reading_of_a_kappa(value: float | None, word: str) -> None:
    assert ag.reading(value) == word


def test_two_reviewers_on_twenty_conversations_in_the_database(store: PostgresStore, db_tax: Taxonomy) -> None:
    """Ana and Ben decide on 20 conversations and disagree on 4; Ben corrects one emotion. The
    database's reads give the figures and the disagreements."""
    saved(store, db_tax, 20)
    for i in range(20):
        store.record_review(f"conv-{i}", "approved", reviewer="Ana")
        theirs = "rejected" if i % 5 == 0 else "approved"
        store.record_review(f"conv-{i}", theirs, reviewer="Ben", reason_code="other" if theirs == "rejected" else None)
    generated = next(r for r in store.agreement_labels() if r["conversation_id"] == "conv-3")["emotion_primary"]
    other = next(e for e in db_tax.ids("emotions") if e != generated)
    store.revise_label("conv-3", 0, "emotion.primary", other, author="Ben")

    result = ag.load_agreement(store, db_tax)
    assert (result.conversations, result.reviewers) == (20, ["Ana", "Ben"])
    fields = ag.by_field(result.ratings).set_index("field")
    assert fields.loc["decision", "Items"] == 20 and fields.loc["decision", "Agreed"] == 0.8
    assert fields.loc["decision", "Value"] == pytest.approx(0.0)  # Ana approved all: no better than chance
    assert fields.loc["emotion.primary", "Items"] == 40  # two user turns in each
    listed = ag.disagreements(result.ratings, db_tax)
    assert len(listed) == 5
    emotion = listed[listed["Field"] == ag.FIELDS["emotion.primary"]]
    assert list(zip(emotion["conversation_id"], emotion["Turn"])) == [("conv-3", 0)]


def test_the_page_explains_the_readings_it_gives() -> None:
    from lib.ui.agreement import ABOUT

    assert "up to 0.2 poor, 0.4 fair, 0.6 moderate, 0.8 substantial, above that almost perfect" in ABOUT
    assert all(word in ABOUT for _, word in ag.READINGS)
