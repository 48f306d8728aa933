"""The deny-list: access tokens revoked before they expire (a logout ends the token at once).

An access token is otherwise valid until its `exp`; a realm whose logout must take effect
immediately folds `denied(jti)` into the query that resolves the caller (a primary-key
probe, no extra round trip).
Entries are pruned once the token would have expired anyway.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import BindParameter, Exists, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.identity.models import DeniedToken
from ensemble.kernel.jobs.definition import job


async def deny(session: AsyncSession, *, realm: str, jti: uuid.UUID, expires_at: datetime) -> None:
    """Put the token `jti` on the deny-list until `expires_at` (denying twice is harmless)."""
    stmt = (
        insert(DeniedToken)
        .values(jti=jti, realm=realm, expires_at=expires_at)
        .on_conflict_do_nothing()
    )
    await session.execute(stmt)


async def deny_claims(session: AsyncSession, claims: dict[str, object]) -> None:
    """Deny the verified token whose `claims` are given (its `jti`, `aud` and `exp`)."""
    expires = datetime.fromtimestamp(int(str(claims["exp"])), UTC)
    await deny(
        session, realm=str(claims["aud"]), jti=uuid.UUID(str(claims["jti"])), expires_at=expires
    )


def denied(jti: uuid.UUID | BindParameter[uuid.UUID]) -> Exists:
    """`EXISTS` clause: whether `jti` (a value, or a bound parameter of a statement built
    once) is on the deny-list."""
    return select(DeniedToken.jti).where(DeniedToken.jti == jti).exists()


@job("identity.prune_denied_tokens", every=timedelta(hours=1))
async def prune_denied_tokens(session: AsyncSession) -> None:
    """Forget deny-list entries of tokens that have expired by now."""
    await session.execute(delete(DeniedToken).where(DeniedToken.expires_at < func.now()))
