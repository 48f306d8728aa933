"""Stock fixtures: a small world of stores, users and products, and a token factory."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from ensemble.apps.stock import app as stock_app
from ensemble.apps.stock import service
from ensemble.apps.stock.auth import REALM, StoreAccess
from ensemble.apps.stock.catalog import service as catalog
from ensemble.apps.stock.inventory import service as inventory
from ensemble.apps.stock.models import Role, Store, TransactionType
from ensemble.apps.stock.schemas import (
    ProductCreate,
    StoreCreate,
    StorePublic,
    TransactionCreate,
    UserCreate,
)
from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.identity.cache import AuthCache
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.identity.tokens import TokenCodec
from ensemble.kernel.modules import AppModule
from ensemble.settings import Settings
from tests.authcache import live_auth_cache

PASSWORD = "correct-horse-battery"


@dataclass
class StockWorld:
    """Helpers that build data straight through the services and mint tokens."""

    database: Database
    codec: TokenCodec
    client: AsyncClient
    _actor: uuid.UUID | None = None

    def token(
        self,
        user_id: uuid.UUID,
        role: Role,
        stores: list[uuid.UUID],
        *,
        now: datetime | None = None,
        realm: str = REALM,
    ) -> str:
        claims = {"role": role.value, "stores": [str(s) for s in stores], "email": "x@example.com"}
        return self.codec.encode(
            typ="access",
            realm=realm,
            subject=user_id,
            jti=new_id(),
            now=now or utcnow(),
            session_id=new_id(),
            extra=claims,
        )

    def headers(self, user_id: uuid.UUID, role: Role, stores: list[uuid.UUID]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, role, stores)}"}

    async def store(self, name: str = "Main", allow_negative_stock: bool = False) -> uuid.UUID:
        async with self.database.unit_of_work() as session:
            store = await service.create_store(
                session, StoreCreate(name=name, allow_negative_stock=allow_negative_stock)
            )
            return store.id

    async def user(
        self,
        role: Role = Role.WORKER,
        stores: list[uuid.UUID] | None = None,
        email: str | None = None,
    ) -> uuid.UUID:
        async with self.database.unit_of_work() as session:
            view = await service.create_user(
                session,
                UserCreate(
                    email=email or f"{uuid.uuid4().hex[:10]}@example.com",
                    password=PASSWORD,
                    name="Test User",
                    role=role,
                    store_ids=stores or [],
                ),
            )
            return view.user.id

    async def live_auth_cache(self) -> AuthCache:
        """The client's auth cache once its listener is up (so requests go through it)."""
        return await live_auth_cache()

    async def admin_headers(self) -> dict[str, str]:
        return self.headers(await self.user(Role.ADMIN), Role.ADMIN, [])

    async def worker_headers(self, stores: list[uuid.UUID]) -> dict[str, str]:
        return self.headers(await self.user(Role.WORKER, stores), Role.WORKER, stores)

    async def actor(self) -> uuid.UUID:
        """An admin the helpers act as when they record stock movements."""
        if self._actor is None:
            self._actor = await self.user(Role.ADMIN)
        return self._actor

    async def product(
        self, store_id: uuid.UUID, barcode: str | None = None, stock: int = 0, **fields: Any
    ) -> uuid.UUID:
        actor = await self.actor()
        async with self.database.unit_of_work() as session:
            store = await session.get(Store, store_id)
            assert store is not None
            access = StoreAccess(
                StorePublic.model_validate(store), Principal(actor, REALM, Role.ADMIN.value, {})
            )
            data = ProductCreate(
                barcode=barcode or uuid.uuid4().hex[:12],
                name=fields.pop("name", "Product"),
                unit_price=fields.pop("unit_price", 1000),
                **fields,
            )
            view, _ = await catalog.create_product(session, access, data)
            if stock:
                movement = TransactionCreate(
                    product_id=view.product.id, type=TransactionType.IN, quantity=stock
                )
                await inventory.record_transaction(session, access, movement)
            return view.product.id


@pytest.fixture
def apps_written() -> list[AppModule]:
    """Stock's tests write Stock's tables (and the kernel's) alone."""
    return [stock_app]


@pytest.fixture
def world(database: Database, settings: Settings, stock_client: AsyncClient) -> StockWorld:
    codec = TokenCodec(
        secret=settings.signing_key(),
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        refresh_ttl=timedelta(days=settings.refresh_token_days),
    )
    return StockWorld(database=database, codec=codec, client=stock_client)
