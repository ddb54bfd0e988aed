"""The database layer: the `Store` protocol and `open_store()`. Pages get theirs from
lib.ui.resources.store(); the worker and the CLI call open_store()."""

from __future__ import annotations

from lib.store.boot import open_store
from lib.store.protocol import (
    BootError,
    BootReport,
    InvalidInput,
    JobItem,
    MigrationError,
    NotFound,
    PermissionDenied,
    ScenarioPage,
    Stale,
    Store,
    StoreError,
    StoreInfo,
    StoreUnavailable,
)

__all__ = [
    "BootError",
    "BootReport",
    "InvalidInput",
    "JobItem",
    "MigrationError",
    "NotFound",
    "PermissionDenied",
    "ScenarioPage",
    "Stale",
    "Store",
    "StoreError",
    "StoreInfo",
    "StoreUnavailable",
    "open_store",
]
