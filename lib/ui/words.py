"""Field and file names in people's words, for the headers of tables built from data: the taxonomy's
fields, the price table's rates, the settings in force (what each one does, beside its variable)."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from lib.config import ENV_NAMES, Settings

# Where the plain rule (underscores to spaces, first letter up) reads wrong.
SPECIAL: dict[str, str] = {
    "id": "ID",
    "cache_write_5m": "Cache write (5 min)",
    "cache_write_1h": "Cache write (1 h)",
    "goleman_domain": "Goleman domain",
    "number": "Tier number",
    "default_count": "Planned by default",
}


def header(field: str) -> str:
    """valence_range -> "Valence range"; id -> "ID"."""
    if field in SPECIAL:
        return SPECIAL[field]
    return _sentence(re.sub(r"_+", " ", field).strip())


def headed(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its columns named in people's words."""
    return frame.rename(columns={c: header(str(c)) for c in frame.columns})


def settings_rows(settings: Settings) -> list[dict[str, Any]]:
    """Each setting in force: what it does, its value (secrets only set / not set) and the variable
    that sets it, in that order."""
    does = {ENV_NAMES[f]: (info.description or "") for f, info in Settings.model_fields.items()}
    return [
        {
            "What it sets": _sentence(does.get(row["Setting"], "")) or row["Setting"],
            "Value": row["Value"],
            "Variable": row["Setting"],
        }
        for row in settings.display_rows()
    ]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
