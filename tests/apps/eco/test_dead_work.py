"""Work that cannot finish, on a real worker and scheduler: a scan whose image never arrives
fails once its wait is over (no retry storm, no traceback), and a classify job that fails
for good is listed at `/admin/dlq` beside the dead letters and re-driven to success."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ensemble.apps.eco.models import Role
from tests.apps.eco.conftest import API, EcoWorld, quick_users
from tests.apps.eco.test_domain import vision_endpoint
from tests.apps.eco.test_scan import accepted_task, classify_jobs
from tests.polling import eventually
from tests.processes import fleet

JOB_ROLES = ("worker", "scheduler")


def no_traceback_in(logs: Path) -> bool:
    return all("Traceback" not in log.read_text() for log in logs.glob("*.log"))


async def test_a_scan_of_an_unknown_image_fails_once_its_wait_is_over(
    eco: EcoWorld, process_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**process_env, "ECO_IMAGE_WAIT_SECONDS": "2", "LOG_LEVEL": "INFO"}
    [user] = await quick_users(eco, 1)
    with fleet(env, tmp_path, JOB_ROLES):
        task_id = await accepted_task(eco, user, image_id=str(uuid.uuid4()))
        task = await eventually(
            lambda: eco.task(user, task_id), lambda t: t["status"] != "processing", timeout=30
        )
        assert no_traceback_in(tmp_path), "an image that never came is not a crash"
    assert (task["status"], task["error"]) == ("failed", "image_not_found")
    assert await classify_jobs(eco.database, task_id) <= 10, "a few looks, no retry storm"


async def dead_work(world: EcoWorld, headers: dict[str, str], **params: str) -> list[Any]:
    response = await world.client.get(f"{API}/admin/dlq", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_a_dead_classify_job_is_listed_and_redriven_to_success(
    eco: EcoWorld, process_env: dict[str, str], tmp_path: Path
) -> None:
    user, admin = await quick_users(eco, 1), await eco.user(Role.ADMIN)
    with vision_endpoint() as vision:
        vision.status, vision.body = 503, b'{"error": "overloaded"}'
        env = {**process_env, "ECO_CLASSIFIER": "vision", "ECO_VISION_URL": vision.url}
        with fleet(env, tmp_path, JOB_ROLES):
            task_id = await accepted_task(eco, user[0], image_url="https://cdn.example.com/a.jpg")
            [dead] = await eventually(
                lambda: dead_work(eco, admin.headers, kind="job"), lambda items: len(items) == 1
            )
            assert (dead["kind"], dead["queue"], dead["attempts"]) == ("job", "scan.classify", 3)
            assert dead["arguments"] == {"scan_id": task_id}
            assert dead["error_type"] == "ClassifierUnavailable"
            assert len(vision.requests) == dead["attempts"], "each attempt asked the endpoint"
            assert (await eco.task(user[0], task_id))["status"] == "processing"

            vision.status = 200
            vision.answer_with({"category": "glass", "confidence": 0.9})
            redriven = await eco.client.post(
                f"{API}/admin/dlq/reprocess",
                json={"queue": "scan.classify", "count": 10},
                headers=admin.headers,
            )
            assert redriven.status_code == 200, redriven.text
            assert redriven.json() == {"reprocessed": 1, "ids": [dead["id"]]}
            task = await eventually(
                lambda: eco.task(user[0], task_id), lambda t: t["status"] != "processing"
            )
    assert (task["status"], task["category"]) == ("completed", "glass")
    assert await dead_work(eco, admin.headers) == []
