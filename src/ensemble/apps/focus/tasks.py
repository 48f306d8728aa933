"""Focus Mate's background jobs, each domain's listed here for the worker and scheduler."""

from __future__ import annotations

from ensemble.apps.focus.notifications import tasks as notifications

JOBS = (*notifications.JOBS,)
