"""How long a typed value may be: the one table of length limits, for the widgets (max_chars), the
actions behind them, and the database's check constraints (which use the same numbers).

A limit keeps one careless paste (a 1 MiB note) from being stored, copied into a document and sent to
the model as a prompt. The message about a value that is too long, or not one of the choices, never
repeats the value: it could be a megabyte, or text nobody should see twice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    what: str  # as a sentence names it: "the notes"
    max_chars: int


NAME = Limit("the name", 200)  # a reviewer's, author's or rater's name
NOTE = Limit("the notes", 10_000)  # review notes; sent to the model as regeneration feedback
FEEDBACK = Limit("the feedback", 10_000)  # a regeneration's feedback (the notes it came from)
REASON = Limit("the reason", 2_000)  # why a label was corrected, why a criterion got its score
LABEL_VALUE = Limit("the label value", 500)  # an emotion, sub-emotion or strategy id (stored as JSON text)

ALL: tuple[Limit, ...] = (NAME, NOTE, FEEDBACK, REASON, LABEL_VALUE)
SHOWN_CHARS = 40  # a value this short may be quoted back in a message


class TooLong(ValueError):
    """A value over its limit; the message names the field and the lengths, never the value."""


def check(limit: Limit, value: str | None) -> str:
    """The value (None as ""), or TooLong when it is over the limit."""
    value = value or ""
    if len(value) > limit.max_chars:
        raise TooLong(
            f"{limit.what.capitalize()} is {len(value):,} characters long; the limit is {limit.max_chars:,}. "
            "Shorten it and try again."
        )
    return value


def quoted(value: object) -> str:
    """A value for a message that says it is wrong: quoted when short, else only its length."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= SHOWN_CHARS:
        return repr(value)
    return f"a {len(text):,}-character value"
