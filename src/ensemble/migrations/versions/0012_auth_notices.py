"""identity: NOTIFY `ensemble_auth` when what authenticates a caller changes, so every API
process's auth cache forgets it (decision 22): a revoked session, and the tables each realm's
callers and grants are read from

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REALM_TABLES = {
    "stock": ("stock.users", "stock.user_stores", "stock.stores"),
    "eco": ("eco_auth.users",),
}
"""The tables a realm's callers and grants are read from (its `auth.py` watches the same)."""


def _trigger_name(table: str) -> str:
    return f"auth_notice_{table.split('.')[1]}"


FUNCTIONS = {
    "notify_realm_changed": "TG_ARGV[0]",
    "notify_account_changed": "OLD.realm",
    "notify_session_revoked": "'revoked:' || NEW.family_id::text",
}
"""Each trigger function and the payload it sends on `ensemble_auth`."""


def upgrade() -> None:
    for function, payload in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION identity.{function}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN PERFORM pg_notify('ensemble_auth', {payload}); RETURN NULL; END $$"
        )
    op.execute(
        "CREATE TRIGGER auth_notice_accounts AFTER UPDATE OR DELETE ON identity.accounts"
        " FOR EACH ROW EXECUTE FUNCTION identity.notify_account_changed()"
    )
    op.execute(
        "CREATE TRIGGER auth_notice_revoked AFTER UPDATE OF revoked_at ON identity.refresh_tokens"
        " FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)"
        " EXECUTE FUNCTION identity.notify_session_revoked()"
    )
    for realm, tables in REALM_TABLES.items():
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {_trigger_name(table)}"
                f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_realm_changed('{realm}')"
            )


def downgrade() -> None:
    for tables in REALM_TABLES.values():
        for table in tables:
            op.execute(f"DROP TRIGGER {_trigger_name(table)} ON {table}")
    op.execute("DROP TRIGGER auth_notice_revoked ON identity.refresh_tokens")
    op.execute("DROP TRIGGER auth_notice_accounts ON identity.accounts")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION identity.{function}()")
