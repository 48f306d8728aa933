"""What Casino-Club publishes through the kernel outbox."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import AwareDatetime

from ensemble.kernel.events import EventPayload

AGGREGATE_ACTION = "casino.action"
"""The aggregate type (and stream) of actions; the aggregate id is the member's id, so one
member's actions are delivered in the order they were recorded."""


class ActionRecorded(EventPayload, type="casino.action"):
    """A member's action, as stored (its context already stripped of personal data)."""

    action_id: uuid.UUID
    user_id: uuid.UUID
    action_type: str
    context: dict[str, Any]
    occurred_at: AwareDatetime


AGGREGATE_DEBUG = "casino.debug"
"""The aggregate type (and stream) of the admins' test events; the id is the admin's."""


class DebugEvent(EventPayload, type="casino.debug"):
    """A test event an admin sent through the outbox and the bus (`/api/admin/events`)."""

    message: str
    data: dict[str, Any]
    produced_by: uuid.UUID


AGGREGATE_PURCHASE = "casino.purchase"
"""The aggregate type (and stream) of shop purchases; the aggregate id is the member's id."""


class PurchaseFulfilled(EventPayload, type="casino.purchase.fulfilled"):
    """A purchase was granted (its figures are read from `casino.purchases`, not from here)."""

    purchase_id: uuid.UUID
    user_id: uuid.UUID
    occurred_at: AwareDatetime
