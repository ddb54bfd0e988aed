"""Coverage: what the dataset covers against its targets, the gaps, and scenarios planned to fill them."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

import lib.coverage as coverage
from lib.coverage import diversity
from lib.coverage.charts import config, fmt
from lib.store import StoreError
from lib.ui import contrast_coverage, nav, near_duplicates, resources, variations
from lib.ui.display import error_text, names, table_height
from lib.ui.session import reviewer

nav.open_in_app("coverage")

SCOPE_KEY = "br_coverage_scope"  # approved | generated | planned
PLAN_KEY = "br_coverage_plan"  # the plan in preview: {"n": rows, "seed": seed}
SIZE_KEY = "br_coverage_plan_size"  # the number input (None = as many as the gaps need)
ADDED_KEY = "br_coverage_added"  # the scenario ids just added, for the confirmation after the rerun
PLAN_SEED = 0
KIND_PLURALS = {
    "Emotion": "emotions",
    "Strategy": "strategies",
    "Length": "lengths",
    "Persona": "personas",
    "Topic": "topics",
}


@st.cache_data(max_entries=4, show_spinner="Counting…")
def counted_rows(source: str, version: str) -> list[dict]:
    """Every view's counts from SQL, once per version of the data (the arguments are the cache key), so
    switching views or planning does not count again."""
    return resources.store().coverage_counts(list(coverage.SCOPES))


st.title("Coverage")
st.caption(
    "What the dataset covers against the targets in `taxonomy/targets.yaml`, where it falls short, "
    "and scenarios planned to close the gaps."
)
store = resources.store()
tax = resources.taxonomy()
rules = tax.targets.quality

scope = st.radio(
    "Count",
    list(coverage.SCOPES),
    format_func=coverage.SCOPES.get,
    horizontal=True,
    key=SCOPE_KEY,
    help="Approved only: what training would use today. All generated: every current conversation, reviewed "
    "or not. Planned: the dataset once every scenario in the table is generated (estimated).",
)
st.caption(coverage.SCOPE_NOTES[scope])
if scope == "planned":
    st.info(
        coverage.PLANNED_NOTE.format(min_turns=rules.min_turns, max_turns=rules.max_turns), icon=":material/calculate:"
    )

try:
    rows = counted_rows(store.label, store.coverage_version())
    counted = coverage.from_rows(rows, tax, (scope, "planned") if scope != "planned" else ("planned",))
    cov, planned = counted[scope], counted["planned"]
except StoreError as exc:
    st.error(f"**The coverage could not be counted.** {error_text(exc)}")
    st.stop()

summary = coverage.target_summary(cov, tax)
gap_frame = coverage.gaps(cov, tax)
met = sum(m for m, _ in summary.values())
total = sum(t for _, t in summary.values())

# ---- at a glance -----------------------------------------------------------------------------
cols = st.columns(6)
cols[0].metric("Targets met", f"{met} of {total}")
cols[1].metric(
    "Conversations",
    fmt(cov.conversations),
    help=f"Counted in this view; {fmt(cov.estimated)} of them estimated from scenarios not generated yet"
    if cov.estimated
    else "Counted in this view",
)
for col, (kind, plural) in zip(
    cols[2:],
    [("emotion", "Emotions"), ("strategy", "Strategies"), ("persona", "Personas"), ("topic", "Topics")],
    strict=True,
):
    m, t = summary[kind]
    col.metric(f"{plural} at target", f"{m} of {t}")

if not cov.conversations:
    st.info(
        f"**Nothing to count in this view yet**: there are no {scope} conversations, so every target below "
        "is unmet."
        + (
            " Switch to *Planned* to see what the scenario table will produce."
            if scope != "planned"
            else " Plan scenarios on the Scenarios page, or below."
        ),
        icon=":material/info:",
    )
elif met < total:
    st.info(
        f"**{total - met} of {total} targets are not met yet.** Their bars are hatched in the charts; the "
        "[Gaps](#gaps) section lists each one with what is missing, and plans scenarios to fill them.",
        icon=":material/flag:",
    )
else:
    st.success("Every target is met in this view.", icon=":material/check_circle:")

figs = coverage.figures(cov, tax)


def show(name: str) -> None:
    st.plotly_chart(figs[name], config=config(f"coverage-{name}-{scope}"), key=f"br_coverage_chart_{name}")


def chart_section(title: str, side_by_side: tuple[str, str], full_width: str | None = None) -> None:
    """A heading, two charts side by side, then one chart across the page (if any)."""
    st.subheader(title)
    for column, name in zip(st.columns(2), side_by_side, strict=True):
        with column:
            show(name)
    if full_width:
        show(full_width)


# ---- charts ----------------------------------------------------------------------------------
chart_section("Emotions and strategies", ("emotions", "strategies"), "emotion_strategy")
chart_section("Personas and topics", ("personas", "topics"), "persona_topic")
chart_section("Arcs, tiers and lengths", ("arc_tier", "lengths"))
chart_section("Pipeline and review", ("funnel", "quality"), "corrections")

# ---- gaps ------------------------------------------------------------------------------------
number_format = "%.1f" if scope == "planned" else "%.0f"
st.subheader("Gaps", anchor="gaps")
if gap_frame.empty:
    st.success("Every target is met in this view.")
else:
    per_kind = gap_frame.groupby("kind_name", sort=False).size()
    st.caption(
        f"**{len(gap_frame)} targets not met** in this view ({coverage.SCOPES[scope].lower()}): "
        + ", ".join(f"{n} {KIND_PLURALS.get(kind, kind) if n != 1 else kind.lower()}" for kind, n in per_kind.items())
        + ". Biggest shortfall first within each kind. Personas and topics: an even share of the "
        f"{coverage.dataset_size_target(tax)} conversations the length targets add up to."
    )
    st.dataframe(
        gap_frame[["kind_name", "name", "target", "count", "short_by", "progress", "unit", "how"]],
        hide_index=True,
        width="stretch",
        height=table_height(len(gap_frame), 490),
        column_config={
            "kind_name": st.column_config.TextColumn("Kind", width="small"),
            "name": st.column_config.TextColumn("Name", width="medium"),
            "target": st.column_config.NumberColumn("Target", format="%.0f", width="small"),
            "count": st.column_config.NumberColumn("Have", format=number_format, width="small"),
            "short_by": st.column_config.NumberColumn("Short by", format=number_format, width="small"),
            "progress": st.column_config.ProgressColumn(
                "Progress", min_value=0.0, max_value=1.0, format="percent", width="small"
            ),
            "unit": st.column_config.TextColumn("Counted in", width="small"),
            "how": st.column_config.TextColumn("How to fill it", width="large"),
        },
    )

contrast_coverage.section(store, tax, scope)

# ---- diversity and near-duplicates -----------------------------------------------------------
st.subheader("Diversity and near-duplicates", anchor="diversity")
try:
    version, text_scope = store.coverage_version(), diversity.text_scope(scope)
    text_rows = diversity.in_scope(near_duplicates.texts(store.label, version), text_scope)
    clusters = near_duplicates.clusters(store.label, version, text_scope)
except StoreError as exc:
    st.error(f"**The conversations' texts could not be read.** {error_text(exc)}")
    st.stop()
st.caption(
    "Read from the text of the conversations "
    + ("approved so far" if scope == "approved" else "generated so far (scenarios not generated have no text yet)")
    + ". Two conversations are near-duplicates when their word shingles overlap as much as the quality rules "
    f"allow two turns of one conversation to (Jaccard {rules.near_duplicate_jaccard:g}), or when half the turns of "
    "the shorter one are near-copies of turns of the other."
)
repeats = sum(len(c.repeats) for c in clusters)
dup_cols = st.columns(3)
dup_cols[0].metric("Near-duplicate clusters", fmt(len(clusters)))
dup_cols[1].metric(
    "Conversations that repeat an earlier one",
    fmt(repeats),
    help="Every member of a cluster but its earliest: what an export with 'Leave out near-duplicates' drops.",
)
dup_cols[2].metric("Conversations read", fmt(len(text_rows)))
if clusters:
    st.dataframe(
        diversity.cluster_frame(clusters, text_rows, tax),
        hide_index=True,
        width="stretch",
        height=table_height(len(clusters), 300),
        column_config={
            "newest": st.column_config.TextColumn("Newest (flagged)", width="medium"),
            "earlier": st.column_config.TextColumn("Earlier members", width="large"),
            "size": st.column_config.NumberColumn("Members", width="small"),
            "similarity": st.column_config.NumberColumn("Jaccard", format="%.2f", width="small"),
            "shared_turns": st.column_config.NumberColumn("Turns alike", width="small"),
            "cell": st.column_config.TextColumn("Persona · topic of the newest", width="medium"),
        },
        key="br_coverage_clusters",
    )
else:
    st.success("No near-duplicate conversations in this view.", icon=":material/check_circle:")
cell = st.segmented_control(
    "Diversity per",
    list(diversity.CELLS),
    format_func=lambda c: diversity.CELLS[c][0],
    default="persona",
    key="br_coverage_diversity_cell",
)
if text_rows:
    diversity_frame = diversity.figures(
        near_duplicates.profiles(store.label, version, text_scope), tax, cell or "persona"
    )
    st.dataframe(
        diversity_frame,
        hide_index=True,
        width="stretch",
        height=table_height(len(diversity_frame), 460),
        column_config={
            "cell": st.column_config.TextColumn(diversity.CELLS[cell or "persona"][0], width="medium"),
            "conversations": st.column_config.NumberColumn("Conversations", width="small"),
            "distinct_2": st.column_config.NumberColumn(
                "Distinct-2", format="%.2f", help="Distinct word pairs over all word pairs: low means templated."
            ),
            "top_opening": st.column_config.TextColumn(
                "Commonest opening", help="The first two words the person's messages most often start with."
            ),
            "opening_share": st.column_config.ProgressColumn(
                "Share of openings", min_value=0.0, max_value=1.0, format="percent"
            ),
            "mean_similarity": st.column_config.NumberColumn(
                "Mean similarity",
                format="%.3f",
                help="Mean shingle Jaccard between two conversations of the cell: high means they read alike.",
            ),
        },
        key="br_coverage_diversity",
    )

variations.coverage_section(store, tax, scope)

# ---- plan scenarios for the gaps -------------------------------------------------------------
st.subheader("Plan scenarios to fill the gaps")
added = st.session_state.pop(ADDED_KEY, None)
if added:
    st.success(
        f"Added {len(added)} scenarios to the scenario table (#{min(added)}–#{max(added)}). The charts "
        "above include them in the *Planned* view; generate them on the Generate page.",
        icon=":material/check_circle:",
    )

planned_gaps = coverage.gaps(planned, tax)
fillable = planned_gaps[planned_gaps["plannable"]]
stuck = planned_gaps[~planned_gaps["plannable"]]
in_table = int(planned.funnel.set_index("stage")["count"].get("planned", 0))
st.caption(
    f"Scenarios already in the table count: a plan only fills what would still be missing once all "
    f"{in_table} of them are generated (the *Planned* view), so nothing is planned twice."
)
if not stuck.empty:
    st.warning(
        "**Planning cannot fill these:**\n"
        + "\n".join(
            f"- {r.kind_name} *{r.name}*, short by {fmt(r.short_by)} {r.unit}. {r.how}."
            for r in stuck.itertuples(index=False)
        ),
        icon=":material/block:",
    )

if fillable.empty:
    st.session_state.pop(PLAN_KEY, None)
    st.success(
        "Once every scenario in the table is generated, every target that planning can fill is met.",
        icon=":material/check_circle:",
    )
    st.stop()

st.markdown(
    f"**{len(fillable)} targets** would still be short: "
    + ", ".join(f"{r.name} (−{fmt(round(r.short_by, 1))} {r.unit})" for r in fillable.itertuples(index=False))
    + "."
)
size = st.number_input(
    "Scenarios to plan",
    min_value=1,
    max_value=coverage.MAX_PLAN_ROWS,
    value=None,
    step=1,
    key=SIZE_KEY,
    placeholder="As many as the gaps need",
    width=320,
    help="Leave empty to let the planner find the smallest plan that fills the gaps.",
)


def plan_for_gaps(n: int | None, seed: int) -> coverage.GapPlan:
    try:
        return coverage.fill_plan(tax, planned, store.list_scenarios(), n, seed=seed)
    except (StoreError, ValueError) as exc:
        st.session_state.pop(PLAN_KEY, None)
        st.error(f"**The scenarios could not be planned.** {error_text(exc)}")
        st.stop()
        raise


gap_plan = None
if st.button("Plan scenarios to fill these gaps", type="primary", icon=":material/auto_awesome:"):
    with st.spinner("Planning…"):
        gap_plan = plan_for_gaps(size, PLAN_SEED)
    st.session_state[PLAN_KEY] = {"n": gap_plan.n, "seed": PLAN_SEED}

preview = st.session_state.get(PLAN_KEY)
if preview and gap_plan is None:  # a rerun while the preview is open: the same plan again (seeded)
    gap_plan = plan_for_gaps(preview["n"], preview["seed"])
if gap_plan is None:
    st.stop()

rows = [s.as_dict() for s in gap_plan.plan.scenarios]
change = gap_plan.change
closed = int(change["met"].sum())
st.markdown(f"#### Preview: {gap_plan.n} new scenarios")
if not rows:
    st.info("The plan is empty: nothing to add.")
    st.stop()
st.markdown(
    "Once generated, they would meet **every target planning can fill**."
    if gap_plan.closes_all
    else f"Once generated, they would meet **{closed} of the {len(change)} targets** listed. Plan more "
    "scenarios to close the rest."
)
st.caption("What the plan changes, estimated as in the *Planned* view:")
st.dataframe(
    change[["kind_name", "name", "target", "before", "after", "short_after", "met"]],
    hide_index=True,
    width="stretch",
    column_config={
        "kind_name": st.column_config.TextColumn("Kind", width="small"),
        "name": st.column_config.TextColumn("Name"),
        "target": st.column_config.NumberColumn("Target", format="%.0f", width="small"),
        "before": st.column_config.NumberColumn("Planned now", format="%.1f", width="small"),
        "after": st.column_config.NumberColumn("With this plan", format="%.1f", width="small"),
        "short_after": st.column_config.NumberColumn("Still short", format="%.1f", width="small"),
        "met": st.column_config.CheckboxColumn("Met", width="small"),
    },
)
st.caption(f"The {len(rows)} scenarios it adds:")
label = {d: names(tax, d) for d in ("personas", "arcs", "topics", "intents", "tones", "outcomes", "tiers")}
st.dataframe(
    pd.DataFrame(
        [
            {
                "Tier": label["tiers"].get(r["tier"], r["tier"]),
                "Persona": label["personas"].get(r["persona"], r["persona"]),
                "Emotional arc": label["arcs"].get(r["emotional_arc"], r["emotional_arc"]),
                "Topic": label["topics"].get(r["topic"], r["topic"]),
                "Intent": label["intents"].get(r["intent"], r["intent"]),
                "Tone": label["tones"].get(r["tone"], r["tone"]),
                "Outcome": label["outcomes"].get(r["outcome_type"], r["outcome_type"]),
                "Context": r["context_id"] or "",
            }
            for r in rows
        ]
    ),
    hide_index=True,
    width="stretch",
    height=table_height(len(rows), 400),
)

add, discard, _ = st.columns([3, 2, 4])
if add.button(f"Add these {len(rows)} scenarios to the table", type="primary", icon=":material/playlist_add:"):
    try:
        ids = store.add_scenarios(
            rows,
            plan_batch=f"coverage-gaps-{datetime.now(UTC):%Y%m%d-%H%M%S}",
            plan_seed=preview["seed"] if preview else PLAN_SEED,
            origin="planned",
            created_by=reviewer() or None,
        )
    except StoreError as exc:
        st.error(f"**The scenarios were not added.** {error_text(exc)}")
        st.stop()
    st.session_state.pop(PLAN_KEY, None)
    st.session_state[ADDED_KEY] = ids
    st.rerun()
if discard.button("Discard the preview", icon=":material/close:"):
    st.session_state.pop(PLAN_KEY, None)
    st.rerun()
