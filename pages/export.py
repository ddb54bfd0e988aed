"""Export for training: which conversations, which formats, the train/eval split; build, preview,
download. The same options as `python -m lib export`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

import lib.export as ex
from lib.store import StoreError
from lib.ui import nav, resources
from lib.ui.display import error_text, escape_markdown, names
from lib.ui.session import FILTERS_KEY

nav.open_in_app("export")

EXPORT_KEY = "br_export_dir"  # the folder of the export last built in this session
PREVIEW_RECORDS = 3
FILE_KINDS = {"card": "Dataset card", "trainer": "Trainer config", "license": "License", **ex.PREFERENCE_FILE_KINDS}

st.title("Export for training")
st.caption(
    "Reviewed conversations in the formats training tools load, split into train and eval, with a "
    "dataset card and a manifest. The training formats carry the labels in force, corrections included."
)
store = resources.store()
tax = resources.taxonomy()

# ---- 1. which conversations ----------------------------------------------------------------------
st.subheader("1 · Which conversations")
selection = st.radio(
    "Conversations",
    options=list(ex.SELECTIONS),
    format_func=ex.SELECTIONS.get,
    horizontal=True,
    key="export_selection",
    help="The current version of each scenario's conversation.",
)
filters: dict[str, list[str]] = {}
statuses = ["approved"]
if selection == "custom":
    table_filters = st.session_state.get(FILTERS_KEY) or {}
    cols = st.columns(3)
    for n, dim in enumerate(ex.FILTER_DIMENSIONS):
        dim_names = names(tax, dim.taxonomy) if dim.taxonomy else {}
        key = f"export_filter_{dim.key}"
        if key not in st.session_state:  # start from the scenario table's filters
            st.session_state[key] = [v for v in table_filters.get(dim.key, []) if v in dim_names]
        chosen = cols[n % 3].multiselect(
            dim.label, options=list(dim_names), format_func=dim_names.__getitem__, key=key, placeholder="Any"
        )
        if chosen:
            filters[dim.key] = chosen
    statuses = st.multiselect(
        "Review status",
        options=list(ex.REVIEW_STATUSES),
        default=["approved"],
        format_func=ex.REVIEW_LABELS.__getitem__,
        key="export_review_statuses",
        help="Rejected conversations are left out unless you add them here.",
    )
    if not statuses:
        st.warning("Choose at least one review status.")
elif selection == "all":
    statuses = list(ex.ALL_STATUSES)

# the quality options: ratings in force (a reviewer's where one rated, else the judge's) and hard rules
rubric = resources.rubric()
qcols = st.columns([1.3, 1.3, 1.4], vertical_alignment="bottom")
min_rating = qcols[0].selectbox(
    "Minimum rating",
    [None, 2, 3, 4, 5],
    format_func=lambda n: "No minimum" if n is None else f"{n} or more",
    key="export_min_rating",
    help="Every criterion's rating in force (1-5): a reviewer's where one rated, else the "
    "judge's. A conversation not rated yet is left out.",
)
with qcols[1].popover("Minimum per criterion", icon=":material/tune:", width="stretch"):
    min_ratings = {}
    for c in rubric.criteria:
        least = st.selectbox(
            escape_markdown(c.name),
            [None, 2, 3, 4, 5],
            format_func=lambda n: "Any" if n is None else f"{n} or more",
            key=f"export_min_{c.id}",
            help=escape_markdown(c.question) + (" (a hard rule)" if c.hard else ""),
        )
        if least is not None:
            min_ratings[c.id] = int(least)
no_hard = qcols[2].toggle(
    "No hard-rule failure",
    key="export_no_hard",
    help="Leave out a conversation that fails a hard integrity check (run again on the labels in force) or whose "
    "rating of a hard criterion (safety) is below its pass mark.",
)
no_near_dup = st.toggle(
    "Leave out near-duplicates",
    key="export_no_near_dup",
    help="Of each cluster of conversations that repeat each other (listed on the Coverage page), keep only the "
    "earliest.",
)
include_demo = st.toggle(
    "Include demo replays",
    key="export_include_demo",
    help="Conversations and contrastive pairs a demo replay wrote without an API key are for showing the "
    "workflow, not for training: they are left out unless this is on.",
)

try:
    counts = store.export_counts(filters)
    total = sum(store.export_counts().values()) if filters else sum(counts.values())
except StoreError as exc:
    st.error(f"**Cannot count the conversations.** {error_text(exc)}")
    st.stop()
matching = sum(counts.get(s, 0) for s in statuses)
if matching:
    detail = ", ".join(
        f"{counts[s]} {ex.REVIEW_LABELS[s].lower()}" for s in ex.REVIEW_STATUSES if s in statuses and counts.get(s)
    )
    st.info(f"**{matching}** conversation{'s match' if matching != 1 else ' matches'} ({detail}), out of {total}.")
elif statuses:
    probe = ex.ExportOptions(selection=selection, filters=filters, review_statuses=statuses)
    st.warning(ex.explain_empty(probe, tax, counts, total))
try:
    pairs = sum(int(r["n"]) for r in store.contrastive_pair_counts(approved_only=selection == "approved"))
except StoreError as exc:
    st.error(f"**Cannot count the contrastive pairs.** {error_text(exc)}")
    st.stop()
if matching and pairs:
    st.caption(
        f"Preference set: **{pairs}** accepted contrastive pair{'s' if pairs != 1 else ''} of "
        + ("approved" if selection == "approved" else "current, not rejected")
        + " conversations, exported as prompt / chosen / rejected (DPO, ORPO) with the conversations they belong "
        "to; the filters and quality options leave out the pairs of what they leave out, and the pairs a demo replay "
        "wrote are left out unless demo replays are included. A failed response never goes into the supervised files."
    )
elif matching:
    st.caption(
        "Preference set: none yet. In Review, **Contrastive turns** on an approved conversation writes failed "
        "responses; the ones you accept are exported here as prompt / chosen / rejected pairs (DPO, ORPO)."
    )
quality = ex.ExportOptions(
    min_rating=min_rating, min_ratings=min_ratings, no_hard_failures=no_hard, no_near_duplicates=no_near_dup
)
if matching and quality.quality_active():
    if filters:
        st.caption(
            f"Quality: {quality.quality_text()}. Applied while exporting; what it leaves out is counted and "
            "listed in the summary, the manifest and the dataset card."
        )
    else:
        try:
            left = ex.rating_preview(store.conversation_quality(), statuses, matching, quality)
        except StoreError as exc:
            st.error(f"**Cannot read the ratings.** {error_text(exc)}")
            st.stop()
        said = ", ".join(f"{n} {ex.EXCLUSION_REASONS[code].lower()}" for code, n in left.items())
        st.caption(
            f"Quality: {quality.quality_text()}. "
            + (
                f"Of the {matching}, {sum(left.values())} would be left out ({said})"
                if left
                else f"None of the {matching} fails it by its ratings"
            )
            + "; the hard integrity checks run while exporting."
            + (
                " Rate conversations on the Generate page (Rate conversations) or with `python -m lib judge`."
                if left.get("unrated")
                else ""
            )
        )

# ---- 2. formats ---------------------------------------------------------------------------------
st.subheader("2 · Formats")
formats = []
fcols = st.columns(3)
for n, fmt in enumerate(ex.FORMATS.values()):
    if fcols[n % 3].checkbox(fmt.label, value=True, key=f"export_format_{fmt.id}", help=fmt.help):
        formats.append(fmt.id)
weights = st.toggle(
    "Weight assistant turns by approved targets",
    key="export_weights",
    help="Each assistant message gets weight 1 when its primary strategy is one the taxonomy suits to the "
    "preceding user turn's primary or secondary emotion (an approved target), else 0, so training learns "
    "from the fitting replies only. OpenAI fine-tuning and Axolotl (trainers/axolotl.yaml) read it; TRL does "
    "not (it trains on every assistant turn).",
)

if matching and st.toggle("Peek at the first records before building", key="export_peek"):
    try:
        first_rows = store.export_conversations(filters, statuses, limit=PREVIEW_RECORDS)
    except StoreError as exc:
        st.error(f"**Cannot read the conversations.** {error_text(exc)}")
    else:
        first_items, _ = ex.prepare(first_rows)
        suited = ex.suited_strategies(tax)
        st.caption("In the chat messages format" + (", weighted" if weights else "") + ":")
        for item in first_items:
            st.json(ex.messages_record(item, weights, suited), expanded=2)

# ---- 3. split -----------------------------------------------------------------------------------
st.subheader("3 · Train / eval split")
scol = st.columns([2, 1])
eval_ratio = scol[0].slider(
    "Share of scenarios in eval",
    min_value=0.0,
    max_value=0.5,
    value=0.1,
    step=0.05,
    key="export_eval_ratio",
    format="%.2f",
)
seed = int(
    scol[1].number_input(
        "Seed",
        min_value=0,
        max_value=2**31 - 1,
        value=0,
        step=1,
        key="export_seed",
        help="The same data and seed give the same split.",
    )
)
st.caption(
    "Grouped by scenario (every version of a scenario lands in one split), stratified by emotional arc and "
    "persona, deterministic for the seed."
)

# ---- 4. package ---------------------------------------------------------------------------------
st.subheader("4 · Package")
pcol = st.columns([2, 1, 1])
name = pcol[0].text_input(
    "Export name",
    value=f"brightrun-{selection}",
    key=f"export_name_{selection}",
    max_chars=80,
    help="The folder (and zip) name; an earlier export of this name is replaced once the new one is complete.",
)
license_id = pcol[1].selectbox(
    "License",
    options=list(ex.LICENSES),
    key="export_license",
    help="A Hugging Face Hub license id, for the dataset card. 'other' means proprietary terms: the export "
    "writes a LICENSE.md the card links to.",
)
make_zip = pcol[2].checkbox("Build a zip", value=True, key="export_zip")
card_name = st.text_input(
    "Dataset name in the card",
    key="export_card_name",
    max_chars=100,
    placeholder="from the conversations (e.g. brightrun-emotional-fp)",
)
root = ex.exports_root()
dest = ex.default_dest(root, name or f"brightrun-{selection}")
st.caption(f"Folder: `{dest}`")

problem = None
if not formats:
    problem = "Choose at least one format."
elif not matching:
    problem = "Nothing matches the selection above."
if problem:
    st.caption(problem)
if st.button("Build export", type="primary", disabled=problem is not None, icon=":material/package_2:"):
    try:
        options = ex.ExportOptions(
            selection=selection,
            filters=filters,
            review_statuses=statuses,
            formats=formats,
            eval_ratio=round(eval_ratio, 2),
            seed=seed,
            weights=weights,
            license=license_id,
            name=card_name.strip() or None,
            min_rating=min_rating,
            min_ratings=min_ratings,
            no_hard_failures=no_hard,
            no_near_duplicates=no_near_dup,
            include_demo=include_demo,
        )
        with st.spinner(f"Exporting {matching} conversations…"):
            result = ex.run(store, options, tax, dest, make_zip=make_zip)
    except ex.NothingToExport as exc:
        st.warning(str(exc))
    except (ex.ExportError, StoreError, ValueError) as exc:
        st.error(f"**The export was not written.** {error_text(exc)}")
    except OSError as exc:
        st.error(
            f"**The export was not written:** cannot write to {dest} ({exc.strerror or exc}). "
            "Check the disk space and the folder's permissions; an earlier export there is unchanged."
        )
    else:
        st.session_state[EXPORT_KEY] = str(result.path)

# ---- the last export: summary, preview, download -----------------------------------------------------
last = st.session_state.get(EXPORT_KEY)
manifest = ex.read_manifest(last) if last else None
if last and manifest:
    folder = Path(last)
    c = manifest["counts"]
    st.divider()
    st.subheader("Export")
    st.success(
        f"Exported {c['conversations']} conversation{'' if c['conversations'] == 1 else 's'} ({c['turns']} turns) "
        f"at {manifest['created_at']}: "
        f"train {c['train']}, eval {c['eval']}."
    )
    m = st.columns(4)
    m[0].metric("Conversations", c["conversations"])
    m[1].metric("Train", c["train"])
    m[2].metric("Eval", c["eval"])
    m[3].metric("Files", len(manifest["files"]) + 1)
    st.caption(
        f"Selection: {manifest['selection']['description']} · taxonomy {manifest['taxonomy']['vertical']} "
        f"v{manifest['taxonomy']['version']} · folder `{folder}`"
    )
    if c.get("preference_pairs"):
        st.info(
            f"**{c['preference_pairs']} preference pair{'s' if c['preference_pairs'] != 1 else ''}** (train "
            f"{c['preference_train']}, eval {c['preference_eval']}): accepted contrastive responses as prompt / "
            "chosen / rejected for DPO or ORPO, in the card's `preference` config; never in the supervised files.",
            icon=":material/compare_arrows:",
        )
    for note in manifest.get("warnings") or []:
        st.warning(note, icon=":material/warning:")
    if manifest["skipped"]:
        st.warning(f"{len(manifest['skipped'])} selected conversation(s) could not be exported:")
        st.dataframe(pd.DataFrame(manifest["skipped"]), hide_index=True, width="stretch")
    excluded = manifest.get("excluded") or []
    if excluded:
        said = ", ".join(f"{n} {ex.EXCLUSION_REASONS[code].lower()}" for code, n in ex.reason_counts(excluded).items())
        st.info(
            f"{len(excluded)} selected conversation{'s were' if len(excluded) != 1 else ' was'} left out by the "
            f"quality options ({said}); the manifest and the dataset card list them.",
            icon=":material/filter_alt:",
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Conversation": e["id"],
                        "Why": ", ".join(ex.EXCLUSION_REASONS[r] for r in e["reasons"]),
                        "Detail": e.get("detail", ""),
                    }
                    for e in excluded
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    files = pd.DataFrame(
        [
            {
                "File": f["path"],
                "Format": (ex.FORMATS[f["format"]].label if f["format"] in ex.FORMATS else FILE_KINDS[f["format"]])
                + (f" · config {f['config']}" if f.get("config") else ""),
                "Split": ex.SPLIT_NAMES.get(f["split"], "all"),
                "Records": f["records"],
                "KB": round(f["bytes"] / 1024, 1),
                "sha256": f["sha256"][:16],
            }
            for f in manifest["files"]
        ]
    )
    st.dataframe(files, hide_index=True, width="stretch")

    zip_path = folder.parent / f"{folder.name}.zip"
    if zip_path.is_file():
        st.download_button(
            f"Download {zip_path.name} ({zip_path.stat().st_size / 1e6:.1f} MB)",
            data=lambda: zip_path.read_bytes(),
            file_name=zip_path.name,
            mime="application/zip",
            type="primary",
            icon=":material/download:",
            on_click="ignore",
            key="export_download",
        )
    else:
        st.caption("No zip was built for this export; the files are in the folder above.")

    st.markdown(f"**Preview** · the first {PREVIEW_RECORDS} records of each file, as they will be downloaded")
    shown = ex.preview(folder, PREVIEW_RECORDS)
    labels = [p for p in shown if p != "README.md"] + (["README.md"] if "README.md" in shown else [])
    for tab, path in zip(st.tabs(labels), labels, strict=True):
        with tab:
            value = shown[path]
            if isinstance(value, str):
                st.code(value, language="markdown", wrap_lines=True)
            elif isinstance(value, pd.DataFrame):
                st.dataframe(value, hide_index=True, width="stretch")
            elif not value:
                st.caption("No records.")
            else:
                for record in value:
                    st.json(record, expanded=1)
