"""One scenario as the Scenarios page shows it under the table: its title, status and Generate
button, its parameters and situation, and its conversation (any version)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from lib.config import Settings
from lib.core import vocabulary as vocab
from lib.core.taxonomy import Taxonomy
from lib.store import Store
from lib.ui.chat import render_chat
from lib.ui.display import badge, escape_markdown, names, status_badge, table_height
from lib.ui.job_failures import failure_line
from lib.ui.scenario_jobs import queue
from lib.ui.variations import scenario_record

DETAIL_KEY = "scn_detail_status"  # the scenario and status the detail was last drawn with


def scenario_detail(
    store: Store, settings: Settings, tax: Taxonomy, scenario: dict[str, Any], gen_off: str | None
) -> None:
    n = {
        d: names(tax, d)
        for d in ("tiers", "personas", "arcs", "topics", "intents", "tones", "outcomes", "emotions", "topic_clusters")
    }
    title = st.columns([5, 1])
    title[0].subheader(
        escape_markdown(
            f"#{scenario['id']} · {n['personas'].get(scenario['persona'], scenario['persona'])} · "
            f"{n['topics'].get(scenario['topic'], scenario['topic'])}"
        )
    )
    with title[1]:
        status_badge(scenario["status"])
        st.session_state[DETAIL_KEY] = (int(scenario["id"]), scenario["status"])
        busy = scenario["status"] in ("queued", "generating")
        if st.button(
            "Generate again" if scenario.get("conversation_id") else "Generate",
            icon=":material/play_arrow:",
            key="gen_one",
            disabled=bool(gen_off) or busy,
            help=gen_off
            or (
                "It is queued or being generated."
                if busy
                else "Generate this scenario's conversation now (a new version if it has one)."
            ),
        ):
            queue(store, settings, [scenario["id"]])

    params = {
        "Tier": n["tiers"].get(scenario["tier"], scenario["tier"]),
        "Persona": n["personas"].get(scenario["persona"], scenario["persona"]),
        "Emotional arc": n["arcs"].get(scenario["emotional_arc"], scenario["emotional_arc"]),
        "Emotion": " → ".join(n["emotions"].get(scenario[end], "?") for end in ("start_emotion", "end_emotion")),
        "Content category": n["topic_clusters"].get(scenario["topic_cluster"], scenario["topic_cluster"]),
        "Topic": n["topics"].get(scenario["topic"], scenario["topic"]),
        "Intent": n["intents"].get(scenario["intent"], scenario["intent"]),
        "Tone": n["tones"].get(scenario["tone"], scenario["tone"]),
        "Outcome": n["outcomes"].get(scenario["outcome_type"], scenario["outcome_type"]),
        "Quality score": "—" if scenario["quality_score"] is None else f"{scenario['quality_score']:g}/10",
        "Origin": scenario.get("origin") or "planned",
    }
    left, right = st.columns([1, 2])
    with left:
        st.dataframe(
            pd.DataFrame({"Parameter": list(params), "Value": [str(v) for v in params.values()]}),
            hide_index=True,
            width="stretch",
            height=table_height(len(params)),
        )
        scenario_record(scenario, tax)
        if scenario.get("context"):
            st.markdown("**Situation**")
            st.markdown(escape_markdown(scenario["context"]))
    with right:
        conversation_versions(store, tax, scenario)


def conversation_versions(store: Store, tax: Taxonomy, scenario: dict[str, Any]) -> None:
    """The scenario's last failure, if it failed, and its conversation: the current version or an earlier one."""
    versions = store.conversation_versions(scenario["id"])
    failure = store.last_failure(scenario["id"]) if scenario["status"] == "failed" else None
    if failure:
        st.error(failure_line(failure), icon=":material/error:")
    if not versions:
        st.info("This scenario has no conversation yet.", icon=":material/hourglass_empty:")
    else:
        labels = {
            c.id: f"Version {len(versions) - i}"
            + (" (current)" if i == 0 else "")
            + f" · {vocab.DEMO_LABEL if vocab.is_demo(c.provenance.model) else c.provenance.source}"
            + f" · {c.provenance.created_at:%Y-%m-%d}"
            for i, c in enumerate(versions)
        }
        chosen = (
            st.selectbox("Conversation", list(labels), format_func=labels.__getitem__, key=f"ver_{scenario['id']}")
            if len(versions) > 1
            else versions[0].id
        )
        conv = next(c for c in versions if c.id == chosen)
        st.caption(
            escape_markdown(
                f"{len(conv.turns)} turns · review: {conv.review.status.replace('_', ' ')}"
                + (f" · model {conv.provenance.model}" if conv.provenance.model else "")
            )
        )
        if vocab.is_demo(conv.provenance.model):
            badge(vocab.DEMO_LABEL, "violet")  # replayed without a key: not for training, left out of exports
        render_chat(conv.current_turns(), tax)
