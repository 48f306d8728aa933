"""ECO² background jobs: the login audit, classification, the scan sweep, the chat pipeline
and pushes to a user's notification channel.

The use cases import the jobs they request (`scan` requests `classify_scan`, `chat`
`chat_pipeline`, `my` `push`), so the jobs import the use cases when they run, not when this
module loads."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco.models import LoginAudit
from ensemble.apps.eco.settings import ECO
from ensemble.kernel.jobs import RetryPolicy, job
from ensemble.kernel.observability.context import current_request_context

logger = logging.getLogger(__name__)

TRANSIENT = RetryPolicy(max_retries=2, min_backoff_ms=500, max_backoff_ms=5_000)
"""Three attempts in all, as the spec's consumers; then the job is dead (`/admin/dlq`)."""
PUSH = RetryPolicy(max_retries=2, min_backoff_ms=100, max_backoff_ms=2_000)
SWEEP_INTERVAL = timedelta(seconds=30)


@job("auth.audit", retry=TRANSIENT)
async def audit_login(
    session: AsyncSession,
    *,
    audit_id: str,
    account_id: str,
    client_address: str,
    user_agent: str | None,
    logged_in_at: str,
) -> None:
    """Record a login (once: the audit id is the row's key)."""
    await session.execute(
        insert(LoginAudit)
        .values(
            id=uuid.UUID(audit_id),
            account_id=uuid.UUID(account_id),
            client_address=client_address[:100],
            user_agent=user_agent[:500] if user_agent else None,
            trace_id=current_request_context().trace_id,
            logged_in_at=datetime.fromisoformat(logged_in_at),
        )
        .on_conflict_do_nothing()
    )


@job("scan.classify", retry=TRANSIENT, time_limit=timedelta(minutes=2))
async def classify_scan(session: AsyncSession, *, scan_id: str) -> None:
    """Classify a scan and complete (or fail) it; a second run changes nothing. A scan whose
    image has not arrived yet is looked at again later (this job, delayed) until
    `ECO_IMAGE_WAIT_SECONDS` have passed; then it fails."""
    from ensemble.apps.eco.scan import service as scan

    eco = ECO.current()
    again = await scan.classify(
        session,
        uuid.UUID(scan_id),
        eco.classifier,
        image_wait=timedelta(seconds=eco.settings.image_wait_seconds),
    )
    if again is not None:
        await classify_scan.enqueue_at(session, again, scan_id=scan_id)


@job("scan.sweep", every=SWEEP_INTERVAL, retry=TRANSIENT)
async def sweep_scans(session: AsyncSession) -> None:
    """Fail scans stuck in processing past `ECO_SCAN_TIMEOUT_SECONDS`, so every saga ends."""
    from ensemble.apps.eco.scan import service as scan

    timeout = timedelta(seconds=ECO.current().settings.scan_timeout_seconds)
    failed = await scan.fail_stale(session, timeout)
    if failed:
        logger.warning("scan sweep failed %s stale scans", failed)


@job("eco.push", retry=PUSH)
async def push(_: AsyncSession, *, user_id: str, payload: dict[str, Any]) -> None:
    """Deliver a message to the user's sockets in every server process."""
    from ensemble.apps.eco.my import service as my

    publisher = ECO.current().publisher
    if publisher is not None:
        await publisher.publish(my.notification_channel(user_id), payload)


@job("chat.pipeline", retry=TRANSIENT)
async def chat_pipeline(session: AsyncSession, *, message_id: str) -> None:
    """Answer a question (once) and push the answer to the asker."""
    from ensemble.apps.eco.chat import service as chat

    answered = await chat.answer(session, uuid.UUID(message_id))
    if answered is None:
        return
    message, user_id = answered
    payload = {"type": "chat.answer", **chat.message_payload(message)}
    await push.enqueue(session, user_id=str(user_id), payload=payload)


JOBS = (audit_login, classify_scan, sweep_scans, push, chat_pipeline)
