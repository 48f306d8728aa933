"""Every admin write leaves its entry in the audit log: each write route of the auth
matrix (an admin's row, not a GET) is called once on a fresh scene and must add exactly one
entry by that admin; for the routes known here, with the right action and target. A new
admin route that does not record itself fails here."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ensemble.apps.casino.audit.models import AuditEntry
from ensemble.kernel.db import Database
from tests.apicheck import fill
from tests.apps.casino.conftest import CasinoWorld
from tests.apps.casino.scene import Scene, build_scene
from tests.apps.casino.test_auth_matrix import ENDPOINTS, Endpoint, Who, call_as

WRITES = [e for e in ENDPOINTS if e.by is Who.ADMIN and e.method != "GET"]

EXPECTED: dict[tuple[str, str], tuple[str, str, str]] = {
    ("POST", "/admin/users/{user_id}/force-logout"): ("user.force_logout", "user", "{user_id}"),
    ("POST", "/rewards"): ("reward.grant", "reward", "{reward_id}"),
    ("POST", "/admin/rewards/{reward_id}/reverse"): ("reward.reverse", "reward", "{reward_id}"),
    ("POST", "/admin/shop/products"): ("product.create", "product", "t-matrix"),
    ("PATCH", "/admin/shop/products/{product_id}"): ("product.update", "product", "{product_id}"),
    ("PUT", "/admin/shop/products/{product_id}/enabled"): (
        "product.switch", "product", "{product_id}",
    ),
    ("POST", "/admin/shop/promo-codes"): ("promo.create", "promo_code", "MATRIX10"),
    ("POST", "/admin/shop/purchases/{purchase_id}/refund"): (
        "purchase.refund", "purchase", "{purchase_id}",
    ),
    ("POST", "/admin/gacha/banners/{banner_id}/rate-tables"): (
        "rate_table.publish", "banner", "{banner_id}",
    ),
    ("POST", "/admin/action-types"): ("action_type.create", "action_type", "MATRIX_TAP"),
    ("PATCH", "/admin/users/{user_id}"): ("user.update", "user", "{user_id}"),
    ("DELETE", "/admin/users/{user_id}"): ("user.delete", "user", "{user_id}"),
    ("POST", "/admin/gacha/banners"): ("banner.create", "banner", "matrix"),
    ("PATCH", "/admin/gacha/banners/{banner_id}"): ("banner.update", "banner", "{banner_id}"),
    ("POST", "/admin/shop/promo-codes/{promo_code}/deactivate"): (
        "promo.deactivate", "promo_code", "{promo_code}",
    ),
    ("POST", "/admin/invites"): ("invite.create", "invite_batch", "{batch_id}"),
    ("POST", "/admin/events/produce"): ("event.produce", "event", "{event_id}"),
}  # fmt: skip
"""What each known admin write records: action, target type, target id (filled from the
scene's values, then the answer's fields: a new row's id)."""


def test_the_known_writes_are_admin_writes_of_the_matrix() -> None:
    assert set(EXPECTED) <= {e.key for e in WRITES}


async def entries(database: Database) -> list[AuditEntry]:
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


@pytest.mark.parametrize("endpoint", WRITES, ids=[e.id for e in WRITES])
async def test_each_admin_write_is_in_the_audit_log(
    casino: CasinoWorld, endpoint: Endpoint
) -> None:
    scene: Scene = await build_scene(casino)
    before = {entry.id for entry in await entries(casino.database)}
    served = await call_as(casino, scene, endpoint, Who.ADMIN)
    assert served.status_code == endpoint.ok, served.text
    added = [e for e in await entries(casino.database) if e.id not in before]
    assert [e.admin_id for e in added] == [scene.admin.user_id]
    if endpoint.key in EXPECTED:
        answer: dict[str, Any] = served.json() if served.content else {}
        action, target_type, target = EXPECTED[endpoint.key]
        target_id = fill(target, {**scene.values, **answer})
        assert (added[0].action, added[0].target_type, added[0].target_id) == (
            action,
            target_type,
            target_id,
        )
