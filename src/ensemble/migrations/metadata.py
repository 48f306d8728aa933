"""Everything the migrations describe: all kernel and app models, and their schemas."""

from __future__ import annotations

from importlib import import_module

from sqlalchemy import MetaData

from ensemble.apps import APP_NAMES
from ensemble.kernel.db import Base

KERNEL_MODELS = ("identity", "jobs", "ledger", "events")


def target_metadata() -> MetaData:
    for module in [f"ensemble.kernel.{name}.models" for name in KERNEL_MODELS]:
        import_module(module)
    for name in APP_NAMES:
        import_module(f"ensemble.apps.{name}.models")
    return Base.metadata


def schemas() -> set[str]:
    return {table.schema for table in target_metadata().tables.values() if table.schema}


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic looks only at our schemas (not `public`, not a stranger's)."""
    return type_ != "schema" or name in schemas()
