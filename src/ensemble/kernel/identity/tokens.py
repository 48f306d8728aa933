"""JWT access and refresh tokens; the audience (`aud`) is the realm, so tokens never cross apps.

An access token names its session (`sid`: the refresh-token family it was issued in), so
revoking the session refuses the token at once (`revocation`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from ensemble.kernel.errors import Unauthorized

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]
_REQUIRED = ("exp", "iat", "sub", "jti", "aud", "typ")


@dataclass(frozen=True)
class TokenCodec:
    secret: str
    access_ttl: timedelta
    refresh_ttl: timedelta

    def encode(
        self,
        *,
        typ: TokenType,
        realm: str,
        subject: uuid.UUID,
        jti: uuid.UUID,
        now: datetime,
        session_id: uuid.UUID | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A signed token; an access token must name its `session_id`."""
        if (typ == "access") != (session_id is not None):
            raise ValueError("an access token, and only an access token, names its session")
        ttl = self.access_ttl if typ == "access" else self.refresh_ttl
        claims: dict[str, Any] = {
            **(extra or {}),
            **({"sid": str(session_id)} if session_id is not None else {}),
            "sub": str(subject),
            "aud": realm,
            "typ": typ,
            "jti": str(jti),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str, *, realm: str, typ: TokenType) -> dict[str, Any]:
        """Verified claims of a token of this realm and type, or 401 `invalid_token`."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=realm,
                options={"require": [*_REQUIRED, *(["sid"] if typ == "access" else [])]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is not valid.", code="invalid_token") from exc
        if claims.get("typ") != typ:
            raise Unauthorized("The token is not valid.", code="invalid_token")
        return claims


def claimed_id(claims: Mapping[str, Any], name: str) -> uuid.UUID:
    """The UUID in claim `name` of verified `claims` (`sub`, `jti`, `sid`), or 401."""
    try:
        return uuid.UUID(str(claims[name]))
    except (KeyError, ValueError) as exc:
        raise Unauthorized("The token is not valid.", code="invalid_token") from exc
