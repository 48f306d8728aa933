"""The saga, as choreography: each domain's consumer of the others' events.

ImageRegistered → (scan keeps its copy) · ScanCompleted → character grants or refuses →
CharacterAcquired / CharacterAcquireFailed → scan settles or compensates the reward ·
ScanCompleted, CharacterAcquired → my updates stats → ProfileUpdated · ProfileUpdated,
ScanRewardCompensated, ScanFailed → notification. Every hop runs once per event (the
kernel's `processed_events`), and each also guards itself by state. Each hop logs what it
did under the event's trace id, so one trace id finds the whole saga in the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import events
from ensemble.apps.eco.characters import service as characters
from ensemble.apps.eco.my import service as my
from ensemble.apps.eco.scan import service as scan
from ensemble.apps.eco.settings import ECO
from ensemble.kernel.events import Envelope, EventPayload
from ensemble.kernel.events.consumer import Consumer, Handler, consumer

logger = logging.getLogger(__name__)


def saga_step(
    name: str, *, aggregate_types: Iterable[str], types: Iterable[type[EventPayload]]
) -> Callable[[Handler], Consumer]:
    """`@consumer` for a hop of the saga, logging its outcome: one INFO line per event it
    handles (a duplicate delivery is skipped before the handler, so it logs nothing)."""

    def declare(handler: Handler) -> Consumer:
        async def logged(session: AsyncSession, envelope: Envelope) -> Any:
            result = await handler(session, envelope)
            logger.info(
                "%s handled %s %s: %s", name, envelope.type, envelope.event_id, result or "done"
            )
            return result

        return consumer(name, aggregate_types=aggregate_types, types=types)(logged)

    return declare


@saga_step("eco.scan.images", aggregate_types=[events.IMAGE], types=[events.ImageRegistered])
async def scan_images(session: AsyncSession, envelope: Envelope) -> None:
    await scan.remember_image(session, envelope)


@saga_step("eco.character.rewards", aggregate_types=[events.SCAN], types=[events.ScanCompleted])
async def character_rewards(session: AsyncSession, envelope: Envelope) -> str:
    return await characters.reward_scan(session, envelope, ECO.current().settings.max_characters)


@saga_step(
    "eco.scan.rewards",
    aggregate_types=[events.CHARACTER],
    types=[events.CharacterAcquired, events.CharacterAcquireFailed],
)
async def scan_rewards(session: AsyncSession, envelope: Envelope) -> str:
    return await scan.settle_reward(session, envelope)


@saga_step(
    "eco.my.stats",
    aggregate_types=[events.SCAN, events.CHARACTER],
    types=[events.ScanCompleted, events.CharacterAcquired],
)
async def my_stats(session: AsyncSession, envelope: Envelope) -> str:
    return await my.count_activity(session, envelope)


@saga_step(
    "eco.my.notifications",
    aggregate_types=[events.PROFILE, events.SCAN],
    types=[events.ProfileUpdated, events.ScanRewardCompensated, events.ScanFailed],
)
async def notifications(session: AsyncSession, envelope: Envelope) -> str:
    return await my.notify(session, envelope)


CONSUMERS = (scan_images, character_rewards, scan_rewards, my_stats, notifications)
