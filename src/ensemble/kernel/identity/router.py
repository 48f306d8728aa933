"""The auth routes of an own-account realm, built by each app (decision 18): `/auth/login`,
`/auth/refresh`, `/auth/logout`, and `/auth/signup` where users sign themselves up.

An app plugs in with hooks: `claims` (its token claims; it refuses accounts it disabled),
`signup` (its own row for a new account), `on_login` (work after a successful login),
`logout_by` (logout only by the session's own caller), `credentials` (how its users name
themselves at login: the email by default, Casino-Club's nickname) and `codec` (its tokens'
lifetimes: the kernel's by default)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity import service
from ensemble.kernel.identity.address import ClientAddress
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import Principal, PrincipalResolver, token_codec
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.identity.schemas import (
    Credentials,
    RefreshRequest,
    SignupRequest,
    TokenResponse,
    email_credentials,
)
from ensemble.kernel.identity.tokens import TokenCodec
from ensemble.kernel.openapi import error_responses

PublicT = TypeVar("PublicT", bound=BaseModel)
_INPUT = (422, "Invalid input (`validation_error`)")
_BAD_REFRESH = (401, "The refresh token is not valid, spent or revoked")


async def _no_store(response: Response) -> None:
    """A dependency marking a response that carries tokens as never to be cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


TOKEN_RESPONSE = [Depends(_no_store)]
"""`dependencies=` of every route that answers with tokens."""

CredentialsReader = Callable[..., Awaitable[Credentials]]
"""A dependency reading a login body into `Credentials` (`schemas.email_credentials`)."""
CodecReader = Callable[..., Awaitable[TokenCodec]]
"""A dependency answering the codec a realm's tokens are issued and read with."""


@dataclass(frozen=True)
class Signup(Generic[PublicT]):
    """`POST /auth/signup` (201, throttled per client address, 409 `email_taken`): the kernel
    creates the account, then `create` writes the app's own row for it and answers `public`."""

    public: type[PublicT]
    create: Callable[[AsyncSession, Account], Awaitable[PublicT]]
    path: str = "/signup"
    """Where the route lives under the router's prefix (Focus Mate's spec says `/register`)."""


def auth_router(
    realm: str,
    claims: service.ClaimsLoader,
    *,
    prefix: str = "/auth",
    signup: Signup[PublicT] | None = None,
    on_login: service.LoginHook | None = None,
    logout_by: PrincipalResolver | None = None,
    credentials: CredentialsReader = email_credentials,
    codec: CodecReader = token_codec,
) -> APIRouter:
    """The auth routes of `realm`; without `signup` there is no sign-up route (an admin
    creates the accounts, or the app has a route of its own), without `logout_by` a refresh
    token alone logs its session out."""
    router = APIRouter(prefix=prefix, tags=["auth"])
    if signup is not None:
        _add_signup(router, realm, signup)
    _add_login(router, realm, claims, on_login, credentials, codec)
    _add_refresh(router, realm, claims, codec)
    _add_logout(router, realm, logout_by, codec)
    return router


def _throttle(request: Request) -> service.ThrottlePolicy:
    return service.ThrottlePolicy.from_settings(request.state.settings)


def _add_signup(router: APIRouter, realm: str, signup: Signup[PublicT]) -> None:
    @router.post(
        signup.path,
        status_code=status.HTTP_201_CREATED,
        response_model=signup.public,
        responses=error_responses(
            _INPUT,
            (409, "The email has an account (`email_taken`)"),
            (429, "Too many sign-ups from this address (`signup_throttled`)"),
            described={},
        ),
    )
    async def sign_up(
        body: SignupRequest, request: Request, address: ClientAddress, session: SessionDep
    ) -> BaseModel:
        """Create an account (409 `email_taken` if the email has one); then log in."""
        await service.throttle_signup(
            session, realm=realm, client_address=address, throttle=_throttle(request)
        )
        account = await service.create_account(
            session, realm=realm, email=body.email, password=body.password
        )
        return await signup.create(session, account)


def _add_login(
    router: APIRouter,
    realm: str,
    claims: service.ClaimsLoader,
    on_login: service.LoginHook | None,
    read_credentials: CredentialsReader,
    read_codec: CodecReader,
) -> None:
    @router.post(
        "/login",
        responses=error_responses(
            _INPUT,
            (401, "Wrong credentials (`invalid_credentials`), or the account is disabled"),
            (429, "Too many failures for this account or address (`login_throttled`)"),
            described={},
        ),
        dependencies=TOKEN_RESPONSE,
    )
    async def login(
        credentials: Annotated[Credentials, Depends(read_credentials)],
        request: Request,
        address: ClientAddress,
        session: SessionDep,
        codec: Annotated[TokenCodec, Depends(read_codec)],
    ) -> TokenResponse:
        """Exchange credentials for an access and a refresh token."""
        pair = await service.login(
            session,
            realm=realm,
            email=credentials.login,
            password=credentials.password,
            client_address=address,
            codec=codec,
            claims=claims,
            throttle=_throttle(request),
        )
        if on_login is not None:
            user_agent = request.headers.get("user-agent")
            await on_login(session, service.Login(pair.account_id, address, user_agent))
        return TokenResponse.model_validate(pair)


def _add_refresh(
    router: APIRouter, realm: str, claims: service.ClaimsLoader, read_codec: CodecReader
) -> None:
    @router.post(
        "/refresh",
        responses=error_responses(_INPUT, _BAD_REFRESH, described={}),
        dependencies=TOKEN_RESPONSE,
    )
    async def refresh(
        body: RefreshRequest,
        session: SessionDep,
        codec: Annotated[TokenCodec, Depends(read_codec)],
        revocations: RevocationsDep,
    ) -> TokenResponse:
        """Rotate a refresh token: the old one is spent; re-using it revokes the session."""
        pair = await service.rotate(
            session,
            body.refresh_token,
            realm=realm,
            codec=codec,
            claims=claims,
            revocations=revocations,
        )
        return TokenResponse.model_validate(pair)


async def _anyone() -> None:
    """No caller needed: the refresh token is the credential."""


def _add_logout(
    router: APIRouter, realm: str, logout_by: PrincipalResolver | None, read_codec: CodecReader
) -> None:
    unauthorized = _BAD_REFRESH
    if logout_by is not None:
        unauthorized = (401, "No valid access token, or a refresh token not valid or not yours")

    @router.post(
        "/logout",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=error_responses(_INPUT, unauthorized, described={}),
    )
    async def logout(
        body: RefreshRequest,
        caller: Annotated[Principal | None, Depends(logout_by or _anyone)],
        session: SessionDep,
        codec: Annotated[TokenCodec, Depends(read_codec)],
        revocations: RevocationsDep,
    ) -> Response:
        """End this session: its refresh-token family and its access tokens, at once."""
        await service.logout(
            session,
            body.refresh_token,
            realm=realm,
            codec=codec,
            revocations=revocations,
            owner=caller.account_id if caller else None,
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)
