"""Casino-Club's request and response bodies (accounts, sessions, profiles), and the error
answers its routes document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from ensemble.apps.casino.domain import (
    INVITE_CODE_PATTERN,
    NICKNAME_LENGTH,
    NICKNAME_PATTERN,
    InviteRefusal,
    ItemKind,
    Rank,
)
from ensemble.kernel.identity.schemas import NEW_PASSWORD, TokenResponse
from ensemble.kernel.openapi import errors_described
from ensemble.kernel.schemas import ClosedRequestModel, RequestModel, ResponseModel

PREFIX = "/api"
"""Where every route of the app lives (the spec's paths are `/api/...`)."""

_DESCRIBED = {
    401: "No valid access token (missing, expired, revoked or forged), or the account is"
    " disabled (`account_disabled`)",
    403: "Your rank is below the route's (`rank_forbidden`)",
    404: "No such item (`user_not_found`, `session_not_found`, …)",
    409: "Conflicts with the current state (see `code`)",
    422: "Invalid input (`validation_error`)",
}
USER = (401,)
INPUT = (401, 422)
OWNED = (401, 404, 422)
"""The usual error statuses of a route: any caller's, with input, about an item of theirs."""

errors = errors_described(_DESCRIBED)
"""`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""

NICKNAME = Field(
    min_length=NICKNAME_LENGTH[0], max_length=NICKNAME_LENGTH[1], pattern=NICKNAME_PATTERN
)
INVITE_CODE = Field(pattern=INVITE_CODE_PATTERN, examples=["5858"])


# accounts


class SignupRequest(ClosedRequestModel):
    invite_code: str = INVITE_CODE
    nickname: str = NICKNAME
    password: str = NEW_PASSWORD


class NicknameLogin(RequestModel):
    """`POST /api/auth/login`: a nickname (any case) and its password."""

    nickname: str = NICKNAME
    password: str = Field(min_length=1, max_length=1024)


class InviteCheck(ResponseModel):
    valid: bool
    infinite: bool = Field(description="The forever code: valid for everyone, never consumed")
    reason: InviteRefusal | None = Field(description="Why it is not valid (null when it is)")


class Wallet(ResponseModel):
    coins: int
    gems: int


class MePublic(Wallet):
    """The caller's own account."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    nickname: str
    rank: Rank
    vip_tier: int
    created_at: datetime
    last_login_at: datetime | None


class SignupResponse(TokenResponse):
    """The new member's first tokens (it is logged in) and its account."""

    user: MePublic


class SessionPublic(ResponseModel):
    """One of your sessions (a login, and the refreshes that followed it)."""

    session_id: uuid.UUID
    started_at: datetime
    refreshed_at: datetime = Field(description="The last login or refresh")
    expires_at: datetime = Field(description="When it ends unless refreshed again")
    current: bool = Field(description="The session of the token you called with")


# profiles


class PublicStats(ResponseModel):
    """What anyone may see of a member's play (the games, A7, keep these counts)."""

    games_played: int = 0
    wins: int = 0


class ProfileLimited(ResponseModel):
    """What other members see."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    nickname: str
    rank: Rank
    stats: PublicStats
    is_own_profile: Literal[False] = False


class ProfileFull(Wallet):
    """What you see of yourself."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    nickname: str
    rank: Rank
    vip_tier: int
    streak: int = Field(description="Consecutive days with a login (A5)")
    stats: PublicStats
    achievements: list[str] = Field(description="Unlocked achievements' keys (A7)")
    is_own_profile: Literal[True] = True


# inventory


class InventoryItem(ResponseModel):
    """An item you hold."""

    item_id: str
    name: str
    kind: ItemKind
    tier: str | None = Field(description="The gacha tier of a collectible (SSR, SR, R, N)")
    description: str
    quantity: int
    acquired_at: datetime = Field(description="When you first got one")


class InventoryPublic(ResponseModel):
    items: list[InventoryItem]
    shards: int = Field(description="What duplicate gacha pulls turned into")
