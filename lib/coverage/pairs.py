"""Contrastive pairs against their targets: accepted pairs per (emotion of the user turn the failed answer
replies to x failure kind), from public.contrastive_pair_counts' rows. Every cell where the failure kind
suits the emotion (taxonomy/failures.yaml `suits`) has the target `target_pairs_per_emotion`; other cells
have none (a failure that does not suit an emotion teaches little there), but their pairs still count.
The grid, its gaps in the shape of the gap list (shortfall.GAP_COLUMNS) and its chart."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lib.core.taxonomy import Taxonomy
from lib.coverage.charts import _axis, _layout, fmt, heat_trace, swatch
from lib.coverage.counts import UNKNOWN_COLOUR
from lib.coverage.shortfall import GAP_COLUMNS

GAP_KIND = ("pair", "Contrastive pair", "accepted pairs")  # kind, kind_name, unit in the gap list
FRAME_COLUMNS: list[str] = [
    "emotion",
    "emotion_name",
    "colour",
    "failure_kind",
    "kind_name",
    "suited",
    "target",
    "count",
]


def pair_frame(rows: Iterable[Mapping[str, Any]], tax: Taxonomy) -> pd.DataFrame:
    """The full grid (FRAME_COLUMNS), emotions and failure kinds in taxonomy order, then any id the
    counts hold that the taxonomy does not (counted, without a target)."""
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (str(r["emotion"]), str(r["failure_kind"]))
        counts[key] = counts.get(key, 0) + int(r["n"])
    failures = tax.failures
    emotions = [e.id for e in tax.emotions]
    kinds = [k.id for k in failures.kinds]
    emotions += sorted({e for e, _ in counts} - set(emotions))
    kinds += sorted({k for _, k in counts} - set(kinds))
    names = tax.names("emotions")
    colours = {e.id: e.color for e in tax.emotions}
    out = []
    for e in emotions:
        for k in kinds:
            kind = failures.by_id.get(k)
            suited = kind is not None and e in kind.suits
            out.append(
                {
                    "emotion": e,
                    "emotion_name": names.get(e, e),
                    "colour": colours.get(e, UNKNOWN_COLOUR),
                    "failure_kind": k,
                    "kind_name": kind.name if kind else k,
                    "suited": suited,
                    "target": failures.target_pairs_per_emotion if suited else 0,
                    "count": counts.get((e, k), 0),
                }
            )
    return pd.DataFrame(out, columns=FRAME_COLUMNS)


def pair_summary(frame: pd.DataFrame) -> tuple[int, int]:
    """(cells at target, cells with a target)."""
    targeted = frame[frame["target"] > 0]
    return int((targeted["count"] >= targeted["target"]).sum()), len(targeted)


def pair_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """The cells under target as rows of the gap list, biggest shortfall first. Planning scenarios cannot
    fill them: contrastive responses for conversations that have such turns, accepted on Review, do."""
    kind, kind_name, unit = GAP_KIND
    short = frame[(frame["target"] > 0) & (frame["count"] < frame["target"])]
    rows = [
        {
            "kind": kind,
            "kind_name": kind_name,
            "id": f"{r.emotion}:{r.failure_kind}",
            "name": f"{r.emotion_name} · {r.kind_name}",
            "unit": unit,
            "target": float(r.target),
            "count": float(r.count),
            "short_by": float(r.target - r.count),
            "progress": float(r.count) / float(r.target),
            "plannable": False,
            "how": f"Generate {r.kind_name.lower()} contrasts for approved conversations with a {r.emotion_name} "
            "user turn, and accept the realistic ones on Review",
        }
        for r in short.itertuples(index=False)
    ]
    out = pd.DataFrame(rows, columns=GAP_COLUMNS)
    return out.sort_values("short_by", ascending=False, kind="stable").reset_index(drop=True) if rows else out


def pair_figure(frame: pd.DataFrame, *, subtitle: str) -> go.Figure:
    """Emotion x failure kind: accepted pairs where the kind suits the emotion ("count / target"), blank
    where it does not (a pair there still shows its count)."""
    rows_ = list(dict.fromkeys(frame["emotion_name"]))
    cols_ = list(dict.fromkeys(frame["kind_name"]))
    cell = {(r.emotion_name, r.kind_name): r for r in frame.itertuples(index=False)}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for yn in rows_:
        z_row: list[float | None] = []
        t_row: list[str] = []
        h_row: list[str] = []
        for xn in cols_:
            r = cell[(yn, xn)]
            head = f"<b>Emotion answered:</b> {html.escape(yn)}<br><b>Failure:</b> {html.escape(xn)}<br>"
            if r.suited:
                z_row.append(float(r.count))
                t_row.append(f"{r.count}/{r.target}")
                h_row.append(head + f"{r.count} accepted pairs, target {r.target}")
            else:
                z_row.append(float(r.count) if r.count else None)
                t_row.append(fmt(r.count) if r.count else "")
                h_row.append(head + f"{r.count} accepted pairs; not a target (the failure does not suit it)")
        z.append(z_row)
        text.append(t_row)
        hover.append(h_row)
    top = max((v for row in z for v in row if v is not None), default=0.0)
    zmax = max(top, float(frame["target"].max() if len(frame) else 1), 1.0)
    colours = dict(zip(frame["emotion_name"], frame["colour"], strict=False))
    trace = heat_trace(z, hover, zmax, "pairs", text)
    layout = _layout(
        title="Contrastive pairs: emotion × failure kind",
        subtitle=subtitle,
        x=_axis(
            "Failure kind of the rejected response",
            tickvals=list(range(len(cols_))),
            ticktext=[html.escape(str(c)) for c in cols_],
            tickangle=-30,
            showgrid=False,
        ),
        y=_axis(
            "Emotion answered",
            tickvals=list(range(len(rows_))),
            ticktext=[swatch(str(n), colours[n]) for n in rows_],
            autorange="reversed",
            showgrid=False,
        ),
        height=max(360, 24 * len(rows_) + 190),
        empty=None if top else "No accepted contrastive pairs in this view yet",
    )
    return go.Figure(data=[trace], layout=layout)
