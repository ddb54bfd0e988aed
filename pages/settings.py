"""Settings: where the data lives, the model and its prices, and read-only browsers of the taxonomy
and the prompt templates. Settings are changed in the environment or .streamlit/secrets.toml."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import streamlit as st

from lib.config import ConfigError
from lib.core.taxonomy import DIMENSIONS
from lib.generation.estimate import regeneration_outlook
from lib.generation.llm import LLMSettings
from lib.generation.pricing import PriceError, load_prices
from lib.store import StoreError
from lib.ui import nav, resources, words
from lib.ui.display import STORE_KINDS, error_text, escape_markdown

nav.open_in_app("settings")

st.title("Settings")
st.caption(
    "Read-only here. Set values as environment variables or in `.streamlit/secrets.toml` "
    "(see `.streamlit/secrets.toml.example`), then restart the app."
)

try:
    settings = resources.settings()
except ConfigError as exc:
    st.error(f"A setting is wrong: {error_text(exc)}. Fix it and reload the page.")
    st.stop()
store = resources.store()
tax = resources.taxonomy()

data, model, taxonomy_tab, prompts_tab = st.tabs(["Data source", "Model", "Taxonomy", "Prompt templates"])

with data:
    info = store.describe()
    st.success(
        f"Connected to **{STORE_KINDS.get(info.kind, info.kind)}** · {escape_markdown(info.label)}",
        icon=":material/database:",
    )
    cols = st.columns(4)
    for col, key, label in zip(
        cols,
        ["scenarios", "conversations", "conversation_turns", "reviews"],
        ["Scenarios", "Conversations", "Turns", "Review decisions"],
        strict=True,
    ):
        col.metric(label, f"{info.counts.get(key, 0):,}")
    st.caption(f"Server: {info.server_version} · migrations applied: {len(info.migrations)}")
    if info.boot is not None:
        st.caption(
            f"Last start took {info.boot.seconds:.2f} s: {len(info.boot.migrations_applied)} migrations "
            f"applied, {len(info.boot.seeds_imported)} seeds imported, {info.boot.planned} scenarios planned."
        )
        for problem in info.boot.seed_problems:
            st.warning(problem)
    if info.kind == "embedded":
        st.info(
            "With nothing configured the app keeps its data in an embedded PostgreSQL in "
            f"`{settings.data_dir}`. Set `DATABASE_URL` to use another PostgreSQL (a Supabase "
            "project's connection string included)."
        )

with model:
    figures = st.columns(3)
    figures[0].metric("Model", settings.model)
    figures[1].metric("Concurrency", settings.concurrency)
    figures[2].metric("API key", "set" if settings.has_api_key else "not set")
    if not settings.has_api_key:
        st.info(
            "Without `ANTHROPIC_API_KEY` generation is off. Review, coverage and export work on the data already here."
        )
    st.caption(
        "Endpoint: "
        + (escape_markdown(settings.anthropic_base_url) if settings.anthropic_base_url else "Anthropic's API")
    )
    st.markdown("**Price table** (US$ per million tokens)")
    try:
        table = load_prices(settings.prices_file)
    except PriceError as exc:
        st.error(f"The price table cannot be used: {error_text(exc)}", icon=":material/error:")
    else:
        st.dataframe(
            words.headed(pd.DataFrame([{"Model": k, **dataclasses.asdict(v)} for k, v in table.models.items()])),
            hide_index=True,
            width="stretch",
        )
    st.markdown("**Quality judge**")
    judge = st.columns(3)
    judge[0].metric(
        "Rate each generated conversation",
        "on" if settings.judge_on else "off",
        help="BRIGHTRUN_JUDGE: the quality judge rates every conversation right after it is stored (on by "
        "default when an API key is set). Its cost shows apart on the Generate page.",
    )
    judge[1].metric(
        "Regenerate after a low rating",
        "on" if settings.regenerate_on_low_rating_on else "off",
        help="BRIGHTRUN_REGENERATE_ON_LOW_RATING: a conversation rated below a pass mark is generated "
        "once more, with the judge's reasons as feedback; once per scenario at most. It needs the "
        "judge on.",
    )
    try:
        outlook = regeneration_outlook(store, LLMSettings.from_settings(settings), tax=tax)
    except (StoreError, ValueError) as exc:
        st.caption(f"The expected cost of the regenerations cannot be estimated: {error_text(exc)}")
    else:
        judge[2].metric(
            "Expected regeneration cost",
            f"${outlook.per_conversation_usd:,.4f}",
            help=f"Per generated conversation, on average: {outlook.share:.0%} expected to be rated low, "
            f"each ${outlook.cost_each_usd:,.4f} for one more generation and its rating "
            f"({outlook.basis}).",
        )
        state = "is added to" if settings.regenerate_on_low_rating_on else "would be added to"
        st.caption(
            f"About {outlook.share:.0%} of conversations are rated low, so the regeneration {state} each "
            f"generated conversation's cost about ${outlook.per_conversation_usd:,.4f} (one more generation "
            f"and its rating, ${outlook.cost_each_usd:,.4f}, for the ones rated low); the job estimates "
            "count it when it is on."
        )
    st.markdown("**Settings in force**")
    st.dataframe(
        pd.DataFrame(words.settings_rows(settings)),
        hide_index=True,
        width="stretch",
        column_config={"What it sets": st.column_config.TextColumn(width="large")},
    )

with taxonomy_tab:
    st.caption(escape_markdown(f"{tax.vertical.name} v{tax.vertical.version} · {tax.path}"))
    voice = tax.vertical.brand_voice
    with st.expander(escape_markdown(f"Brand voice: {voice.name}, {voice.title}")):
        st.markdown(escape_markdown(voice.summary))
        st.markdown("\n".join(f"- {escape_markdown(p)}" for p in voice.principles))
    dimension = st.selectbox("Dimension", list(DIMENSIONS), format_func=lambda d: d.replace("_", " ").capitalize())
    items = tax.topics if dimension == "topics" else getattr(tax, dimension)
    frame = pd.DataFrame([i.model_dump() for i in items])
    for col in frame.columns:  # lists and nested models read better as text in a table
        if frame[col].map(lambda v: isinstance(v, (list, dict))).any():
            frame[col] = frame[col].map(lambda v: "; ".join(map(str, v)) if isinstance(v, list) else str(v))
    st.dataframe(words.headed(frame), hide_index=True, width="stretch")
    t = tax.targets
    st.caption(
        f"Targets: at least {t.per_emotion_min} user turns per primary emotion, {t.per_strategy_min} "
        "examples per strategy; length buckets "
        + ", ".join(
            f"{b.id} {b.min_exchanges}-{b.max_exchanges} exchanges ≥{b.min_conversations}" for b in t.length_buckets
        )
    )

with prompts_tab:
    folder = Path(__file__).resolve().parent.parent / "prompts"
    files = sorted(folder.glob("*.md")) + sorted(folder.glob("*.txt"))
    if not files:
        st.info("There are no prompt templates in `prompts/`.")
    else:
        chosen = st.selectbox("Template", files, format_func=lambda p: p.name)
        st.code(chosen.read_text(encoding="utf-8"), language="markdown", wrap_lines=True)
