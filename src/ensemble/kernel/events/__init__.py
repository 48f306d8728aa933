"""Domain events: the envelope, the transactional outbox and the relay to the event bus."""

from ensemble.kernel.events.envelope import Envelope, EventPayload
from ensemble.kernel.events.outbox import publish

__all__ = ["Envelope", "EventPayload", "publish"]
