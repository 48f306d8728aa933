"""JWT access and refresh tokens; the audience (`aud`) is the realm, so tokens never cross apps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from ensemble.kernel.errors import Unauthorized

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]


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
        extra: dict[str, Any] | None = None,
    ) -> str:
        ttl = self.access_ttl if typ == "access" else self.refresh_ttl
        claims: dict[str, Any] = {
            **(extra or {}),
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
                options={"require": ["exp", "iat", "sub", "jti", "aud", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is not valid.", code="invalid_token") from exc
        if claims.get("typ") != typ:
            raise Unauthorized("The token is not valid.", code="invalid_token")
        return claims
