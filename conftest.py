"""Fixtures shared by every test: the taxonomy and the seed conversations, loaded once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy, load_taxonomy

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def tax() -> Taxonomy:
    return load_taxonomy(ROOT / "taxonomy")


@pytest.fixture(scope="session")
def seeds() -> dict[str, Conversation]:
    out = {}
    for path in sorted((ROOT / "seeds").glob("*.json")):
        conv = Conversation.model_validate(json.loads(path.read_text(encoding="utf-8")))
        out[conv.id] = conv
    return out


@pytest.fixture
def seed(seeds: dict[str, Conversation]) -> Conversation:
    """A fresh copy of the first seed, safe to change."""
    return seeds["seed-01"].model_copy(deep=True)
