"""Casino-Club's routers: accounts (invites, sign-up, login by nickname, sessions), admin
force-logout and profiles, all under `PREFIX`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from ensemble.apps.casino import service
from ensemble.apps.casino.achievements import endpoints as achievements
from ensemble.apps.casino.actions import endpoints as actions
from ensemble.apps.casino.admin import endpoints as admin
from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import (
    REALM,
    Admin,
    CurrentUser,
    casino_codec,
    claims_of,
    current_principal,
    nickname_credentials,
)
from ensemble.apps.casino.campaigns import endpoints as campaigns
from ensemble.apps.casino.domain import INVITE_CODE_PATTERN
from ensemble.apps.casino.fairness import endpoints as fairness
from ensemble.apps.casino.feedback import endpoints as feedback
from ensemble.apps.casino.gacha import endpoints as gacha
from ensemble.apps.casino.inventory import endpoints as inventory
from ensemble.apps.casino.leaderboards import endpoints as leaderboards
from ensemble.apps.casino.limits import endpoints as responsible_play
from ensemble.apps.casino.missions import endpoints as missions
from ensemble.apps.casino.notifications import endpoints as notifications
from ensemble.apps.casino.rewards import endpoints as rewards
from ensemble.apps.casino.schemas import (
    OWNED,
    PREFIX,
    USER,
    InviteCheck,
    MePublic,
    ProfileFull,
    ProfileLimited,
    SessionPublic,
    SignupRequest,
    SignupResponse,
    errors,
)
from ensemble.apps.casino.segments import endpoints as segments
from ensemble.apps.casino.sessions import endpoints as game_sessions
from ensemble.apps.casino.settings import CasinoDep
from ensemble.apps.casino.shop import endpoints as shop
from ensemble.apps.casino.slot import endpoints as slot
from ensemble.apps.casino.unlock import endpoints as unlock
from ensemble.apps.casino.vip import endpoints as vip
from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.address import ClientAddress
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.identity.router import TOKEN_RESPONSE, auth_router
from ensemble.kernel.identity.tokens import claimed_id
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX)

auth = auth_router(
    REALM,
    claims_of,
    prefix=f"{PREFIX}/auth",
    on_login=service.record_login,
    logout_by=current_principal,
    credentials=nickname_credentials,
    codec=casino_codec,
)
"""Login by nickname, refresh (rotation, reuse detection), logout: the kernel's routes."""

InviteCode = Annotated[str, Path(pattern=INVITE_CODE_PATTERN)]


@router.get("/auth/check-invite/{code}", tags=["auth"], responses=errors(422))
async def check_invite(code: InviteCode, session: SessionDep, casino: CasinoDep) -> InviteCheck:
    """Whether an invite code can sign someone up now, and if not why."""
    forever = casino.settings.invite_forever_code
    reason = await service.invite_status(session, code, forever=forever)
    return InviteCheck(valid=reason is None, infinite=code == forever, reason=reason)


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    tags=["auth"],
    responses=errors(
        422,
        (409, "The nickname is taken (`nickname_taken`), or the invite code cannot be used"
         " (`invite_unknown`, `invite_used`, `invite_inactive`, `invite_expired`)"),
        (429, "Too many sign-ups from this address (`signup_throttled`)"),
    ),
    dependencies=TOKEN_RESPONSE,
)  # fmt: skip
async def sign_up(
    body: SignupRequest,
    request: Request,
    address: ClientAddress,
    session: SessionDep,
    casino: CasinoDep,
) -> SignupResponse:
    """Become a member with an invite code: a `STANDARD` member with the sign-up coins,
    logged in. A refused sign-up writes nothing (and leaves a single-use code unspent)."""
    throttle = identity.ThrottlePolicy.from_settings(request.state.settings)
    await identity.throttle_signup(session, realm=REALM, client_address=address, throttle=throttle)
    account, user = await service.sign_up(
        session,
        invite_code=body.invite_code,
        nickname=body.nickname,
        password=body.password,
        signup_coins=casino.settings.signup_coins,
        forever_code=casino.settings.invite_forever_code,
    )
    codec = await casino_codec(request, casino)
    pair = await identity.open_session(session, account, codec=codec, claims=claims_of)
    me = MePublic.model_validate(await service.me(session, user.account_id))
    return SignupResponse.model_validate(Extended(pair, user=me))


@router.get("/auth/me", tags=["auth"], responses=errors(*USER))
async def me(user: CurrentUser, session: SessionDep) -> MePublic:
    """Your account and wallet."""
    return MePublic.model_validate(await service.me(session, user.account_id))


@router.get("/auth/sessions", tags=["auth"], responses=errors(*USER))
async def sessions(user: CurrentUser, session: SessionDep) -> list[SessionPublic]:
    """Your live sessions, the newest first; `current` is the one you call from."""
    current = claimed_id(user.claims, "sid")
    return [
        SessionPublic.model_validate(Extended(each, current=each.session_id == current))
        for each in await identity.live_sessions(session, user.account_id)
    ]


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    responses=errors(*OWNED),
)
async def end_session(
    session_id: uuid.UUID, user: CurrentUser, session: SessionDep, revocations: RevocationsDep
) -> None:
    """End one of your sessions: it cannot refresh, and its access tokens are refused at
    once (404 `session_not_found` if it is not a live session of yours)."""
    await identity.revoke_session(session, user.account_id, session_id, revocations)


@router.post(
    "/admin/users/{user_id}/force-logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["admin"],
    responses=errors(*OWNED, 403),
)
async def force_logout(
    user_id: uuid.UUID, admin: Admin, session: SessionDep, revocations: RevocationsDep
) -> None:
    """End every session of a member at once (admins only)."""
    await service.force_logout(session, user_id, revocations)
    await audit.record(session, admin.account_id, "user.force_logout", "user", user_id)


@router.get("/users/{user_id}/profile", tags=["users"], responses=errors(*OWNED))
async def profile(
    user_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> ProfileFull | ProfileLimited:
    """A member's profile: everything for your own, the public part for anyone else's."""
    own = user_id == user.account_id
    found = await service.profile(session, user_id, own=own)
    return (ProfileFull if own else ProfileLimited).model_validate(found)


routers = (
    auth,
    router,
    inventory.router,
    rewards.router,
    shop.router,
    fairness.router,
    slot.router,
    gacha.router,
    *(domain.router for domain in (actions, game_sessions, leaderboards, achievements)),
    responsible_play.router,
    unlock.router,
    admin.router,
    *(domain.router for domain in (segments, campaigns)),
    *(domain.router for domain in (vip, missions, feedback)),
    notifications.router,
)
