"""What this Streamlit version offers, so a page runs on older ones too: keyboard shortcuts on buttons,
centred text, and lazy tabs and popovers (only what is open runs)."""

from __future__ import annotations

import inspect
from typing import Any

import streamlit as st

# keyboard shortcuts on buttons (Streamlit ignores them while typing in a field)
SHORTCUTS = "shortcut" in inspect.signature(st.button).parameters
CENTER: dict[str, Any] = (
    {"text_alignment": "center"} if "text_alignment" in inspect.signature(st.markdown).parameters else {}
)
# tabs and popovers with on_change="rerun" and .open: the script draws only what is open
LAZY = "on_change" in inspect.signature(st.popover).parameters and "key" in inspect.signature(st.tabs).parameters


def shortcut(key: str) -> dict[str, Any]:
    return {"shortcut": key} if SHORTCUTS else {}


def lazy(key: str) -> dict[str, Any]:
    return {"key": key, "on_change": "rerun"} if LAZY else {}
