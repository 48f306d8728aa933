"""ECO² recycling-centre routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ensemble.apps.eco.auth import CurrentUser
from ensemble.apps.eco.locations import service
from ensemble.apps.eco.schemas import INPUT, PREFIX, CentrePublic, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.schemas import Extended, IntegerLiteral

router = APIRouter(prefix=PREFIX, tags=["locations"])


@router.get("/locations/nearby", responses=errors(*INPUT))
async def nearby(
    _: CurrentUser,
    session: SessionDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float, Query(gt=0, le=50)] = 3.0,
    limit: Annotated[int, Query(ge=1, le=100), IntegerLiteral] = 20,
) -> list[CentrePublic]:
    """Recycling centres within `radius_km`, nearest first."""
    rows = await service.nearby(session, lat=lat, lng=lng, radius_km=radius_km, limit=limit)
    return [
        CentrePublic.model_validate(Extended(found, distance_km=round(distance, 3)))
        for found, distance in rows
    ]
