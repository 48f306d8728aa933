"""`/api/admin/...` (admins only): members, the catalogue's admin lists and banners, promo
codes, invite batches, the audit log, and the events debug routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from ensemble.apps.casino import consumers
from ensemble.apps.casino.actions import service as actions
from ensemble.apps.casino.actions.domain import ACTION_TYPE_PATTERN
from ensemble.apps.casino.actions.schemas import ActionPublic
from ensemble.apps.casino.admin import bus
from ensemble.apps.casino.admin import service as admin
from ensemble.apps.casino.admin.schemas import (
    AuditEntryPublic,
    BannerAdmin,
    BannerCreate,
    BannerUpdate,
    BusHealth,
    DebugEventCreate,
    EventPublic,
    InviteAdmin,
    InviteBatch,
    InviteBatchCreate,
    MemberDetail,
    MemberSummary,
    MemberUpdate,
)
from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import Admin
from ensemble.apps.casino.domain import NICKNAME_PATTERN, Rank, UserStatus
from ensemble.apps.casino.gacha.endpoints import NO_BANNER, BannerId
from ensemble.apps.casino.schemas import PREFIX, errors
from ensemble.apps.casino.service import member
from ensemble.apps.casino.settings import CasinoDep
from ensemble.apps.casino.shop.schemas import PROMO_CODE_PATTERN, ProductAdmin, PromoPublic
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import MAX_LIMIT, Page, PageDep

router = APIRouter(prefix=f"{PREFIX}/admin", tags=["admin"])

ADMIN = (401, 403, 422)
NO_USER = (404, "No such member (`user_not_found`)")
OWN_OR_DELETED = (409, "Your own account (`own_account`), or a deleted member (`user_deleted`)")
UserId = Annotated[uuid.UUID, Path()]
Active = Annotated[bool | None, Query(description="Only the active (or inactive) ones")]


# members


@router.get("/users", responses=errors(*ADMIN))
async def users(
    admin_: Admin,
    session: SessionDep,
    page: PageDep,
    nickname: Annotated[
        str | None,
        Query(max_length=20, pattern=NICKNAME_PATTERN, description="A prefix, any case"),
    ] = None,
    rank: Rank | None = None,
    status: UserStatus | None = None,
) -> Page[MemberSummary]:
    """Members, the newest first; by nickname prefix, rank, status."""
    found = await admin.members(session, page, nickname=nickname, rank=rank, status=status)
    return found.map(MemberSummary.model_validate)


@router.get("/users/{user_id}", responses=errors(*ADMIN, NO_USER))
async def user(user_id: UserId, admin_: Admin, session: SessionDep) -> MemberDetail:
    """A member: profile, status, wallet, streak, tier, counts, live sessions."""
    return MemberDetail.model_validate(await admin.member_detail(session, user_id, now=utcnow()))


@router.patch("/users/{user_id}", responses=errors(*ADMIN, NO_USER, OWN_OR_DELETED))
async def update_user(
    user_id: UserId, body: MemberUpdate, admin_: Admin, session: SessionDep
) -> MemberSummary:
    """Change a member's rank and/or status (`active`, `suspended`): a suspended member's
    tokens are refused at once (`account_disabled`), and it cannot log in until made active."""
    changed = await admin.update_member(
        session, admin_.account_id, user_id, body.changes(), reason=body.reason
    )
    return MemberSummary.model_validate(changed)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*ADMIN, NO_USER, (409, "Your own account (`own_account`)")),
)
async def delete_user(user_id: UserId, admin_: Admin, session: SessionDep) -> None:
    """Soft-delete a member (final): its tokens are refused at once and it can never log in
    again; its history and nickname are kept. A second delete changes nothing."""
    await admin.delete_member(session, admin_.account_id, user_id)


@router.get("/users/{user_id}/actions", responses=errors(*ADMIN, NO_USER))
async def user_actions(
    user_id: UserId,
    admin_: Admin,
    session: SessionDep,
    page: PageDep,
    action_type: Annotated[str | None, Query(pattern=ACTION_TYPE_PATTERN)] = None,
) -> Page[ActionPublic]:
    """A member's action log, the newest first (of one type, if given)."""
    await member(session, user_id)
    found = await actions.actions_of(session, user_id, page, action_type=action_type)
    return found.map(ActionPublic.model_validate)


# catalogue


@router.get("/gacha/banners", responses=errors(*ADMIN))
async def banners(admin_: Admin, session: SessionDep, page: PageDep) -> Page[BannerAdmin]:
    """Every banner (coming, open, closed), the newest first."""
    return (await admin.banners(session, page)).map(BannerAdmin.model_validate)


@router.post(
    "/gacha/banners",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*ADMIN, (409, "The id is taken (`banner_exists`)")),
)
async def create_banner(body: BannerCreate, admin_: Admin, session: SessionDep) -> BannerAdmin:
    """A new banner. Nobody can pull on it before a rate table is published for it and
    applies (`POST /api/admin/gacha/banners/{banner_id}/rate-tables`, after the notice)."""
    created = await admin.create_banner(session, admin_.account_id, body, now=utcnow())
    return BannerAdmin.model_validate(created)


@router.patch("/gacha/banners/{banner_id}", responses=errors(*ADMIN, NO_BANNER))
async def update_banner(
    banner_id: BannerId, body: BannerUpdate, admin_: Admin, session: SessionDep
) -> BannerAdmin:
    """Rename, re-price, set its end, or close a banner now (`close: true`); 422
    `invalid_banner` for an end before its start."""
    changed = await admin.update_banner(
        session, admin_.account_id, banner_id, body.changes(), now=utcnow()
    )
    return BannerAdmin.model_validate(changed)


@router.get("/shop/products", responses=errors(*ADMIN))
async def products(admin_: Admin, session: SessionDep, page: PageDep) -> Page[ProductAdmin]:
    """Every product, switched off or out of its window too, in the shop's order."""
    return (await admin.products(session, page)).map(ProductAdmin.model_validate)


@router.get("/shop/promo-codes", responses=errors(*ADMIN))
async def promo_codes(
    admin_: Admin, session: SessionDep, page: PageDep, active: Active = None
) -> Page[PromoPublic]:
    """Promo codes, the newest first."""
    return (await admin.promo_codes(session, page, active=active)).map(PromoPublic.model_validate)


@router.post(
    "/shop/promo-codes/{promo_code}/deactivate",
    responses=errors(*ADMIN, (404, "No such promo code (`promo_not_found`)")),
)
async def deactivate_promo(
    promo_code: Annotated[str, Path(pattern=PROMO_CODE_PATTERN)], admin_: Admin, session: SessionDep
) -> PromoPublic:
    """Switch a promo code off: no purchase takes it from now on."""
    return PromoPublic.model_validate(
        await admin.deactivate_promo(session, admin_.account_id, promo_code)
    )


@router.get("/invites", responses=errors(*ADMIN))
async def invites(
    admin_: Admin, session: SessionDep, page: PageDep, active: Active = None
) -> Page[InviteAdmin]:
    """Stored invite codes, the newest first (the forever code is a setting, not listed)."""
    return (await admin.invites(session, page, active=active)).map(InviteAdmin.model_validate)


@router.post("/invites", status_code=status.HTTP_201_CREATED, responses=errors(*ADMIN))
async def create_invites(
    body: InviteBatchCreate, admin_: Admin, session: SessionDep
) -> InviteBatch:
    """`count` new random invite codes, each good for `max_uses` sign-ups (default 1)."""
    batch_id, codes = await admin.create_invites(
        session,
        admin_.account_id,
        count=body.count,
        max_uses=body.max_uses,
        expires_at=body.expires_at,
        now=utcnow(),
    )
    return InviteBatch(batch_id=batch_id, codes=[InviteAdmin.model_validate(c) for c in codes])


# audit


@router.get("/audit", responses=errors(*ADMIN))
async def audit_log(
    admin_: Admin,
    session: SessionDep,
    page: PageDep,
    admin_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[AuditEntryPublic]:
    """Every admin write, the newest first; by admin, action, target."""
    found = await audit.entries(
        session,
        page,
        admin_id=admin_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
    )
    return found.map(AuditEntryPublic.model_validate)


# events debug


@router.get("/events/health", responses=errors(*ADMIN[:2]))
async def events_health(
    admin_: Admin, request: Request, session: SessionDep, casino: CasinoDep
) -> BusHealth:
    """The event bus: its transport, the relay's lag, the consumers' positions and (on
    Redis Streams) every stream group's pending and lag."""
    settings = request.state.settings
    transport = bus.transport(settings)
    redis = casino.redis if transport == "redis-streams" else None
    return BusHealth.model_validate(
        {
            "transport": transport,
            "relay": await bus.relay_lag(session, utcnow()),
            "consumers": await bus.consumer_positions(
                session, [each.name for each in consumers.CONSUMERS]
            ),
            "streams": await bus.stream_groups(redis) if redis is not None else [],
        }
    )


@router.post("/events/produce", status_code=status.HTTP_201_CREATED, responses=errors(*ADMIN))
async def produce_event(body: DebugEventCreate, admin_: Admin, session: SessionDep) -> EventPublic:
    """Publish a test event (`casino.debug`) through the outbox: the relay puts it on the
    bus after commit; `GET /api/admin/events/last?type=casino.debug` shows it."""
    envelope = await bus.produce(session, admin_.account_id, body.message, body.data)
    return EventPublic.model_validate({**envelope.model_dump(), "published_at": None})


@router.get("/events/last", responses=errors(*ADMIN))
async def last_events(
    admin_: Admin,
    session: SessionDep,
    type: Annotated[str | None, Query(max_length=200, description="Only this event type")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> list[EventPublic]:
    """The last events of the outbox (kept `EVENTS_RETENTION_HOURS`), the newest first,
    payloads stripped of personal data."""
    found = await bus.last_events(session, type=type, limit=limit)
    return [EventPublic.model_validate(each) for each in found]
