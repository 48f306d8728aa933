"""`create_app`: the ASGI application serving one app alone or all of them under prefixes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from pydantic_settings import BaseSettings
from starlette.types import ASGIApp, Receive, Scope, Send

from ensemble.kernel.db import Database
from ensemble.kernel.db.raw import asyncpg_dsn
from ensemble.kernel.direct import DirectRoutes
from ensemble.kernel.edge import EdgeMiddleware
from ensemble.kernel.errors import install_error_handlers
from ensemble.kernel.identity.cache import AuthCache
from ensemble.kernel.modules import AppModule, resources_of, warmers_of
from ensemble.kernel.observability.context import current_request_context
from ensemble.kernel.observability.health import router as health_router
from ensemble.kernel.realtime import Hub
from ensemble.kernel.redis import process_redis
from ensemble.kernel.resources import Process, open_resources
from ensemble.kernel.warmup import (
    CONNECTIONS,
    freeze_startup_objects,
    load_event_loop_backend,
    open_connections,
    prepare_routes,
    run_warmers,
)
from ensemble.settings import Settings


class _TagApp:
    """Marks the request context with the app that serves it (for logs and metrics).

    Added as the mounted app's own middleware, not wrapped around it, so the mount still
    shows the app's routes and `url_for` finds them from the root in both modes."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app, self.name = app, name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        current_request_context().app = self.name
        await self.app(scope, receive, send)


def _module_app(module: AppModule, **kwargs: Any) -> FastAPI:
    """The app's own application; its `/docs` and `/redoc` load Swagger UI and ReDoc from
    assets shipped in the `fastapi-offline` package (no CDN: they work offline)."""
    app = FastAPIOffline(
        title=module.title,
        description=module.description,
        openapi_tags=list(module.tags) or None,
        **kwargs,
    )
    for router in module.routers:
        app.router.routes.extend(router.routes)
    if module.direct_routes:
        app.add_middleware(DirectRoutes, routes=module.direct_routes)
    install_error_handlers(app)  # its catch-all wraps the direct routes too
    return app


def _lifespan(
    settings: Settings,
    database: Database | None,
    modules: Sequence[AppModule],
    app_settings: Mapping[str, BaseSettings] | None,
) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        owned = database is None
        if settings.database_url is None:
            raise RuntimeError("settings.database_url must be resolved before serving")
        db = database or Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pre_ping=settings.db_pool_pre_ping,
        )
        hub = Hub.from_settings(settings) if settings.redis_url else None
        redis = process_redis(settings.redis_url, settings) if settings.redis_url else None
        if hub is not None:
            await hub.start()
        prepare_routes(app)
        run_warmers(warmers_of(modules))
        await load_event_loop_backend()
        await open_connections(db, min(CONNECTIONS, settings.db_pool_size))
        if redis is not None:
            await redis.ping()
        freeze_startup_objects()
        cache = AuthCache(timedelta(minutes=settings.access_token_minutes))
        listener = asyncio.create_task(cache.listen(asyncpg_dsn(settings.database_url)))
        try:
            async with open_resources(
                resources_of(modules), Process(settings, redis), app_settings
            ) as resources:
                yield {
                    "database": db,
                    "settings": settings,
                    "hub": hub,
                    "redis": redis,
                    "resources": resources,
                    "auth_cache": cache,
                }
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener
            if hub is not None:
                await hub.stop()
            if redis is not None:
                await redis.aclose()
            if owned:
                await db.dispose()

    return lifespan


def create_app(
    modules: Sequence[AppModule],
    settings: Settings,
    *,
    database: Database | None = None,
    alone: bool = False,
    app_settings: Mapping[str, BaseSettings] | None = None,
) -> FastAPI:
    """All `modules` under `/<name>`, or with `alone=True` the single module at the root;
    `app_settings` replaces apps' settings read from the environment (by app name)."""
    lifespan = _lifespan(settings, database, modules, app_settings)
    if alone:
        if len(modules) != 1:
            raise ValueError("alone=True serves exactly one app")
        root = _module_app(modules[0], lifespan=lifespan)
        app_name: str | None = modules[0].name
    else:
        root = FastAPI(
            title="ensemble", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
        )
        install_error_handlers(root)
        for module in modules:
            mounted = _module_app(module)
            mounted.add_middleware(_TagApp, name=module.name)
            root.mount(f"/{module.name}", mounted)
        _add_index(root, modules)
        app_name = None
    root.include_router(health_router)
    root.add_middleware(
        EdgeMiddleware,
        app_name=app_name,
        max_body_bytes=settings.max_body_bytes,
        cors={
            "allow_origins": settings.cors_origins,
            "allow_credentials": True,
            "allow_methods": ["*"],
            "allow_headers": ["*"],
            "expose_headers": ["X-Request-ID", "traceparent"],
        },
    )
    return root


def _add_index(root: FastAPI, modules: Sequence[AppModule]) -> None:
    apps = {m.name: {"title": m.title, "docs": f"/{m.name}/docs"} for m in modules}

    @root.get("/", include_in_schema=False)
    async def index() -> dict[str, Any]:
        return {"service": "ensemble", "apps": apps}


def app_from_environment() -> FastAPI:
    """The application as `ensemble serve` configured it through the environment (each HTTP
    worker process builds its own; used when `WEB_WORKERS` > 1)."""
    from ensemble.apps import load_app, load_apps
    from ensemble.kernel.observability.logging import configure_logging
    from ensemble.kernel.observability.tracing import configure_tracing
    from ensemble.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    configure_tracing(settings, "api")
    name = settings.serve_app or None
    modules = [load_app(name)] if name else load_apps()
    return create_app(modules, settings, alone=name is not None)
