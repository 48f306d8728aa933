"""Background jobs on a real distributed task queue (dramatiq; Redis or RabbitMQ).

Declare with `@job(...)`, request with `await some_job.enqueue(session, **params)` (or
`enqueue_at(session, run_at, ...)`) inside the business transaction, run with `ensemble
worker`; periodic jobs and the outbox relay run in `ensemble scheduler`. See
docs/decisions/0008-job-queue.md.
"""

from ensemble.kernel.jobs.definition import Job, RetryPolicy, job
from ensemble.kernel.jobs.outbox import dispatch_due, run_relay
from ensemble.kernel.jobs.runtime import JobRuntime, configure_jobs

__all__ = [
    "Job",
    "JobRuntime",
    "RetryPolicy",
    "configure_jobs",
    "dispatch_due",
    "job",
    "run_relay",
]
