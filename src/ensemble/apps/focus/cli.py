"""`ensemble focus …` admin commands: the first admin, demo data."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus import service
from ensemble.apps.focus.auth import REALM
from ensemble.apps.focus.domain import COMPLETED_SHARE, Durations, Phase, TimerState
from ensemble.apps.focus.models import SCHEMA, Control, Role, Visibility
from ensemble.kernel.console import (
    NOT_GIVEN,
    AdminEmail,
    AdminPassword,
    Connection,
    bulk_load,
    chunked,
    copy_rows,
    in_unit_of_work,
)
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.identity.passwords import hash_password

cli = typer.Typer(help="Focus Mate administration.", no_args_is_help=True)
console = Console()


@cli.command("create-admin")
def create_admin(email: AdminEmail, password: AdminPassword = NOT_GIVEN) -> None:
    """Create an ADMIN account (there is no open endpoint for it)."""

    async def create(session: AsyncSession) -> str:
        account, _ = await service.sign_up(session, email=email, password=password, role=Role.ADMIN)
        return str(account.id)

    console.print(f"admin {email} created with id {in_unit_of_work(create)}")


@cli.command("seed")
def seed_command(
    users: Annotated[int, typer.Option(min=1, help="Users to create")] = 100,
    rooms: Annotated[int, typer.Option(min=0, help="Rooms to create")] = 10,
    history_days: Annotated[
        int, typer.Option(min=0, help="Days of past focus sessions per user (stats, streaks)")
    ] = 14,
    password: Annotated[
        str, typer.Option(help="The password of every demo user", show_default=False)
    ] = "focus-demo-password",
) -> None:
    """Bulk-load demo users, rooms with members and past sessions (COPY); prints how to log in."""
    plan = SeedPlan(users=users, rooms=rooms, history_days=history_days, password=password)
    result = bulk_load(
        console,
        "rows",
        plan.rows_expected,
        lambda connection, advance: seed(connection, plan, advance),
    )
    console.print(
        f"{result.users} users (e.g. {result.first_email}, password {plan.password!r}),"
        f" {result.rooms} rooms, {result.sessions} past sessions"
    )


# The bulk seed

CHUNK = 10_000
ROOM_NAMES = ("Deep work", "Thesis sprint", "Morning pages", "Code kata", "Exam prep")


@dataclass(frozen=True)
class SeedPlan:
    users: int
    rooms: int
    history_days: int = 14
    password: str = "focus-demo-password"
    seed: int = 7

    @property
    def rows_expected(self) -> int:
        """Roughly what the progress bar counts: users, rooms and members, sessions."""
        return self.users + self.rooms * 6 + self.users * self.history_days * 2


@dataclass(frozen=True)
class SeedResult:
    users: int
    rooms: int
    sessions: int
    first_email: str


async def seed(
    connection: Connection, plan: SeedPlan, advance: Callable[[int], None]
) -> SeedResult:
    """Load `plan` through a raw asyncpg connection of its own, a transaction per chunk;
    `advance(n)` reports rows written. Every user shares one password hash (hashing is the
    slow part of making an account)."""
    rng = random.Random(plan.seed)
    now = utcnow()
    run = uuid.uuid4().hex[:6]  # seeding twice adds new users, never collides
    password_hash = await hash_password(plan.password)
    user_ids = [new_id() for _ in range(plan.users)]
    emails = [f"demo{index + 1}-{run}@focus.example" for index in range(plan.users)]
    for rows in chunked(list(zip(user_ids, emails, strict=True)), CHUNK):
        async with connection.transaction():
            await _copy_users(connection, rows, password_hash, now)
        advance(len(rows))
    memberships = _memberships(rng, user_ids, plan.rooms)
    async with connection.transaction():
        await _copy_rooms(connection, rng, memberships, now)
    advance(plan.rooms + sum(len(members) for members in memberships.values()))
    sessions = 0
    for rows in chunked(list(_past_sessions(rng, memberships, plan.history_days, now)), CHUNK):
        async with connection.transaction():
            await _copy(connection, "focus_sessions", SESSION_COLUMNS, rows)
        sessions += len(rows)
        advance(len(rows))
    await connection.execute("ANALYZE focus.focus_sessions")
    return SeedResult(plan.users, plan.rooms, sessions, emails[0] if emails else "")


async def _copy_users(
    connection: Connection,
    rows: Sequence[tuple[uuid.UUID, str]],
    password_hash: str,
    now: datetime,
) -> None:
    accounts = [(uid, REALM, email, password_hash, True, now) for uid, email in rows]
    columns = ("id", "realm", "email", "password_hash", "is_active", "created_at")
    await copy_rows(connection, "identity", "accounts", columns, accounts)
    users = [
        (uid, service.default_display_name(email), Role.USER.value, now) for uid, email in rows
    ]
    await _copy(connection, "users", ("account_id", "display_name", "role", "created_at"), users)
    defaults = Durations()
    settings = [
        (uid, "UTC", defaults.work_minutes, defaults.break_minutes, defaults.long_break_minutes,
         True, True, "{}", now)
        for uid, _ in rows
    ]  # fmt: skip
    await _copy(connection, "user_settings", SETTINGS_COLUMNS, settings)


def _memberships(
    rng: random.Random, user_ids: list[uuid.UUID], rooms: int
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each room's members, its owner first: 2 to 10 users (fewer if there are fewer)."""
    plan: dict[uuid.UUID, list[uuid.UUID]] = {}
    for _ in range(rooms):
        size = min(len(user_ids), rng.randint(2, 10))
        plan[new_id()] = rng.sample(user_ids, size)
    return plan


async def _copy_rooms(
    connection: Connection,
    rng: random.Random,
    memberships: dict[uuid.UUID, list[uuid.UUID]],
    now: datetime,
) -> None:
    defaults = Durations()
    rooms, timers, members = [], [], []
    for index, (room_id, room_members) in enumerate(memberships.items()):
        private = rng.random() < 0.2
        rooms.append(
            (room_id, room_members[0], f"{ROOM_NAMES[index % len(ROOM_NAMES)]} {index + 1}",
             defaults.work_minutes, defaults.break_minutes, defaults.long_break_minutes,
             defaults.long_break_every, 50, len(room_members),
             (Visibility.PRIVATE if private else Visibility.PUBLIC).value,
             uuid.uuid4().hex[:8] if private else None, Control.OWNER.value,
             defaults.auto_start_breaks, now, now, now)
        )  # fmt: skip
        timers.append((room_id, TimerState.IDLE.value, Phase.WORK.value, 0, 0, now))
        members += [(room_id, user_id, now) for user_id in room_members]
    await _copy(connection, "rooms", ROOM_COLUMNS, rooms)
    timer_columns = ("room_id", "state", "phase", "completed_work_phases", "version", "updated_at")
    await _copy(connection, "timers", timer_columns, timers)
    await _copy(connection, "room_members", ("room_id", "user_id", "joined_at"), members)


SETTINGS_COLUMNS = (
    "account_id", "timezone", "work_minutes", "break_minutes", "long_break_minutes", "sound",
    "presence_visible", "notifications", "updated_at",
)  # fmt: skip
ROOM_COLUMNS = (
    "id", "owner_id", "name", "work_minutes", "break_minutes", "long_break_minutes",
    "long_break_every", "max_participants", "member_count", "visibility", "join_code",
    "control", "auto_start_breaks", "created_at", "updated_at", "last_active_at",
)  # fmt: skip
SESSION_COLUMNS = (
    "id", "user_id", "room_id", "started_at", "ended_at", "focus_seconds", "completed",
    "interrupted_reason", "created_at",
)  # fmt: skip


def _past_sessions(
    rng: random.Random,
    memberships: dict[uuid.UUID, list[uuid.UUID]],
    days: int,
    now: datetime,
) -> Iterator[tuple[Any, ...]]:
    """0–3 work sessions a day for each member of a room, in one of their rooms, at a random
    hour; about one in six is cut short."""
    rooms_of: dict[uuid.UUID, list[uuid.UUID]] = {}
    for room_id, members in memberships.items():
        for user_id in members:
            rooms_of.setdefault(user_id, []).append(room_id)
    length = Durations().of(Phase.WORK)
    for user_id, rooms in rooms_of.items():
        for day in range(1, days + 1):
            for _ in range(rng.randint(0, 3)):
                started = now - timedelta(days=day, hours=rng.randint(0, 23))
                present = length if rng.random() > 1 / 6 else length * rng.uniform(0.2, 0.7)
                completed = present >= length * COMPLETED_SHARE
                yield (
                    new_id(), user_id, rng.choice(rooms), started, started + length,
                    int(present.total_seconds()), completed, None if completed else "left",
                    started + length,
                )  # fmt: skip


async def _copy(
    connection: Connection, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    await copy_rows(connection, SCHEMA, table, columns, rows)
