"""DataFrame -> plotly Figure. Pure functions: no Streamlit, no database.

Every chart has a title, axis titles and hover details; bars against a target draw the target as a
short dark line over each bar and hatch the bars that are under it (readable without colour). An
emotion is always drawn in its taxonomy colour (emotions.yaml `color`), on every page; everything
else uses one neutral colour, so colour means "emotion" wherever it appears. `config()` is the
plotly config for st.plotly_chart: the modebar shows on hover, and its camera button downloads a PNG.

Figures are built from one data + layout dict (go.Figure(data=..., layout=...)): plotly's
update_layout machinery costs ~30 ms a call, a single construction a few.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lib.core.vocabulary import FUNNEL_STAGES, REVIEW_STATUSES

NEUTRAL = "#4263eb"  # bars that are not emotions
TARGET = "#212529"
GRID = "#e9ecef"
HEAT_SCALE: list[list[Any]] = [[0.0, "#f8f9fa"], [0.0001, "#dbe4ff"], [0.5, "#5c7cfa"], [1.0, "#1c2f8a"]]
FONT: dict[str, Any] = dict(family="Source Sans Pro, Segoe UI, Helvetica, Arial, sans-serif", size=13, color="#212529")


def config(filename: str) -> dict[str, Any]:
    """st.plotly_chart(config=...): the modebar while the pointer is on the chart (always shown, it
    covered every chart's title), PNG download at 2x, no plotly logo."""
    return {
        "displayModeBar": "hover",
        "displaylogo": False,
        "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }


def fmt(x: float | None) -> str:
    """A count as text: whole numbers plain, estimates with one decimal."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def swatch(name: str, colour: str) -> str:
    """An axis label with a square in the item's colour (plotly renders this bit of HTML)."""
    return f'<span style="color:{colour}">■</span> {html.escape(name)}'


def _count_ticks(top: float) -> dict[str, Any]:
    """Whole-number ticks for a count axis (no 0.5 corrections), about five of them."""
    return {"tick0": 0, "dtick": max(1, math.ceil(top / 5))} if top <= 10 else {}


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": html.escape(title)}, "gridcolor": GRID, "zeroline": False, "automargin": True, **extra}


def _layout(
    *,
    title: str,
    subtitle: str = "",
    x: dict[str, Any],
    y: dict[str, Any],
    height: int,
    legend: bool = False,
    empty: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    lines = [html.escape(line) for line in subtitle.split("\n")]  # a subtitle line per "\n" (plotly never wraps)
    layout: dict[str, Any] = {
        "title": {
            "text": f"<b>{html.escape(title)}</b>",
            "x": 0,
            "xanchor": "left",
            "font": {"size": 16},
            "subtitle": {"text": "<br>".join(lines), "font": {"size": 12, "color": "#495057"}},
        },
        "font": FONT,
        "height": height + 16 * (len(lines) - 1),
        "margin": {"l": 10, "r": 20, "t": 80 + 16 * (len(lines) - 1), "b": 10},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "showlegend": legend,
        "hoverlabel": {"bgcolor": "white", "font": {"size": 13}},
        "legend": {"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02},
        "xaxis": x,
        "yaxis": y,
        **extra,
    }
    if empty:
        layout["annotations"] = [
            {
                "text": html.escape(empty),
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 14, "color": "#868e96"},
                "bgcolor": "rgba(255,255,255,0.85)",
            }
        ]
    return layout


def bar_vs_target(
    items: pd.DataFrame,
    *,
    title: str,
    subtitle: str = "",
    value_title: str,
    unit: str,
    category_title: str = "",
    horizontal: bool = False,
    height: int | None = None,
    empty_text: str = "Nothing counted in this view yet",
) -> go.Figure:
    """One bar per item (columns name, count, target; optional colour, hover) and its target.
    target NaN = no target for that item; `hover` adds a line to the item's tooltip."""
    n = len(items)
    pos = list(range(n))
    counts = [float(c) for c in items["count"]] if n else []
    targets = [float(t) for t in items["target"]] if n else []
    colours = list(items["colour"]) if "colour" in items else [NEUTRAL] * n
    extra = list(items["hover"]) if "hover" in items else [""] * n
    names = [str(x) for x in items["name"]] if n else []
    under = [not math.isnan(t) and t > 0 and c < t - 1e-9 for c, t in zip(counts, targets, strict=True)]
    hover = []
    for name, c, t, u, x in zip(names, counts, targets, under, extra, strict=True):
        line = f"<b>{html.escape(name)}</b><br>{fmt(c)} {unit}"
        if not math.isnan(t):
            line += f" · target {fmt(t)}" + (f"<br>short by {fmt(t - c)}" if u else "<br>target met")
        if x:
            line += f"<br>{html.escape(str(x))}"
        hover.append(line)
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "orientation": "h" if horizontal else "v",
            "x": counts if horizontal else pos,
            "y": pos if horizontal else counts,
            "marker": {
                "color": colours,
                "line": {"color": colours, "width": 1.5},
                "pattern": {
                    "shape": ["/" if u else "" for u in under],
                    "fgcolor": "white",
                    "size": 7,
                    "solidity": 0.35,
                },
            },
            "text": [fmt(c) for c in counts],
            "textposition": "outside",
            "cliponaxis": False,
            "hovertext": hover,
            "hovertemplate": "%{hovertext}<extra></extra>",
            "name": unit.capitalize(),
        }
    ]
    seg_a: list[float | None] = []
    seg_b: list[float | None] = []
    for i, t in enumerate(targets):
        if not math.isnan(t):
            seg_a += [i - 0.45, i + 0.45, None]
            seg_b += [t, t, None]
    if seg_a:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": seg_b if horizontal else seg_a,
                "y": seg_a if horizontal else seg_b,
                "line": {"color": TARGET, "width": 3},
                "name": "Target",
                "hoverinfo": "skip",
            }
        )
    top = max([0.0, *counts, *[t for t in targets if not math.isnan(t)]])
    values = _axis(value_title, range=[0, top * 1.15 + 1], **_count_ticks(top))
    cats = _axis(category_title, tickvals=pos, ticktext=[html.escape(x) for x in names], showgrid=False)
    if horizontal:
        cats["autorange"] = "reversed"
    else:
        cats["tickangle"] = -35
    layout = _layout(
        title=title,
        subtitle=subtitle,
        x=values if horizontal else cats,
        y=cats if horizontal else values,
        height=height or (max(320, 26 * n + 130) if horizontal else 440),
        empty=None if any(counts) else empty_text,
    )
    return go.Figure(data=data, layout=layout)


def heat_trace(
    z: Sequence[Sequence[float | None]],
    hover: Sequence[Sequence[str]],
    zmax: float,
    unit: str,
    text: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """A heatmap trace on integer axes (the layout names the ticks): a None cell is left blank."""
    trace: dict[str, Any] = {
        "type": "heatmap",
        "z": z,
        "x": list(range(len(z[0]) if z else 0)),
        "y": list(range(len(z))),
        "colorscale": HEAT_SCALE,
        "zmin": 0,
        "zmax": zmax,
        "xgap": 2,
        "ygap": 2,
        "hovertext": hover,
        "hovertemplate": "%{hovertext}<extra></extra>",
        "colorbar": {
            "title": {"text": unit.capitalize(), "side": "right"},
            "thickness": 12,
            "outlinewidth": 0,
            **_count_ticks(zmax),
        },
    }
    if text is not None:
        trace.update(text=text, texttemplate="%{text}", textfont={"size": 11})
    return trace


def heatmap(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    x_order: Sequence[str] | None = None,
    y_order: Sequence[str] | None = None,
    title: str,
    subtitle: str = "",
    x_title: str,
    y_title: str,
    unit: str,
    y_colours: Mapping[str, str] | None = None,
    hover_y: Mapping[str, str] | None = None,
    height: int | None = None,
    text: bool = True,
    empty_text: str = "Nothing counted in this view yet",
) -> go.Figure:
    """Counts on a grid: frame has columns x, y (display names) and count; missing cells count 0.
    x_order/y_order: the axes' order, by default the order names first appear in frame;
    y_colours: y name -> colour of a swatch on the axis; hover_y: y name -> extra tooltip text."""
    cells: dict[tuple[Any, Any], float] = {}
    for xv, yv, c in zip(frame[x], frame[y], frame["count"], strict=True):
        cells[(yv, xv)] = cells.get((yv, xv), 0.0) + float(c)
    rows_ = list(y_order if y_order is not None else dict.fromkeys(frame[y]))
    cols_ = list(x_order if x_order is not None else dict.fromkeys(frame[x]))
    z = [[cells.get((yn, xn), 0.0) for xn in cols_] for yn in rows_]
    labels = [[fmt(v) if v else "" for v in row] for row in z]
    hover = [
        [
            f"<b>{html.escape(y_title)}:</b> {html.escape(str(yn))}"
            + (f" ({html.escape(hover_y[yn])})" if hover_y and yn in hover_y else "")
            + f"<br><b>{html.escape(x_title)}:</b> {html.escape(str(xn))}<br>{fmt(v)} {unit}"
            for xn, v in zip(cols_, row, strict=True)
        ]
        for yn, row in zip(rows_, z, strict=True)
    ]
    top = max((v for row in z for v in row), default=0.0)
    ticks = [swatch(str(n), y_colours[n]) if y_colours and n in y_colours else html.escape(str(n)) for n in rows_]
    zmax = max(top, 1.0)
    trace = heat_trace(z, hover, zmax, unit, labels if text else None)
    layout = _layout(
        title=title,
        subtitle=subtitle,
        x=_axis(
            x_title,
            tickvals=list(range(len(cols_))),
            ticktext=[html.escape(str(c)) for c in cols_],
            tickangle=-30 if len(cols_) <= 4 else -40,
            showgrid=False,
        ),
        y=_axis(y_title, tickvals=list(range(len(rows_))), ticktext=ticks, autorange="reversed", showgrid=False),
        height=height or max(360, 24 * len(rows_) + 190),
        empty=None if top else empty_text,
    )
    return go.Figure(data=[trace], layout=layout)


def funnel(frame: pd.DataFrame, *, title: str, subtitle: str = "") -> go.Figure:
    """Scenarios planned -> generated -> approved (columns stage, name, count, detail)."""
    counts = [float(c) for c in frame["count"]]
    hover = [
        f"<b>{html.escape(str(n))}</b>: {fmt(c)} scenarios" + (f"<br>{html.escape(str(d))}" if d else "")
        for n, c, d in zip(frame["name"], counts, frame["detail"], strict=True)
    ]
    data = [
        {
            "type": "funnel",
            "y": [str(n) for n in frame["name"]],
            "x": counts,
            "textinfo": "value+percent initial",
            "marker": {"color": [FUNNEL_STAGES[s].hex if s in FUNNEL_STAGES else NEUTRAL for s in frame["stage"]]},
            "connector": {"line": {"color": GRID}, "fillcolor": "#f1f3f5"},
            "hovertext": hover,
            "hovertemplate": "%{hovertext}<extra></extra>",
        }
    ]
    layout = _layout(
        title=title,
        subtitle=subtitle,
        x=_axis("Scenarios", showgrid=False),
        y=_axis("Stage"),
        height=360,
        empty=None if any(counts) else "The scenario table is empty",
    )
    return go.Figure(data=data, layout=layout)


def quality_histogram(frame: pd.DataFrame, *, title: str, subtitle: str = "", statuses: Mapping[str, str]) -> go.Figure:
    """Conversations per whole quality score (0-10), stacked by review status (columns score,
    review_status, count). statuses: review status -> display name, in stacking order."""
    scores = list(range(0, 11))
    known = frame.dropna(subset=["score"])
    data = []
    for status, name in statuses.items():
        part = known[known["review_status"] == status].groupby("score")["count"].sum()
        data.append(
            {
                "type": "bar",
                "x": scores,
                "y": [float(part.get(s, 0.0)) for s in scores],
                "name": name,
                "marker": {"color": REVIEW_STATUSES[status].hex if status in REVIEW_STATUSES else NEUTRAL},
                "hovertemplate": f"<b>Score %{{x}}</b><br>{html.escape(name)}: %{{y}} conversations<extra></extra>",
            }
        )
    unscored = float(frame[frame["score"].isna()]["count"].sum()) if not frame.empty else 0.0
    layout = _layout(
        title=title,
        subtitle=subtitle + (f" · {fmt(unscored)} without a score" if unscored else ""),
        x=_axis("Quality score (automatic checks, 0–10)", tickvals=scores, range=[-0.6, 10.6], showgrid=False),
        y=_axis(
            "Conversations",
            **_count_ticks(float(known.groupby("score")["count"].sum().max()) if not known.empty else 0.0),
        ),
        height=360,
        legend=True,
        barmode="stack",
        empty=None if not known.empty and known["count"].sum() else "No scored conversations in this view",
    )
    return go.Figure(data=data, layout=layout)


def corrections(
    frame: pd.DataFrame,
    *,
    title: str,
    subtitle: str = "",
    emotion_colours: Mapping[str, str] | None = None,
    top: int = 15,
) -> go.Figure:
    """Reviewer corrections per label corrected (columns field, field_name, old, old_name, new_name,
    count): one bar per (field, label it had), the labels it was changed to in the tooltip."""
    emotion_colours = emotion_colours or {}
    bars: dict[str, dict[str, Any]] = {}  # bar name -> count, colour, {changed to: count}
    for field, field_name, old, old_name, new_name, n in zip(
        frame["field"],
        frame["field_name"],
        frame["old"],
        frame["old_name"],
        frame["new_name"],
        frame["count"],
        strict=True,
    ):
        is_label = field in ("emotion.primary", "emotion.secondary", "strategies.primary")
        name = f"{field_name}: {old_name}" if is_label else str(field_name)
        bar = bars.setdefault(
            name,
            {
                "count": 0.0,
                "to": {},
                "colour": emotion_colours.get(old, NEUTRAL) if str(field).startswith("emotion.") else NEUTRAL,
            },
        )
        bar["count"] += float(n)
        if is_label:
            bar["to"][new_name] = bar["to"].get(new_name, 0.0) + float(n)
    ranked = sorted(bars.items(), key=lambda kv: (-kv[1]["count"], kv[0]))[:top]
    data = pd.DataFrame(
        [
            {
                "name": k,
                "count": v["count"],
                "colour": v["colour"],
                "to": ", ".join(f"{t} ({fmt(c)})" for t, c in sorted(v["to"].items(), key=lambda kv: -kv[1])),
            }
            for k, v in ranked
        ],
        columns=["name", "count", "colour", "to"],
    )
    hover = [
        f"<b>{html.escape(n)}</b><br>{fmt(c)} corrections" + (f"<br>changed to: {html.escape(t)}" if t else "")
        for n, c, t in zip(data["name"], data["count"], data["to"], strict=True)
    ]
    most = float(data["count"].max()) if len(data) else 0.0
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [float(c) for c in data["count"]],
        "y": list(range(len(data))),
        "marker": {"color": list(data["colour"])},
        "text": [fmt(c) for c in data["count"]],
        "textposition": "outside",
        "cliponaxis": False,
        "hovertext": hover,
        "hovertemplate": "%{hovertext}<extra></extra>",
    }
    layout = _layout(
        title=title,
        subtitle=subtitle,
        x=_axis("Corrections", range=[0, most * 1.2 + 1], **_count_ticks(most)),
        y=_axis(
            "Label corrected (from)",
            tickvals=list(range(len(data))),
            ticktext=[html.escape(n) for n in data["name"]],
            autorange="reversed",
            showgrid=False,
        ),
        height=max(300, 30 * len(data) + 150),
        empty="No label corrections in this view" if data.empty else None,
    )
    return go.Figure(data=[trace], layout=layout)
