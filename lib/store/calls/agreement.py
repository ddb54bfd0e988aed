"""The calls of double review and reviewer agreement: the share sent to a second reviewer, the second
reviews a reviewer may take, and what agreement is measured on (each reviewer's decision and labels)."""

from __future__ import annotations

from lib.store.calls.kinds import Arg, Call, Fn, decimal

AGREEMENT_CALLS: dict[str, Call] = {
    "double_review_share": Fn("double_review_share", {}, "value", "read the double-review share", shape=float),
    "set_double_review_share": Fn(
        "set_double_review_share",
        {"p_share": Arg("share", "double precision", decimal)},
        "value",
        "change the double-review share",
        shape=float,
    ),
    "second_review_ids": Fn(
        "second_review_ids",
        {"p_reviewer": Arg("reviewer", "text")},
        "values",
        "read the second reviews for {reviewer}",
        shape=list,
    ),
    "agreement_decisions": Fn(
        "agreement_decisions",
        {},
        "rows",
        "read the decisions of conversations reviewed twice",
        order=("conversation_id", "reviewer"),
    ),
    "agreement_labels": Fn(
        "agreement_labels",
        {},
        "rows",
        "read the labels of conversations reviewed twice",
        order=("conversation_id", "reviewer", "turn_idx"),
    ),
}
