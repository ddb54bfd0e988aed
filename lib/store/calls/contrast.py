"""The calls of contrastive turns: starting a contrastive job, saving what its items wrote, reading the
failed responses of a conversation and a reviewer's decision on one."""

from __future__ import annotations

from lib.store.calls.kinds import Arg, Call, Fn, Read, as_dict, entry, equal, integer, texts

CONTRAST_CALLS: dict[str, Call] = {
    "create_contrast_job": Fn(
        "create_contrast_job",
        {
            "p_conversation_ids": Arg("conversation_ids", "text[]", texts),
            "p_kind": Arg("kind", "text"),
            "p_model": Arg("model", "text"),
            "p_settings": Arg("settings", "jsonb", as_dict),
            "p_created_by": Arg("created_by", "text"),
            "p_max_attempts": Arg("max_attempts", "integer", integer),
        },
        "value",
        "start a contrastive job",
        shape=integer,
    ),
    "save_contrast_result": Fn(
        "save_contrast_result",
        {
            "p_conversation_id": Arg("record", "text", entry("conversation_id")),
            "p_responses": Arg("record", "jsonb", entry("responses", [])),
            "p_logs": Arg("record", "jsonb", entry("logs", [])),
            "p_item_id": Arg("item_id", "bigint", integer),
        },
        "value",
        "save the contrastive responses of {record[conversation_id]}",
        shape=as_dict,
    ),
    "contrastive_responses": Read(
        "contrastive_responses",
        "read the contrastive responses",
        where=equal("conversation_id", "conversation_id"),
        order=(("turn_idx", False), ("id", False)),
    ),
    "decide_contrast": Fn(
        "decide_contrast",
        {
            "p_id": Arg("response_id", "bigint", integer),
            "p_decision": Arg("decision", "text"),
            "p_reviewer": Arg("reviewer", "text"),
            "p_note": Arg("note", "text"),
        },
        "row",
        "record the decision on contrastive response {response_id}",
    ),
}
