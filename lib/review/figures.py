"""The Review page's figures: the emotional arc of one conversation and the chart of label
corrections (plotly), and the badge colour nearest an emotion's colour."""

from __future__ import annotations

import colorsys
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lib.review.labels import GROUP_LABELS
from lib.review.view import ConversationView


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A Figure from plain dicts without plotly's per-property validation: it costs ~50 ms for a
    small chart, most of the time it takes to open a conversation, and these dicts are fixed
    shapes built here (the output is the same). Falls back to validating if plotly drops the flag."""
    try:
        return go.Figure(data=data, layout=layout, _validate=False)
    except TypeError:
        return go.Figure(data=data, layout=layout)


def arc_figure(view: ConversationView, colours: Mapping[str, str]) -> go.Figure:
    """Intensity per user turn, each point in its emotion's colour, with the arc's intended curve. The
    turns keep their numbers in the conversation (0, 2, 4...), as the chat and the history show them."""
    df = view.arc
    turns = [int(x) for x in df["turn"]]
    data: list[dict[str, Any]] = []
    if view.target_curve:
        data.append(
            {
                "type": "scatter",
                "x": turns,
                "y": list(view.target_curve),
                "mode": "lines",
                "name": "Arc target",
                "line": {"color": "#b0b0b0", "dash": "dot", "width": 2},
                "hovertemplate": "target %{y:.2f}<extra></extra>",
            }
        )
    data.append(
        {
            "type": "scatter",
            "x": turns,
            "y": [float(v) for v in df["intensity"]],
            "mode": "lines",
            "line": {"color": "#7f7f7f", "width": 2},
            "showlegend": False,
            "hoverinfo": "skip",
        }
    )
    for emotion in dict.fromkeys(df["emotion"]):  # one trace per emotion: the legend names the colours
        part = df[df["emotion"] == emotion]
        data.append(
            {
                "type": "scatter",
                "x": [int(x) for x in part["turn"]],
                "y": [float(v) for v in part["intensity"]],
                "mode": "markers",
                "name": str(part["emotion_name"].iloc[0]),
                "marker": {
                    "color": colours.get(str(emotion), "#888888"),
                    "size": 13,
                    "line": {"color": "white", "width": 1.5},
                },
                "customdata": [[n, s] for n, s in zip(part["emotion_name"], part["sub_emotion"], strict=True)],
                "hovertemplate": "Turn %{x}<br>%{customdata[0]} %{customdata[1]}<br>intensity %{y:.2f}<extra></extra>",
            }
        )
    layout = {
        "height": 230,
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "title": {"text": "Emotional arc", "font": {"size": 14}},
        "xaxis": {"title": {"text": "Turn"}, "tickmode": "array", "tickvals": turns},
        "yaxis": {"title": {"text": "Intensity"}, "range": [0, 1.05]},
        "legend": {
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "xanchor": "right",
            "x": 1,
            "font": {"size": 11},
        },
    }
    return _figure(data, layout)


def corrections_chart(df: pd.DataFrame, by: str | None, top: int = 12) -> go.Figure:
    """Overall: the top corrections as bars ("Emotion: Anxiety → Fear"). By a group: the
    corrections per group, stacked by label field."""
    if by is None:
        part = df.head(top).iloc[::-1]
        labels = [f"{f}: {a} → {b}" for f, a, b in zip(part["Field"], part["From"], part["To"], strict=True)]
        data = [
            {
                "type": "bar",
                "x": [int(v) for v in part["Times"]],
                "y": labels,
                "orientation": "h",
                "marker": {"color": "#4c78a8"},
                "hovertemplate": "%{y}: %{x} times<extra></extra>",
            }
        ]
        height = 120 + 28 * len(part)
        layout: dict[str, Any] = {"title": {"text": "Most frequent corrections", "font": {"size": 14}}}
        most = int(part["Times"].max()) if len(part) else 0
    else:
        col = GROUP_LABELS[by]
        pivot = df.pivot_table(index=col, columns="Field", values="Times", aggfunc="sum", fill_value=0)
        pivot = pivot.loc[pivot.sum(axis=1).sort_values().index]
        data = [
            {
                "type": "bar",
                "x": [int(v) for v in pivot[f]],
                "y": list(pivot.index),
                "orientation": "h",
                "name": f,
                "hovertemplate": f"%{{y}} · {f}: %{{x}}<extra></extra>",
            }
            for f in pivot.columns
        ]
        height = 160 + 26 * len(pivot)
        layout = {
            "barmode": "stack",
            "title": {"text": f"Corrections by {col.lower()}", "font": {"size": 14}},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        }
        most = int(pivot.sum(axis=1).max()) if len(pivot) else 0
    layout.update(
        height=min(max(height, 220), 700),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"title": {"text": "Times"}, **({"dtick": 1} if most <= 10 else {})},
    )  # counts: no half ticks
    return _figure(data, layout)


_NAMED = {"red": 0, "orange": 30, "yellow": 52, "green": 120, "blue": 210, "violet": 275}


def badge_colour(hex_colour: str) -> str:
    """The nearest of Streamlit's named badge colours to an emotion's hex colour."""
    try:
        r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    except (ValueError, IndexError):
        return "gray"
    h, _, s = colorsys.rgb_to_hls(r, g, b)
    if s < 0.2:
        return "gray"
    hue = h * 360
    if hue >= 330:
        return "red" if hue >= 345 else "violet"
    return min(_NAMED, key=lambda k: min(abs(_NAMED[k] - hue), 360 - abs(_NAMED[k] - hue)))
