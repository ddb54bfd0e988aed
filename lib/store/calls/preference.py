"""The calls of the preference export and the contrastive coverage: accepted contrastive responses read
per export batch, and counted per emotion and failure kind."""

from __future__ import annotations

from lib.store.calls.kinds import Arg, Call, Fn, boolean, texts

PREFERENCE_CALLS: dict[str, Call] = {
    "export_preference_pairs": Fn(
        "export_preference_pairs",
        {"p_conversation_ids": Arg("conversation_ids", "text[]", texts)},
        "rows",
        "read the accepted contrastive pairs to export",
        order=("conversation_id", "turn_idx", "id"),
        skip_if_empty="conversation_ids",
    ),
    "contrastive_pair_counts": Fn(
        "contrastive_pair_counts",
        {"p_approved_only": Arg("approved_only", "boolean", boolean)},
        "rows",
        "count the accepted contrastive pairs",
        order=("emotion", "failure_kind"),
    ),
}
