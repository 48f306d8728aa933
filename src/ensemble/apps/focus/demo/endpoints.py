"""The example client: one static page that joins a room, syncs its clock and shows the
countdown and the clock time the phase ends (`/demo`, combined: `/focus/demo`)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@cache
def _page() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


@router.get("/demo", response_class=HTMLResponse)
async def demo() -> HTMLResponse:
    return HTMLResponse(_page())
