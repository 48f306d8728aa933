"""What authenticating a request reads, kept in each process, with the database telling
every process when it goes stale (decision 22).

Resolving a caller costs a signature check, a revocation check and the app's reads (the
live role, a store grant): more CPU than most endpoints' own work. Each API process keeps:

- callers by token, per realm: the principal an app's loader made of a verified token (the
  token's expiry is checked on every hit);
- revoked sessions: the ids of sessions revoked within an access token's lifetime;
- grants, per realm: whatever else an app derives from its tables to admit a caller.

The database is the clock. Triggers (migration 0012) NOTIFY `ensemble_auth` when a commit
changes what those entries were read from: `revoked:<session id>` when a session is revoked,
`<realm>` when a realm's principal or grant tables change; every process listens and forgets.
The process that commits such a change through the ORM forgets at once, before its response
is sent (`watch_tables`), so its own next request never sees the old value; other processes
forget when the notification arrives, which PostgreSQL sends at commit, before the writer's
response leaves. While the listener is down the cache is off: every request reads the
database and Redis as it would without it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import FromClause, TextClause, event
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, UOWTransaction
from starlette.requests import HTTPConnection

from ensemble.kernel.errors import Unauthorized
from ensemble.kernel.identity.models import SCHEMA, RefreshToken
from ensemble.kernel.identity.tokens import claimed_id

logger = logging.getLogger(__name__)

CHANNEL = "ensemble_auth"
REVOKED = "revoked:"
MAX_ENTRIES = 50_000
RECONNECT_DELAY_S = 1.0
LISTENER_NAME = "ensemble auth cache"
"""The listener's `application_name`, as `pg_stat_activity` shows it."""
T = TypeVar("T")


class SessionRevoked(Unauthorized):
    code = "session_revoked"
    message = "This session has been revoked."


class _Bounded(OrderedDict[Hashable, Any]):
    """A dict that forgets its oldest entries past `MAX_ENTRIES`."""

    def put(self, key: Hashable, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_ENTRIES:
            self.popitem(last=False)


class AuthCache:
    """One process's cache of callers, revoked sessions and grants (see the module)."""

    def __init__(self, access_ttl: timedelta) -> None:
        self.access_ttl = access_ttl
        self.live = False
        self._callers: dict[str, _Bounded] = {}
        self._grants: dict[str, _Bounded] = {}
        self._generation: dict[str, int] = {}
        self._revoked: dict[uuid.UUID, float] = {}
        _PROCESS_CACHES.add(self)

    # reading

    def caller(self, realm: str, token: str) -> Any | None:
        """The principal cached for `token` in `realm`, if live, unexpired and of a session
        not revoked (a revoked one raises `SessionRevoked`)."""
        if not self.live:
            return None
        callers = self._callers.get(realm)
        entry = callers.get(token) if callers is not None else None
        if entry is None:
            return None
        principal, expires_at, session_id = entry
        if time.time() >= expires_at:
            return None
        if session_id in self._revoked:
            raise SessionRevoked()
        return principal

    def remember_caller(
        self, realm: str, token: str, principal: Any, claims: Mapping[str, Any], generation: int
    ) -> None:
        """Keep `principal` for `token` until the token expires (`exp`; a token without one
        is not kept), unless the realm changed since `generation`. A token naming its
        session (`sid`) is refused once the session is revoked."""
        if "exp" not in claims:
            return
        session_id = claimed_id(claims, "sid") if "sid" in claims else None
        entry = (principal, float(claims["exp"]), session_id)
        self._keep(self._callers, realm, token, entry, generation)

    def is_revoked(self, session_id: uuid.UUID) -> bool | None:
        """Whether the session is revoked; None while the cache is off (ask the source)."""
        if not self.live:
            return None
        return session_id in self._revoked

    def generation(self, realm: str) -> int:
        """A stamp to take before loading a value of `realm`: a value loaded while the
        realm changed is not kept."""
        return self._generation.get(realm, 0)

    async def grant(self, realm: str, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The grant cached under `key` in `realm`, else `load()` (kept if nothing changed
        meanwhile). An error of `load` is raised and nothing is kept."""
        grants = self._grants.get(realm)
        if self.live and grants is not None and (found := grants.get(key)) is not None:
            return found  # type: ignore[no-any-return]
        generation = self.generation(realm)
        value = await load()
        self._keep(self._grants, realm, key, value, generation)
        return value

    def _keep(
        self, store: dict[str, _Bounded], realm: str, key: Hashable, value: Any, generation: int
    ) -> None:
        """Keep `value` under `key` in `realm`, unless the cache is off or the realm changed
        since `generation` (the value may have been read before the change)."""
        if self.live and self.generation(realm) == generation:
            store.setdefault(realm, _Bounded()).put(key, value)

    # forgetting

    def forget(self, realm: str) -> None:
        """Drop every caller and grant of `realm` (its tables changed)."""
        self._generation[realm] = self._generation.get(realm, 0) + 1
        self._callers.pop(realm, None)
        self._grants.pop(realm, None)

    def revoke(self, sessions: Iterable[uuid.UUID]) -> None:
        expires = time.monotonic() + self.access_ttl.total_seconds()
        for session_id in sessions:
            self._revoked[session_id] = expires
        now = time.monotonic()
        for session_id in [s for s, until in self._revoked.items() if until < now]:
            del self._revoked[session_id]

    def notified(self, payload: str) -> None:
        """Apply one `ensemble_auth` notification."""
        if payload.startswith(REVOKED):
            try:
                self.revoke([uuid.UUID(payload.removeprefix(REVOKED))])
            except ValueError:
                logger.warning("ignored a malformed revocation notice %r", payload)
        else:
            self.forget(payload)

    def realms(self) -> set[str]:
        """Every realm the cache holds or has held entries of, and every watched realm."""
        watched = {realm for realms in _WATCHED.values() for realm in realms}
        return {*self._generation, *self._callers, *self._grants, *watched}

    def _off(self) -> None:
        self.live = False
        for realm in self.realms():
            self.forget(realm)
        self._revoked.clear()

    # listening

    async def listen(self, dsn: str) -> None:
        """Keep the cache on while a LISTEN connection is up; off (and empty) while not.
        Runs until cancelled."""
        while True:
            try:
                await self._listen_once(dsn)
            except asyncio.CancelledError:
                self._off()
                raise
            except Exception:  # any failure only turns the cache off until it reconnects
                logger.warning(
                    "auth cache off: its listener lost the database; reconnecting", exc_info=True
                )
            self._off()
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _listen_once(self, dsn: str) -> None:
        connection = await asyncpg.connect(dsn, server_settings={"application_name": LISTENER_NAME})
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda *_: lost.set())
            await connection.add_listener(CHANNEL, lambda *args: self.notified(args[-1]))
            self.revoke(await _recently_revoked(connection, self.access_ttl))
            self.live = True
            await lost.wait()
        finally:
            self.live = False
            if not connection.is_closed():
                await connection.close(timeout=2)


async def _recently_revoked(connection: asyncpg.Connection, ttl: timedelta) -> list[uuid.UUID]:
    """Sessions revoked within an access token's lifetime (older ones have no live token)."""
    rows = await connection.fetch(
        f"SELECT DISTINCT family_id FROM {SCHEMA}.{RefreshToken.__tablename__}"
        " WHERE revoked_at > now() - $1::interval",
        ttl,
    )
    return [row["family_id"] for row in rows]


_PROCESS_CACHES: weakref.WeakSet[AuthCache] = weakref.WeakSet()
_WATCHED: dict[FromClause, set[str]] = {}
_CHANGED = "ensemble.auth_changed"
_REVOKED_HERE = "ensemble.sessions_revoked"
EVERY_REALM = "*"
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|TRUNCATE|MERGE)\b", re.IGNORECASE)
"""A textual statement that writes (its tables are not known to the ORM)."""


def process_caches() -> list[AuthCache]:
    """The auth caches of this process (one per running API application)."""
    return list(_PROCESS_CACHES)


def auth_cache(connection: HTTPConnection) -> AuthCache | None:
    """The cache of the process serving `connection` (None in an app run without it)."""
    cache = getattr(connection.state, "auth_cache", None)
    return cache if isinstance(cache, AuthCache) else None


def watch_tables(realm: str, models: Iterable[type[DeclarativeBase]]) -> None:
    """Declare that `realm`'s callers and grants are read from the tables of `models`: a
    commit in this process that changed them through the ORM forgets the realm here before
    it returns (other processes learn it from the triggers of migration 0012)."""
    for model in models:
        _WATCHED.setdefault(model.__table__, set()).add(realm)


def revoke_on_commit(session: Session, sessions: Iterable[uuid.UUID]) -> None:
    """Have this process refuse `sessions` the moment `session` commits their revocation."""
    session.info.setdefault(_REVOKED_HERE, set()).update(sessions)


def _touched(tables: Iterable[Any]) -> set[str]:
    return {realm for table in tables for realm in _WATCHED.get(table, ())}


def _mark(session: Session, realms: set[str]) -> None:
    if realms:
        session.info.setdefault(_CHANGED, set()).update(realms)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _: UOWTransaction) -> None:
    changed = [*session.new, *session.dirty, *session.deleted]
    _mark(session, _touched(t for obj in changed for t in _tables_of(obj)))


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        if _WRITES.match(statement.text):  # which tables is not known: every realm
            _mark(state.session, {EVERY_REALM})
    elif state.is_update or state.is_delete or state.is_insert:
        _mark(state.session, _touched([getattr(statement, "table", None)]))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    realms, revoked = session.info.pop(_CHANGED, ()), session.info.pop(_REVOKED_HERE, ())
    for cache in process_caches():
        cache.revoke(revoked)
        for realm in cache.realms() if EVERY_REALM in realms else realms:
            cache.forget(realm)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
    session.info.pop(_REVOKED_HERE, None)


def _tables_of(obj: object) -> Iterable[Any]:
    mapper: Mapping[str, Any] | Any = getattr(type(obj), "__mapper__", None)
    return getattr(mapper, "tables", ())
