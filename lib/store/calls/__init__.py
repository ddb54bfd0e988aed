"""Every Store method as one row of CALLS: the SQL function it calls (or, where the migrations have
none, the table or view it reads), its named parameters taken from the method's arguments, and
how its result is shaped (rows, one row, a value, Conversations, JobItems...).

lib/store/transport.py turns each row into the method of the Store protocol of the same name,
with the protocol's own signature, so a parameter list is spelled once: in the protocol. A
transport (PostgresStore: psycopg, SupabaseStore: supabase-py) only says how to call a function,
read a relation, insert a row and read the export; what each method means is here, so both behave
the same. The rows live by area (scenarios, review, jobs, members); CALLS is their union.
"""

from __future__ import annotations

from lib.store.calls.budget import BUDGET_CALLS
from lib.store.calls.contrast import CONTRAST_CALLS
from lib.store.calls.jobs import JOB_CALLS
from lib.store.calls.kinds import (
    SCENARIO_FIELDS,
    AnyOf,
    Args,
    Between,
    Call,
    Cond,
    Embed,
    Eq,
    Export,
    Fn,
    Insert,
    IsTrue,
    NotNull,
    Overlaps,
    Read,
    info_counts,
    integer,
    matches_nothing,
)
from lib.store.calls.members import MEMBER_CALLS
from lib.store.calls.preference import PREFERENCE_CALLS
from lib.store.calls.review import REVIEW_CALLS
from lib.store.calls.scenarios import SCENARIO_CALLS, STORE_INFO


def _merged(*tables: dict[str, Call]) -> dict[str, Call]:
    """The union of the areas' tables; a method named in two of them is a mistake caught at import."""
    out: dict[str, Call] = {}
    for table in tables:
        twice = sorted(set(out) & set(table))
        if twice:
            raise RuntimeError(f"Store method {twice[0]!r} is defined in two tables of calls; keep one")
        out.update(table)
    return out


CALLS: dict[str, Call] = _merged(
    SCENARIO_CALLS, REVIEW_CALLS, JOB_CALLS, MEMBER_CALLS, BUDGET_CALLS, PREFERENCE_CALLS, CONTRAST_CALLS
)

__all__ = [
    "CALLS",
    "SCENARIO_FIELDS",
    "STORE_INFO",
    "AnyOf",
    "Args",
    "Between",
    "Call",
    "Cond",
    "Embed",
    "Eq",
    "Export",
    "Fn",
    "Insert",
    "IsTrue",
    "NotNull",
    "Overlaps",
    "Read",
    "info_counts",
    "integer",
    "matches_nothing",
]
