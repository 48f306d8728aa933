from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from ensemble.kernel.schemas import RequestModel, ResponseModel


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


@dataclass(frozen=True)
class Credentials:
    """What a login names: the account's login (its `email` column) and a password."""

    login: str
    password: str


async def email_credentials(body: LoginRequest) -> Credentials:
    """The login body of most realms: `{email, password}` (a dependency of `/auth/login`)."""
    return Credentials(body.email, body.password)


NEW_PASSWORD = Field(min_length=8, max_length=128)
"""The bounds of a password being chosen (sign-up, change)."""


class SignupRequest(RequestModel):
    """A new account of the realm: strict types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")

    email: EmailStr = Field(max_length=320)
    password: str = NEW_PASSWORD


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenResponse(ResponseModel):  # validated from a `TokenPair`
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
