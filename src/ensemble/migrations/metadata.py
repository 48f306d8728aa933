"""Everything the migrations describe: all kernel and app models, and their schemas."""

from __future__ import annotations

import pkgutil
from importlib import import_module
from importlib.util import find_spec

from sqlalchemy import MetaData

from ensemble.apps import APP_NAMES
from ensemble.kernel.db import Base

KERNEL_MODELS = ("identity", "jobs", "ledger", "events")


def target_metadata() -> MetaData:
    for module in [f"ensemble.kernel.{name}.models" for name in KERNEL_MODELS]:
        import_module(module)
    for name in APP_NAMES:
        for module in _models_of(f"ensemble.apps.{name}"):
            import_module(module)
    return Base.metadata


def _models_of(app: str) -> list[str]:
    """An app's `models` module and its domains' (`<app>.<domain>.models`), where they are."""
    package = import_module(app)
    domains = [
        f"{app}.{found.name}" for found in pkgutil.iter_modules(package.__path__) if found.ispkg
    ]
    candidates = [app, *domains]
    return [f"{each}.models" for each in candidates if find_spec(f"{each}.models") is not None]


def schemas() -> set[str]:
    return {table.schema for table in target_metadata().tables.values() if table.schema}


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic looks only at our schemas (not `public`, not a stranger's)."""
    return type_ != "schema" or name in schemas()
