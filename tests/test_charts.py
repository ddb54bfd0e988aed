"""lib/charts.py: titles, axis titles, targets, hover details, emotion colours, PNG download."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from lib.coverage import charts

import lib.coverage as coverage
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import REVIEW_STATUSES, labels


def items() -> pd.DataFrame:
    return pd.DataFrame({"name": ["Anxiety", "Shame", "Grief"], "count": [60.0, 20.0, 0.0],
                         "target": [50.0, 50.0, math.nan], "colour": ["#ff7f0e", "#c2185b", "#5e4b7c"],
                         "hover": ["in 9 conversations", "", ""]})


def test_bar_vs_target_draws_targets_hatches_what_is_under_and_explains_on_hover() -> None:
    fig = charts.bar_vs_target(items(), title="Primary emotion", subtitle="Approved\nTarget 50", value_title="User turns",
                               category_title="Emotion", unit="user turns")
    assert isinstance(fig, go.Figure)
    bar, target = fig.data
    assert list(bar.marker.color) == ["#ff7f0e", "#c2185b", "#5e4b7c"]  # the emotions' own colours
    assert list(bar.marker.pattern.shape) == ["", "/", ""]  # only Shame is under its target; Grief has none
    assert list(target.y) == [50, 50, None, 50, 50, None]  # a segment over each bar that has a target
    assert target.name == "Target"
    assert "target met" in bar.hovertext[0] and "in 9 conversations" in bar.hovertext[0]
    assert "short by 30" in bar.hovertext[1] and "target" not in bar.hovertext[2]
    layout = fig.layout
    assert "Primary emotion" in layout.title.text and layout.title.subtitle.text == "Approved<br>Target 50"
    assert layout.yaxis.title.text == "User turns" and layout.xaxis.title.text == "Emotion"
    assert list(layout.xaxis.ticktext) == ["Anxiety", "Shame", "Grief"]
    assert not layout.annotations


def test_horizontal_bars_and_the_empty_state() -> None:
    frame = items().assign(count=[0.0, 0.0, 0.0], target=[5.0, 5.0, 5.0])
    fig = charts.bar_vs_target(frame, title="T", value_title="Conversations", unit="conversations", horizontal=True,
                               empty_text="No approved conversations yet")
    bar, target = fig.data
    assert bar.orientation == "h" and list(target.x[:2]) == [5, 5]
    assert fig.layout.xaxis.title.text == "Conversations" and fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.annotations[0].text == "No approved conversations yet"  # said, not an error
    assert fig.layout.xaxis.dtick == 1  # whole-number ticks: no "0.5 conversations"


def test_names_are_escaped() -> None:
    frame = pd.DataFrame({"name": ["<b>x</b>"], "count": [1.0], "target": [2.0]})
    fig = charts.bar_vs_target(frame, title="a<b", value_title="v", unit="u")
    assert fig.layout.xaxis.ticktext == ("&lt;b&gt;x&lt;/b&gt;",)
    assert "a&lt;b" in fig.layout.title.text and "<b>x</b>" not in fig.data[0].hovertext[0]


def test_heatmap_fills_the_grid_and_labels_rows_with_their_colour() -> None:
    frame = pd.DataFrame({"e": ["Anxiety", "Anxiety", "Shame"], "s": ["Reframing", "Normalizing", "Reframing"],
                          "count": [3.0, 1.0, 2.5]})
    fig = charts.heatmap(frame, x="s", y="e", x_order=["Normalizing", "Reframing", "Pacing"],
                         y_order=["Anxiety", "Shame", "Grief"], title="Emotion × strategy", x_title="Strategy",
                         y_title="Emotion", unit="replies", y_colours={"Anxiety": "#ff7f0e"},
                         hover_y={"Shame": "shame → confidence"})
    trace = fig.data[0]
    assert [list(r) for r in trace.z] == [[1.0, 3.0, 0.0], [0.0, 2.5, 0.0], [0.0, 0.0, 0.0]]
    assert [list(r) for r in trace.text] == [["1", "3", ""], ["", "2.5", ""], ["", "", ""]]  # empty cells stay blank
    assert 'color:#ff7f0e' in fig.layout.yaxis.ticktext[0] and fig.layout.yaxis.ticktext[1] == "Shame"
    assert "Strategy:</b> Reframing<br>2.5 replies" in trace.hovertext[1][1]
    assert "(shame → confidence)" in trace.hovertext[1][0]
    assert fig.layout.xaxis.title.text == "Strategy" and fig.layout.yaxis.title.text == "Emotion"


def test_heatmap_axes_default_to_the_order_names_first_appear() -> None:
    frame = pd.DataFrame({"e": ["Shame", "Anxiety", "Shame"], "s": ["Reframing", "Reframing", "Normalizing"],
                          "count": [2.0, 3.0, 1.0]})
    fig = charts.heatmap(frame, x="s", y="e", title="Emotion × strategy", x_title="Strategy", y_title="Emotion",
                         unit="replies")
    assert list(fig.layout.xaxis.ticktext) == ["Reframing", "Normalizing"]
    assert list(fig.layout.yaxis.ticktext) == ["Shame", "Anxiety"]
    assert [list(r) for r in fig.data[0].z] == [[2.0, 1.0], [3.0, 0.0]]


def test_funnel_quality_and_corrections() -> None:
    fun = charts.funnel(pd.DataFrame({"stage": ["planned", "generated", "approved"],
                                      "name": ["Planned", "Generated", "Approved"], "count": [90.0, 10.0, 8.0],
                                      "detail": ["Not generated: 80", "Rejected: 2", ""]}), title="Status funnel")
    assert fun.data[0].type == "funnel" and list(fun.data[0].x) == [90, 10, 8]
    assert "Not generated: 80" in fun.data[0].hovertext[0]
    q = charts.quality_histogram(pd.DataFrame({"score": [8.0, 8.0, None], "review_status": ["approved", "rejected", "unreviewed"],
                                               "count": [3.0, 1.0, 2.0]}), title="Quality", subtitle="All",
                                 statuses=labels(REVIEW_STATUSES))
    by = {t.name: t for t in q.data}
    assert by["Approved"].y[8] == 3 and by["Rejected"].y[8] == 1 and q.layout.barmode == "stack"
    assert "2 without a score" in q.layout.title.subtitle.text
    c = charts.corrections(pd.DataFrame({
        "field": ["emotion.primary", "emotion.primary", "emotion.intensity"],
        "field_name": ["Emotion", "Emotion", "Intensity"], "old": ["hope", "hope", None], "new": ["shame", "grief", None],
        "old_name": ["Hope", "Hope", "(none)"], "new_name": ["Shame", "Grief", "(none)"], "count": [2.0, 1.0, 1.0]}),
        title="Corrections", emotion_colours={"hope": "#5cb85c"})
    assert list(c.layout.yaxis.ticktext) == ["Emotion: Hope", "Intensity"]
    assert list(c.data[0].x) == [3, 1] and c.data[0].marker.color[0] == "#5cb85c"
    assert "changed to: Shame (2), Grief (1)" in c.data[0].hovertext[0]
    empty = charts.corrections(pd.DataFrame(columns=["field", "field_name", "old", "new", "old_name", "new_name",
                                                     "count"]), title="Corrections")
    assert empty.layout.annotations[0].text == "No label corrections in this view"


def test_config_downloads_a_png_from_the_modebar() -> None:
    cfg = charts.config("coverage-emotions")
    assert cfg["displayModeBar"] == "hover" and cfg["displaylogo"] is False
    assert cfg["toImageButtonOptions"] == {"format": "png", "filename": "coverage-emotions", "scale": 2}


def test_every_coverage_figure_has_titles_and_an_emotion_keeps_its_colour(tax: Taxonomy) -> None:
    rows = [{"section": "emotion", "a": "anxiety", "b": None, "c": None, "n": 12.0, "m": 4.0},
            {"section": "emotion_strategy", "a": "anxiety", "b": "reframing", "c": None, "n": 3.0, "m": None},
            {"section": "persona_topic", "a": tax.ids("personas")[0], "b": tax.ids("topics")[0], "c": None, "n": 4.0,
             "m": None}]
    figs = coverage.figures(coverage.build(rows, tax, "approved"), tax)
    assert tuple(figs) == coverage.FIGURES
    for name, fig in figs.items():
        assert fig.layout.title.text, name
        if name != "funnel":
            assert fig.layout.xaxis.title.text or fig.layout.yaxis.title.text, name
        assert all(t.hovertemplate or t.hoverinfo == "skip" for t in fig.data), name
    colour = tax.by_id("emotions")["anxiety"].color
    assert figs["emotions"].data[0].marker.color[0] == colour
    assert f"color:{colour}" in figs["emotion_strategy"].layout.yaxis.ticktext[0]
    assert figs["emotions"].data[0].x[0] == 12 and "in 4 conversations" in figs["emotions"].data[0].hovertext[0]
