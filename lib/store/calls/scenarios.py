"""The calls of the store itself, the scenarios, their conversations and the export."""

from __future__ import annotations

from dataclasses import replace

from lib.store.calls.kinds import (
    Arg,
    Call,
    Export,
    Fn,
    IsTrue,
    Read,
    as_dict,
    conversation_or_none,
    conversations,
    document,
    equal,
    export_where,
    first,
    info_counts,
    integer,
    scenario_filter_columns,
    scenario_page,
    scenario_payload,
    scenario_where,
    texts,
)

STORE_INFO = Fn("store_info", {}, "value", "describe the database")


SCENARIO_CALLS: dict[str, Call] = {
    # -- the store itself
    "counts": replace(STORE_INFO, action="count rows", shape=info_counts),
    "scenario_status_counts": Fn(
        "scenario_status_counts",
        {},
        "rows",
        "count scenarios by status",
        shape=lambda rows: {r["status"]: int(r["n"]) for r in rows},
    ),
    "coverage_counts": Fn(
        "coverage_counts",
        {"p_scopes": Arg("scopes", "text[]", texts)},
        "rows",
        "count the coverage",
        order=("scope", "section", "a", "b", "c"),
    ),
    "coverage_version": Fn("coverage_version", {}, "value", "read the coverage version", shape=str),
    "conversation_texts": Read("v_conversation_texts", "read the conversations' texts"),
    "conversation_texts_version": Fn(
        "conversation_texts_version", {}, "value", "read the conversations' text version", shape=str
    ),
    # -- scenarios
    "list_scenarios": Read("v_scenarios", "list scenarios", where=scenario_where, limit="limit"),
    "scenario_page": Fn(
        "scenario_page",
        {
            "p_filters": Arg("filters", "jsonb", scenario_filter_columns),
            "p_sort": Arg("sort", "text"),
            "p_descending": Arg("descending", "boolean", bool),
            "p_limit": Arg("limit", "integer", integer),
            "p_offset": Arg("offset", "integer", integer),
        },
        "value",
        "read a page of scenarios",
        shape=scenario_page,
    ),
    "get_scenario": Read(
        "v_scenarios", "read scenario #{scenario_id}", where=equal("id", "scenario_id", int), one=True, shape=first
    ),
    "add_scenarios": Fn(
        "add_scenarios",
        {
            "p_rows": Arg("rows", "jsonb", scenario_payload),
            "p_plan_batch": Arg("plan_batch", "text"),
            "p_plan_seed": Arg("plan_seed", "integer", integer),
            "p_origin": Arg("origin", "text"),
            "p_created_by": Arg("created_by", "text"),
        },
        "values",
        "add scenarios",
        shape=lambda ids: [int(i) for i in ids],
        skip_if_empty="rows",
    ),
    "variation_counts": Fn(
        "variation_counts",
        {},
        "rows",
        "count the variations per source conversation",
        order=("source_conversation_id",),
    ),
    # -- conversations
    "get_conversation": Read(
        "conversations",
        "read conversation {conversation_id}",
        columns=("document",),
        where=equal("id", "conversation_id"),
        one=True,
        shape=conversation_or_none,
    ),
    "conversation_versions": Read(
        "conversations",
        "read the versions of a conversation",
        columns=("document",),
        where=equal("scenario_id", "scenario_id", int),
        order=(("version", True),),
        shape=conversations,
    ),
    "conversation_turn_rows": Read(
        "conversation_turns",
        "read the turns of a conversation",
        where=equal("conversation_id", "conversation_id"),
        order=(("idx", False),),
    ),
    "seed_examples": Read(
        "conversations",
        "read the seed examples",
        columns=("document",),
        where=lambda args: [IsTrue("use_as_seed_example"), IsTrue("is_current")],
        shape=conversations,
    ),
    "set_scenario_status": Fn(
        "set_generation_status",
        {"p_scenario_id": Arg("scenario_id", "bigint", integer), "p_status": Arg("status", "text")},
        "value",
        "set the status of scenario #{scenario_id}",
    ),
    "save_generated": Fn(
        "save_generated",
        {
            "p_conversation": Arg("conversation", "jsonb", document),
            "p_item_id": Arg("item_id", "bigint", integer),
            "p_scenario_id": Arg("scenario_id", "bigint", integer),
            "p_worker": Arg("worker", "text"),
            "p_metadata": Arg("metadata", "jsonb", as_dict),
        },
        "value",
        "save conversation {conversation.id}",
    ),
    # -- export
    "export_conversations": Export("read the conversations to export", export_where, limit="limit"),
    "export_counts": Read(
        "v_scenarios",
        "count the conversations to export",
        where=export_where,
        count_by="review_status",
        shape=lambda counts: dict(sorted(counts.items())),
    ),
}
