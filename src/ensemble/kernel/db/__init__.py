"""Database plumbing shared by every app: engine, session per unit of work, base model."""

from ensemble.kernel.db.base import CURRENT_XID, Base, UuidPk, id_at, new_id, utcnow
from ensemble.kernel.db.engine import Database, after_commit
from ensemble.kernel.db.session import SessionDep, get_database, get_session

__all__ = [
    "CURRENT_XID",
    "Base",
    "Database",
    "SessionDep",
    "UuidPk",
    "after_commit",
    "get_database",
    "get_session",
    "id_at",
    "new_id",
    "utcnow",
]
