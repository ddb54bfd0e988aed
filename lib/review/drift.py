"""Label drift: which labels are corrected most, from what to what, by whom (reviewers, operators, automated
suggestions), for which model and prompt version, and how that moves over time. The counting is SQL's
(public.label_drift); this names the values and draws three charts a product lead reads at a glance, in the
style of lib/coverage/charts.py: corrections over time by source, the most frequent corrections by source,
and the corrections per model and prompt version."""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import PALETTE, REVISION_SOURCES
from lib.coverage.charts import _axis, _count_ticks, _layout, fmt
from lib.review.analytics import check_source
from lib.review.labels import FIELD_LABELS
from lib.review.text import label_text_names
from lib.store.protocol import Store

# a source keeps its hue on every drift chart
SOURCE_COLOURS: dict[str, str] = {
    "human_review": PALETTE["blue"],
    "operator_realtime": PALETTE["orange"],
    "automated": PALETTE["violet"],
}
COLUMNS = ["Day", "Field", "From", "To", "Source", "Model", "Prompt", "Corrections", "Conversations"]
WEEKLY_AFTER_DAYS = 31  # a longer span is drawn by week
# the sources above the plot, right-aligned: beside it they would take a third of a narrow chart
LEGEND: dict[str, Any] = {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1}


def drift_frame(store: Store, tax: Taxonomy, source: str | None = None) -> pd.DataFrame:
    """The corrections per (day, field, from, to, source, model, prompt), with names for display."""
    check_source(source)
    rows = store.label_drift(source)
    return pd.DataFrame(
        [
            {
                "Day": r["day"],
                "Field": FIELD_LABELS.get(r["field"], r["field"]),
                "From": label_text_names(r["field"], r["from_value"], tax),
                "To": label_text_names(r["field"], r["to_value"], tax),
                "Source": r["source"],
                "Model": r["model"] or "(seed, no model)",
                "Prompt": r["template"] or "(no prompt template)",
                "Corrections": int(r["corrections"]),
                "Conversations": int(r["conversations"]),
            }
            for r in rows
        ],
        columns=COLUMNS,
    )


def _periods(days: pd.Series) -> tuple[list[date], str]:
    """Every period from the first correction to the last (empty ones too, so a quiet week shows as one),
    and what a period is."""
    first, last = min(days), max(days)
    if (last - first).days <= WEEKLY_AFTER_DAYS:
        return [first + timedelta(days=i) for i in range((last - first).days + 1)], "day"
    start = first - timedelta(days=first.weekday())
    return [start + timedelta(weeks=i) for i in range((last - start).days // 7 + 1)], "week"


def _by_source_traces(
    frame: pd.DataFrame, category: str, categories: list[Any], *, horizontal: bool
) -> list[dict[str, Any]]:
    """One bar trace per source present, its corrections per category (0 where it has none)."""
    traces: list[dict[str, Any]] = []
    for src in [s for s in REVISION_SOURCES if s in set(frame["Source"])]:
        sums = frame[frame["Source"] == src].groupby(category)["Corrections"].sum()
        counts = [float(sums.get(c, 0)) for c in categories]
        names = [html.escape(str(c)) for c in categories]
        trace: dict[str, Any] = {
            "type": "bar",
            "name": REVISION_SOURCES[src],
            "marker": {"color": SOURCE_COLOURS[src]},
            "hovertext": [
                f"<b>{n}</b><br>{REVISION_SOURCES[src]}: {fmt(c)} corrections"
                for n, c in zip(names, counts, strict=True)
            ],
            "hovertemplate": "%{hovertext}<extra></extra>",
        }
        if horizontal:
            trace.update(orientation="h", x=counts, y=list(range(len(categories))))
        else:
            trace.update(x=[str(c) for c in categories], y=counts)
        traces.append(trace)
    return traces


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    return go.Figure(data=data, layout={**layout, "legend": LEGEND})


def _empty(title: str) -> go.Figure:
    return _figure([], _layout(title=title, x=_axis(""), y=_axis(""), height=300, empty="No corrections yet"))


def over_time_chart(frame: pd.DataFrame) -> go.Figure:
    """Corrections per day (or week), stacked by source: is labelling settling down, and who corrects it."""
    title = "Corrections over time"
    if frame.empty:
        return _empty(title)
    periods, unit = _periods(frame["Day"])
    part = frame.assign(Period=[d - timedelta(days=d.weekday()) if unit == "week" else d for d in frame["Day"]])
    data = _by_source_traces(part, "Period", periods, horizontal=False)
    most = float(part.groupby("Period")["Corrections"].sum().max())
    layout = _layout(
        title=title,
        subtitle=f"Label corrections per {unit}, by who made them",
        x=_axis("Week of" if unit == "week" else "Day", type="date", showgrid=False),
        y=_axis("Corrections", rangemode="tozero", **_count_ticks(most)),
        height=320,
        legend=True,
        barmode="stack",
    )
    return _figure(data, layout)


def _ranked(frame: pd.DataFrame, category: str, *, title: str, subtitle: str, top: int | None = None) -> go.Figure:
    """Horizontal bars, one per category (most corrections first), stacked by source."""
    if frame.empty:
        return _empty(title)
    totals = frame.groupby(category)["Corrections"].sum().sort_values(ascending=False, kind="stable")
    names = list(totals.index[:top] if top else totals.index)
    data = _by_source_traces(frame[frame[category].isin(names)], category, names, horizontal=True)
    layout = _layout(
        title=title,
        subtitle=subtitle,
        x=_axis("Corrections", rangemode="tozero", **_count_ticks(float(totals.max()))),
        y=_axis(
            "",
            tickvals=list(range(len(names))),
            ticktext=[html.escape(str(n)) for n in names],
            autorange="reversed",
            showgrid=False,
        ),
        height=max(260, 30 * len(names) + 150),
        legend=True,
        barmode="stack",
    )
    return _figure(data, layout)


def top_corrections_chart(frame: pd.DataFrame, top: int = 10) -> go.Figure:
    """The most frequent corrections ("Emotion: Anxiety → Overwhelm"), stacked by source."""
    named = frame.assign(Change=frame["Field"] + ": " + frame["From"] + " → " + frame["To"])
    return _ranked(
        named, "Change", title="Top corrections by source", subtitle="From what to what, by who corrected it", top=top
    )


def by_version_chart(frame: pd.DataFrame) -> go.Figure:
    """Corrections per model and prompt version, stacked by source: which generation setup labels worst."""
    named = frame.assign(Version=frame["Model"] + " · " + frame["Prompt"])
    return _ranked(
        named,
        "Version",
        title="Corrections by model and prompt",
        subtitle="Which generation setup's labels get corrected most",
    )
