"""How far reviewers agree, on the conversations two or more of them decided on: on the decision and on
each turn's primary emotion, intensity band (the emotion family's bands, taxonomy/emotions.yaml) and
primary strategy. Per reviewer pair, Cohen's kappa (scikit-learn); overall, Cohen's kappa when the field
has two reviewers and Krippendorff's alpha (nominal, the `krippendorff` package) when it has more. Over
time by the day or week of each conversation's second decision, and the disagreements one by one.

What a reviewer said is the database's (public.agreement_decisions and agreement_labels): their last
decision, and of a label their last revision of that turn and field, else the value as generated.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import krippendorff
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from sklearn.metrics import cohen_kappa_score

from lib.core.taxonomy import Taxonomy
from lib.review.labels import DECISION_LABELS, FIELD_LABELS
from lib.review.text import intensity_band, label_value_text
from lib.store.protocol import Store

DECISION = "decision"
BAND = "emotion.band"
# the fields agreement is measured on, in the order the page shows them
FIELDS: dict[str, str] = {
    DECISION: "Decision",
    "emotion.primary": FIELD_LABELS["emotion.primary"],
    BAND: "Intensity band",
    "strategies.primary": FIELD_LABELS["strategies.primary"],
}
KAPPA = "Cohen's kappa"
ALPHA = "Krippendorff's alpha"
WHOLE = -1  # the turn of a conversation-level item (the decision)

# Landis and Koch's words for a kappa, the usual plain reading (upper bound, word)
READINGS: tuple[tuple[float, str], ...] = (
    (0.20, "poor"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.00, "almost perfect"),
)
Period = Literal["D", "W"]
PERIODS: dict[str, str] = {"W": "Week", "D": "Day"}

RATING_COLUMNS = ["conversation_id", "turn", "field", "reviewer", "value", "second_at"]


def reading(value: float | None) -> str:
    """A kappa or alpha in plain words: poor, fair, moderate, substantial, almost perfect."""
    if value is None or np.isnan(value):
        return "not measurable"
    return next((word for bound, word in READINGS if value <= bound), READINGS[-1][1])


@dataclass(frozen=True)
class Figure:
    """One agreement figure: the statistic, its value (None when every value is the same, so chance
    agreement is total and the statistic undefined), the items both or all rated, and how many of those
    they agreed on."""

    method: str
    value: float | None
    items: int
    agreed: int

    @property
    def share(self) -> float:
        return self.agreed / self.items if self.items else 0.0

    @property
    def reading(self) -> str:
        return reading(self.value)


# ---- what each reviewer said, one row per item and reviewer ----------------------------------------
def ratings_frame(
    decisions: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]], tax: Taxonomy
) -> pd.DataFrame:
    """One row per (conversation, turn, field, reviewer): the value the reviewer gave (taxonomy ids, the
    band's label, the decision), with the time of the conversation's second decision. The decision is
    the item of turn WHOLE."""
    rows: list[dict[str, Any]] = []
    second: dict[str, Any] = {}
    by_conv: dict[str, list[Any]] = {}
    for d in decisions:
        by_conv.setdefault(str(d["conversation_id"]), []).append(pd.Timestamp(d["decided_at"]))
        rows.append(_row(d["conversation_id"], WHOLE, DECISION, d["reviewer"], d["decision"]))
    for cid, times in by_conv.items():
        second[cid] = sorted(times)[1] if len(times) > 1 else times[0]
    emotions = tax.by_id("emotions")
    for r in labels:
        cid, turn, who = r["conversation_id"], int(r["turn_idx"]), r["reviewer"]
        if r["role"] == "user":
            rows.append(_row(cid, turn, "emotion.primary", who, r["emotion_primary"]))
            band = intensity_band(emotions.get(str(r["emotion_primary"])), r["emotion_intensity"])
            rows.append(_row(cid, turn, BAND, who, band or None))
        else:
            rows.append(_row(cid, turn, "strategies.primary", who, r["strategy_primary"]))
    frame = pd.DataFrame(rows, columns=RATING_COLUMNS[:-1])
    frame = frame[frame["value"].notna() & frame["conversation_id"].isin(second)]
    frame = frame.assign(second_at=pd.to_datetime(frame["conversation_id"].map(second), utc=True))
    return frame.reset_index(drop=True)[RATING_COLUMNS]


def _row(cid: Any, turn: int, field: str, reviewer: Any, value: Any) -> dict[str, Any]:
    return {"conversation_id": str(cid), "turn": turn, "field": field, "reviewer": str(reviewer), "value": value}


# ---- the statistics --------------------------------------------------------------------------------
def _wide(ratings: pd.DataFrame) -> pd.DataFrame:
    """Items x reviewers (values as text, NaN where a reviewer gave none), only items two or more rated."""
    if ratings.empty:
        return pd.DataFrame()
    wide = (
        ratings.drop_duplicates(["conversation_id", "turn", "reviewer"], keep="last")
        .pivot(index=["conversation_id", "turn"], columns="reviewer", values="value")
        .astype(object)
    )
    return wide[wide.notna().sum(axis=1) >= 2]


def _alike(wide: pd.DataFrame) -> pd.Series:
    """Per item: whether every reviewer who rated it gave the same value (column-wise, not row by row)."""
    first = wide.bfill(axis=1).iloc[:, 0]
    return (wide.isna() | wide.eq(first, axis=0)).all(axis=1)


def _agreed(wide: pd.DataFrame) -> int:
    return int(_alike(wide).sum())


def _kappa(a: pd.Series, b: pd.Series) -> float | None:
    if len(set(a) | set(b)) < 2:  # one value only: chance agreement is total, kappa is 0/0
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a label one of the two never used: sklearn warns, the figure stands
        return float(cohen_kappa_score(list(a), list(b)))


def _alpha(wide: pd.DataFrame) -> float | None:
    given = wide.stack().dropna()
    codes, values = pd.factorize(given.astype(str))
    if len(values) < 2:
        return None
    coded = pd.Series(codes, index=given.index, dtype=float).unstack().reindex(index=wide.index, columns=wide.columns)
    return float(krippendorff.alpha(reliability_data=coded.to_numpy().T, level_of_measurement="nominal"))


def figure(ratings: pd.DataFrame) -> Figure | None:
    """Agreement on the items of `ratings` (one field): Cohen's kappa when two reviewers rated them,
    Krippendorff's alpha when more did; None when no item was rated by two."""
    wide = _wide(ratings)
    if wide.empty:
        return None
    wide = wide.loc[:, wide.notna().any()]
    if wide.shape[1] == 2:
        a, b = wide.columns
        return Figure(KAPPA, _kappa(wide[a], wide[b]), len(wide), _agreed(wide))
    return Figure(ALPHA, _alpha(wide), len(wide), _agreed(wide))


def pair_figures(ratings: pd.DataFrame) -> list[tuple[str, str, Figure]]:
    """Cohen's kappa for each pair of reviewers on the items both rated (one field)."""
    wide = _wide(ratings)
    out: list[tuple[str, str, Figure]] = []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        if len(both):
            out.append((a, b, Figure(KAPPA, _kappa(both[a], both[b]), len(both), _agreed(both))))
    return out


# ---- the tables the page shows -----------------------------------------------------------------------
FIELD_COLUMNS = ["field", "Field", "Statistic", "Value", "Reading", "Items", "Agreed"]


def _figure_row(fig: Figure) -> dict[str, Any]:
    return {
        "Statistic": fig.method,
        "Value": fig.value,
        "Reading": fig.reading,
        "Items": fig.items,
        "Agreed": fig.share,
    }


def by_field(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per field: the overall figure (field is the id, Field its name)."""
    rows = []
    for field, label in FIELDS.items():
        fig = figure(ratings[ratings["field"] == field])
        if fig is not None:
            rows.append({"field": field, "Field": label, **_figure_row(fig)})
    return pd.DataFrame(rows, columns=FIELD_COLUMNS)


def by_pair(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per reviewer pair and field: Cohen's kappa on the items both rated."""
    rows = []
    for field, label in FIELDS.items():
        for a, b, fig in pair_figures(ratings[ratings["field"] == field]):
            rows.append({"Reviewers": f"{a} · {b}", "field": field, "Field": label, **_figure_row(fig)})
    return pd.DataFrame(rows, columns=["Reviewers", *FIELD_COLUMNS])


def over_time(ratings: pd.DataFrame, period: Period = "W") -> pd.DataFrame:
    """Per day or week of the conversations' second decision, and per field: the overall figure
    (Period is the period's first day)."""
    rows = []
    if ratings.empty:
        return pd.DataFrame(columns=["Period", *FIELD_COLUMNS])
    starts = ratings["second_at"].dt.tz_convert(None).dt.to_period(period).dt.start_time
    for start, chunk in ratings.groupby(starts):
        for field, label in FIELDS.items():
            fig = figure(chunk[chunk["field"] == field])
            if fig is not None:
                rows.append({"Period": start, "field": field, "Field": label, **_figure_row(fig)})
    return pd.DataFrame(rows, columns=["Period", *FIELD_COLUMNS])


def disagreements(ratings: pd.DataFrame, tax: Taxonomy) -> pd.DataFrame:
    """Every item the reviewers rated differently: conversation, turn (None: the whole conversation),
    field, and each reviewer's value by name ("Ana: Anxiety · Ben: Shame"), newest second decision first."""
    columns = ["conversation_id", "Turn", "Field", "Values", "Second decision"]
    second = ratings.drop_duplicates("conversation_id").set_index("conversation_id")["second_at"]
    rows = []
    for field, label in FIELDS.items():
        wide = _wide(ratings[ratings["field"] == field])
        if wide.empty:
            continue
        split = wide[~_alike(wide)]
        for (cid, turn), given in split.to_dict("index").items():
            rows.append(
                {
                    "conversation_id": cid,
                    "Turn": None if turn == WHOLE else int(turn),
                    "Field": label,
                    "Values": " · ".join(
                        f"{who}: {_value_text(field, v, tax)}" for who, v in given.items() if pd.notna(v)
                    ),
                    "Second decision": second[cid],
                }
            )
    out = pd.DataFrame(rows, columns=columns).astype({"Turn": "Int64"})
    return out.sort_values(["Second decision", "conversation_id", "Turn"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def _value_text(field: str, value: Any, tax: Taxonomy) -> str:
    if field == DECISION:
        return DECISION_LABELS.get(str(value), str(value))
    return label_value_text(field, value, tax)  # a band's label is its own text


def over_time_chart(table: pd.DataFrame, period: Period = "W") -> go.Figure:
    """over_time() as lines, one per field, on the scale of kappa (-1 to 1) with the readings' bounds
    marked, so a glance says whether agreement holds up."""
    shown = table.dropna(subset=["Value"]).assign(When=lambda t: t["Period"].dt.strftime("%Y-%m-%d"))
    fig = px.line(
        shown,
        x="When",
        y="Value",
        color="Field",
        markers=True,
        category_orders={"Field": list(FIELDS.values())},
        hover_data={"Items": True, "Reading": True, "Statistic": True, "Period": False},
        labels={"When": PERIODS[period] + " of the second decision", "Value": "Agreement (kappa or alpha)"},
    )
    for bound, word in READINGS[:-1]:
        fig.add_hline(y=bound, line={"color": "#d0d0d0", "dash": "dot", "width": 1})
        fig.add_annotation(
            x=1, xref="paper", y=bound, text=f"{word} ↓", showarrow=False, xanchor="right", yanchor="top",
            font={"size": 10, "color": "#909090"},
        )  # fmt: skip
    fig.update_xaxes(type="category")  # one point per period: a date axis would stretch a single one to milliseconds
    fig.update_layout(yaxis_range=[min(-0.1, float(shown["Value"].min()) if len(shown) else 0), 1.05],
                      margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=340, legend_title_text="")  # fmt: skip
    return fig


# ---- everything at once ------------------------------------------------------------------------------
@dataclass
class Agreement:
    ratings: pd.DataFrame  # ratings_frame
    conversations: int  # reviewed by two or more
    reviewers: list[str]

    @property
    def empty(self) -> bool:
        return self.conversations == 0

    @property
    def pairs(self) -> int:
        """The pairs of reviewers who decided on the same conversation."""
        decided = self.ratings[self.ratings["field"] == DECISION].groupby("conversation_id")["reviewer"]
        return len({pair for _, who in decided for pair in combinations(sorted(who), 2)})


def build_agreement(
    decisions: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]], tax: Taxonomy
) -> Agreement:
    ratings = ratings_frame(decisions, labels, tax)
    return Agreement(
        ratings=ratings,
        conversations=int(ratings["conversation_id"].nunique()),
        reviewers=sorted(ratings["reviewer"].unique()),
    )


def load_agreement(store: Store, tax: Taxonomy) -> Agreement:
    """What the Quality page shows, read from the store (two reads)."""
    return build_agreement(store.agreement_decisions(), store.agreement_labels(), tax)
