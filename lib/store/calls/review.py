"""The calls of review: decisions, label revisions, the queue, seed examples, and the quality
ratings as the Review page and the export read them (the judge's and people's)."""

from __future__ import annotations

from lib.store.calls.kinds import Arg, Call, Fn, IsTrue, Read, boolean, equal, integer, ints, label_group, review_where

BY_TIME = (("created_at", False), ("id", False))
# decisions in the order record_review applied them (the order of their ids, not of their times)
IN_ORDER = (("id", False),)
# the review queue: a hard rule failed first, then the other flagged ones, then the rest, each oldest first
QUEUE_ORDER = (("hard_failed", True), ("flagged", True), *BY_TIME)


REVIEW_CALLS: dict[str, Call] = {
    # -- review
    "record_review": Fn(
        "record_review",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_decision": Arg("decision", "text"),
            "p_reviewer": Arg("reviewer", "text"),
            "p_reason_code": Arg("reason_code", "text"),
            "p_notes": Arg("notes", "text"),
            "p_review_count": Arg("review_count", "integer", integer),
        },
        "value",
        "record a review of {conversation_id}",
        shape=int,
    ),
    "revise_label": Fn(
        "revise_label",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_turn": Arg("turn", "integer", integer),
            "p_field": Arg("field", "text"),
            "p_new_value": Arg("new_value", "jsonb"),
            "p_author": Arg("author", "text"),
            "p_reason": Arg("reason", "text"),
            "p_source": Arg("source", "text"),
        },
        "value",
        "revise {field} of turn {turn} of {conversation_id}",
        shape=integer,
    ),
    "reviews_for": Read("reviews", "read reviews", where=equal("conversation_id", "conversation_id"), order=IN_ORDER),
    "label_revisions_for": Read(
        "label_revisions", "read label revisions", where=equal("conversation_id", "conversation_id"), order=BY_TIME
    ),
    "review_queue": Read(
        "v_review_queue", "read the review queue", where=review_where, order=QUEUE_ORDER, limit="limit"
    ),
    # only the id: PostgreSQL then skips the view's per-row review and revision counts
    "review_queue_ids": Read(
        "v_review_queue",
        "read the review queue",
        columns=("id",),
        where=review_where,
        order=QUEUE_ORDER,
        shape=lambda rows: [r["id"] for r in rows],
    ),
    "reviewer_names": Read("reviews", "list the reviewers", count_by="reviewer", shape=sorted),
    "conversation_metadata": Read(
        "conversation_metadata",
        "read the metadata of a conversation",
        columns=("key", "value"),
        where=equal("conversation_id", "conversation_id"),
        order=(("key", False),),
        shape=lambda rows: {r["key"]: r["value"] for r in rows},
    ),
    "set_seed_example": Fn(
        "set_seed_example",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_value": Arg("value", "boolean", boolean),
            "p_by": Arg("by", "text"),
        },
        "value",
        "change whether {conversation_id} is a seed example",
        shape=bool,
    ),
    "label_correction_stats": Fn(
        "label_correction_stats",
        {"p_by": Arg("by", "text", label_group), "p_source": Arg("source", "text")},
        "rows",
        "read the label analytics",
    ),
    # -- quality ratings as the Review page and the export read them (the judge's and people's)
    "conversation_ratings": Fn(
        "conversation_ratings_of",
        {"p_conversation_id": Arg("conversation_id", "text")},
        "rows",
        "read the ratings of {conversation_id}",
    ),
    "label_findings": Fn(
        "label_findings_of",
        {"p_conversation_id": Arg("conversation_id", "text")},
        "rows",
        "read the judge's label findings on {conversation_id}",
    ),
    "record_human_rating": Fn(
        "record_human_rating",
        {
            "p_conversation_id": Arg("conversation_id", "text"),
            "p_criterion": Arg("criterion", "text"),
            "p_score": Arg("score", "integer", integer),
            "p_rater": Arg("rater", "text"),
            "p_pass_at": Arg("pass_at", "integer", integer),
            "p_hard": Arg("hard", "boolean", boolean),
            "p_reason": Arg("reason", "text"),
            "p_cited_turns": Arg("cited_turns", "integer[]", ints),
            "p_rubric_id": Arg("rubric_id", "text"),
            "p_rubric_version": Arg("rubric_version", "text"),
        },
        "value",
        "record a rating of {criterion} for {conversation_id}",
        shape=int,
    ),
    "conversation_quality": Read(
        "v_conversation_quality",
        "read the ratings in force",
        where=lambda args: [IsTrue("is_current")] if args["current_only"] else [],
        order=(("conversation_id", False),),
    ),
    "rating_calibration": Fn(
        "rating_calibration",
        {},
        "rows",
        "read the judge's calibration",
        order=("criterion", "judge_pass", "review_status"),
    ),
}
