"""The database layer. Pages and the worker use `open_store()` and the `Store` protocol only."""
from __future__ import annotations

from lib.store.protocol import (
    BootError, BootReport, InvalidInput, JobItem, MigrationError, NotFound, PermissionDenied, Store, StoreError,
    StoreInfo, StoreUnavailable,
)
from lib.store.boot import open_store

__all__ = [
    "BootError", "BootReport", "InvalidInput", "JobItem", "MigrationError", "NotFound", "PermissionDenied", "Store",
    "StoreError", "StoreInfo", "StoreUnavailable", "open_store",
]
