"""A conversation as chat bubbles, the same wherever one is shown."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from lib.core.models import AssistantTurn, UserTurn
from lib.core.taxonomy import Taxonomy
from lib.ui.display import escape_markdown, names


def render_chat(turns: Sequence[UserTurn | AssistantTurn], tax: Taxonomy) -> None:
    """User turns with their emotion, assistant turns with their strategies. `turns` carry the
    labels in force (Conversation.current_turns())."""
    emotions = names(tax, "emotions")
    strategies = names(tax, "strategies")
    for i, turn in enumerate(turns):
        with st.chat_message(
            turn.role, avatar=":material/person:" if turn.role == "user" else ":material/support_agent:"
        ):
            if isinstance(turn, UserTurn):
                e = turn.emotion
                label = emotions.get(e.primary, e.primary)
                sub = f" ({e.sub_emotion.replace('_', ' ')})" if e.sub_emotion else ""
                st.caption(escape_markdown(f"Turn {i} · {label}{sub} · intensity {e.intensity:.2f}"))
            else:
                s = turn.strategies
                extra = ", ".join(strategies.get(x, x) for x in s.supporting)
                line = f"Turn {i} · {strategies.get(s.primary, s.primary)}" + (f" + {extra}" if extra else "")
                st.caption(escape_markdown(line))
            st.markdown(escape_markdown(turn.text))
