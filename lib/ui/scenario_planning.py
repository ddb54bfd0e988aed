"""The Scenarios page's planning panel: how many scenarios, the tier mix and the seed, the coverage
the plan would reach, and the button that adds them to the table."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.core import vocabulary as vocab
from lib.core.planner import compare_coverage, plan
from lib.core.taxonomy import Taxonomy
from lib.store import Store, StoreError
from lib.ui.display import error_text, escape_markdown


@st.fragment
def planning_panel(store: Store, tax: Taxonomy, expanded: bool) -> None:
    with st.expander("Plan scenarios", expanded=expanded, icon=":material/add_circle:"):
        st.caption(
            "The planner balances every persona, arc, topic, intent, tone and outcome, covers as many "
            "persona × arc, arc × topic and persona × topic pairs as it can, and tops up what the "
            "table already has instead of repeating it."
        )
        defaults = {t.id: t.default_count for t in tax.tiers}
        cols = st.columns([1, 1, 1, 1, 1])
        n_total = cols[0].number_input("Scenarios to add", 1, 20_000, sum(defaults.values()), step=10, key="pl_n")
        mix = {}
        for col, t in zip(cols[1:4], tax.tiers, strict=False):
            share = defaults[t.id] / max(sum(defaults.values()), 1)
            mix[t.id] = col.number_input(
                f"{escape_markdown(t.name)} %",
                0,
                100,
                round(share * 100),
                key=f"pl_mix_{t.id}",
                help=escape_markdown(t.description),
            )
        seed = cols[4].number_input(
            "Random seed", 0, 1_000_000, 0, key="pl_seed", help="The same seed and table give the same plan."
        )
        if sum(mix.values()) != 100:
            st.warning(f"The tier mix adds up to {sum(mix.values())}%; make it 100%.")
            return
        counts = vocab.round_mix(int(n_total), mix)
        st.caption(" · ".join(f"{t.name}: {counts[t.id]}" for t in tax.tiers))
        request = (int(n_total), tuple(sorted(counts.items())), int(seed))
        if st.button(
            "Preview coverage", icon=":material/preview:", disabled=st.session_state.get("pl_preview") == request
        ):
            st.session_state["pl_preview"] = request
        if st.session_state.get("pl_preview") != request:
            st.caption("Preview the coverage this plan would reach, then add it.")
            return
        # Planning on top of the whole table (not the filtered view): the planner tops up what it lacks.
        existing = [
            {
                k: r[k]
                for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id")
            }
            for r in store.list_scenarios()
        ]
        try:
            before = plan(tax, 0, seed=int(seed), existing=existing).coverage
            result = plan(tax, int(n_total), counts, seed=int(seed), existing=existing)
        except ValueError as exc:
            st.error(f"Cannot plan these scenarios: {error_text(exc)}")
            return
        st.markdown("**Coverage with this plan** (before → after)")
        st.dataframe(pd.DataFrame(compare_coverage(before, result.coverage)), hide_index=True, width="stretch")
        if st.button(f"Add {len(result.scenarios)} scenarios", type="primary", icon=":material/add:"):
            try:
                ids = store.add_scenarios(
                    [s.as_dict() for s in result.scenarios], plan_seed=int(seed), plan_batch=f"page-seed-{int(seed)}"
                )
            except StoreError as exc:
                st.error(f"The scenarios were not added: {error_text(exc)}")
                return
            st.session_state.pop("pl_preview", None)
            st.toast(f"Added {len(ids)} scenarios (#{ids[0]}–#{ids[-1]}).", icon="✅")
            st.rerun(scope="app")
