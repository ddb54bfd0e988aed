"""The calls of the members of a hosted project (Supabase mode)."""

from __future__ import annotations

from lib.store.calls.kinds import Arg, Call, Fn, Read, as_dict

MEMBER_CALLS: dict[str, Call] = {
    # -- members (hosted mode)
    "whoami": Fn("whoami", {}, "rows", "read who you are", shape=lambda rows: dict(rows[0]) if rows else {}),
    "list_members": Read("members", "list the members", order=(("email", False),)),
    "add_member": Fn(
        "add_member",
        {
            "p_email": Arg("email", "text"),
            "p_role": Arg("role", "text"),
            "p_user_id": Arg("user_id", "uuid"),
            "p_display_name": Arg("display_name", "text"),
        },
        "row",
        "add {email} as {role}",
        shape=as_dict,
    ),
    "set_member_role": Fn(
        "set_member_role",
        {"p_user_id": Arg("user_id", "uuid"), "p_role": Arg("role", "text")},
        "row",
        "make the member {role}",
        shape=as_dict,
    ),
    "remove_member": Fn(
        "remove_member", {"p_user_id": Arg("user_id", "uuid")}, "value", "remove the member", shape=bool
    ),
}
