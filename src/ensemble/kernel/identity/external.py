"""Tokens of an external identity provider (Supabase-style JWTs), verified, never issued.

The provider signs its access tokens either with a shared secret (HS256) or with keys it
publishes as a JWKS (RS256/ES256). A token's `alg` header picks the key source, and each
source only ever verifies its own algorithms, so a token cannot make us check an RS256
public key as an HMAC secret. Every failure is a 401: `token_expired` or `invalid_token`.

With no secret and no JWKS configured, a development secret derived from our signing key
is used, and `sign_dev_token` issues tokens with it so an app can be tried without the
provider.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from ensemble.kernel.errors import Unauthorized
from ensemble.settings import Settings

logger = logging.getLogger(__name__)

SECRET_ALGORITHMS = frozenset({"HS256"})
KEY_ALGORITHMS = frozenset({"RS256", "ES256"})
DEFAULT_AUDIENCE = "authenticated"
JWKS_FETCH_TIMEOUT_S = 5.0
_DEV_SECRET_LABEL = b"ensemble/external-identity/development-secret"


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the provider says the caller is: `(provider, subject)` is the stable key."""

    provider: str
    subject: str
    email: str | None
    claims: Mapping[str, Any]


def _invalid(message: str = "The token is not valid.") -> Unauthorized:
    return Unauthorized(message, code="invalid_token")


class _JwksFile:
    """Keys read once from a local JWKS JSON file."""

    def __init__(self, path: Path) -> None:
        self._keys = {key.key_id: key for key in PyJWKSet.from_json(path.read_text()).keys}

    def key(self, kid: str) -> PyJWK:
        found = self._keys.get(kid)
        if found is None:
            raise jwt.PyJWKClientError(f"no key with kid {kid!r}")
        return found

    def has_cached(self, kid: str) -> bool:
        return True


class _JwksUrl:
    """Keys fetched from a JWKS URL by PyJWT's client, which caches the set for `ttl` seconds
    and refetches on an unknown `kid` at most once per cooldown (so forged kids cannot make
    us hammer the provider)."""

    def __init__(self, url: str, ttl: float) -> None:
        self._client = PyJWKClient(url, lifespan=ttl, timeout=JWKS_FETCH_TIMEOUT_S)

    def key(self, kid: str) -> PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            logger.warning("the JWKS of the identity provider could not be fetched")
            raise

    def has_cached(self, kid: str) -> bool:
        """Whether `kid` resolves without a network fetch (so no thread is needed for it)."""
        cache = self._client.jwk_set_cache
        jwk_set = cache.get() if cache is not None else None
        return jwk_set is not None and any(key.key_id == kid for key in jwk_set.keys)


def _jwks_source(location: str, ttl: float) -> _JwksFile | _JwksUrl:
    if location.startswith(("http://", "https://")):
        return _JwksUrl(location, ttl)
    return _JwksFile(Path(location.removeprefix("file://")))


class ExternalTokenVerifier:
    """Verifies the provider's access tokens and returns the `ExternalIdentity` they carry."""

    def __init__(
        self,
        *,
        provider: str,
        secret: str | None = None,
        jwks: str | None = None,
        audience: str = DEFAULT_AUDIENCE,
        issuer: str | None = None,
        jwks_cache_seconds: float = 300.0,
        leeway_seconds: float = 0.0,
    ) -> None:
        if secret is None and jwks is None:
            raise ValueError("an external token verifier needs a secret, a JWKS, or both")
        self.provider = provider
        self._secret = secret
        self._jwks = _jwks_source(jwks, jwks_cache_seconds) if jwks else None
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> ExternalTokenVerifier:
        return cls(
            provider=settings.external_provider,
            secret=external_secret(settings),
            jwks=settings.external_jwks_url,
            audience=settings.external_jwt_audience,
            issuer=settings.external_jwt_issuer,
            jwks_cache_seconds=settings.external_jwks_cache_seconds,
        )

    def verify(self, token: str) -> ExternalIdentity:
        """The identity in `token`, or 401. May block on a JWKS fetch: in async code, use
        `verify_async`."""
        return self._verify(token, _header(token))

    async def verify_async(self, token: str) -> ExternalIdentity:
        """`verify` that never blocks the event loop: a JWKS fetch, if needed, runs in a thread."""
        header = _header(token)
        if self._needs_fetch(header):
            return await asyncio.to_thread(self._verify, token, header)
        return self._verify(token, header)

    def _needs_fetch(self, header: Mapping[str, Any]) -> bool:
        if self._jwks is None or header.get("alg") not in KEY_ALGORITHMS:
            return False
        return not self._jwks.has_cached(str(header.get("kid")))

    def _key(self, header: Mapping[str, Any]) -> str | PyJWK:
        algorithm = header.get("alg")
        if algorithm in SECRET_ALGORITHMS and self._secret is not None:
            return self._secret
        if algorithm in KEY_ALGORITHMS and self._jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise _invalid("The token names no signing key.")
            key = self._jwks.key(kid)
            if key.algorithm_name != algorithm:
                raise _invalid("The token's algorithm does not match its key.")
            return key
        raise _invalid("The token's signing algorithm is not accepted.")

    def _verify(self, token: str, header: Mapping[str, Any]) -> ExternalIdentity:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key(header),
                algorithms=[str(header["alg"])],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise _invalid() from exc
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> ExternalIdentity:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _invalid("The token names no subject.")
        email = claims.get("email")
        return ExternalIdentity(
            provider=self.provider,
            subject=subject,
            email=email if isinstance(email, str) and email else None,
            claims=MappingProxyType(claims),
        )


def _header(token: str) -> Mapping[str, Any]:
    try:
        header: dict[str, Any] = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _invalid() from exc
    return header


def external_secret(settings: Settings) -> str | None:
    """The HS256 secret: the configured one; none when only a JWKS is configured; otherwise a
    development secret derived (HMAC-SHA256) from our own signing key, stable per data dir."""
    if settings.external_jwt_secret is not None:
        return settings.external_jwt_secret.get_secret_value()
    if settings.external_jwks_url:
        return None
    if not settings.is_development:
        raise RuntimeError("set EXTERNAL_JWT_SECRET or EXTERNAL_JWKS_URL outside development")
    key = settings.signing_key().encode()
    return hmac.new(key, _DEV_SECRET_LABEL, hashlib.sha256).hexdigest()


def sign_dev_token(
    secret: str,
    sub: str,
    email: str | None,
    ttl: timedelta,
    *,
    audience: str = DEFAULT_AUDIENCE,
    issuer: str | None = None,
    now: datetime | None = None,
) -> str:
    """An HS256 token shaped like the provider's, for trying an app without the provider."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "aud": audience,
        "role": "authenticated",
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    if email is not None:
        claims["email"] = email
    if issuer is not None:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
