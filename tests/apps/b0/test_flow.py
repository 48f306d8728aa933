"""The B0 journey through HTTP: sign up, buy a ticket, arrive, stay, chat history, leave."""

from __future__ import annotations

import uuid

from ensemble.apps.b0.domain import SIGN_UP_BONUS
from ensemble.apps.b0.travel import service as travel
from tests.apps.b0.conftest import B0World


async def test_sign_up_buy_arrive_stay_and_leave(b0: B0World) -> None:
    city = await b0.city(cost=200, hours=2)
    airship = await b0.airship(cost_factor="1.5")
    alice = await b0.traveller()
    me = (await b0.client.get("/api/v1/users/me", headers=alice.headers)).json()
    assert me["current_points"] == SIGN_UP_BONUS

    bought = await b0.buy(alice, city, airship)
    assert bought.status_code == 201, bought.text
    ticket = bought.json()
    assert (ticket["status"], ticket["cost_points"]) == ("BOARDING", 300)
    assert ticket["city_snapshot"]["name"] == "Testville"
    me = (await b0.client.get("/api/v1/users/me", headers=alice.headers)).json()
    assert me["current_points"] == SIGN_UP_BONUS - 300

    await b0.land(ticket["ticket_id"])
    async with b0.database.unit_of_work() as session:
        arrival = await travel.arrive(session, uuid.UUID(ticket["ticket_id"]))
        assert arrival.stay is not None
    stay = (await b0.client.get("/api/v1/room-stays/current", headers=alice.headers)).json()
    assert stay["status"] == "CHECKED_IN"
    assert stay["room"]["current_occupancy"] == 1
    room = stay["room"]["room_id"]
    members = (await b0.client.get(f"/api/v1/rooms/{room}/members", headers=alice.headers)).json()
    assert [m["user_id"] for m in members["items"]] == [str(alice.user_id)]
    history = (await b0.client.get(f"/api/v1/rooms/{room}/messages", headers=alice.headers)).json()
    assert [m["message_type"] for m in history["items"]] == ["SYSTEM"]

    left = await b0.client.post("/api/v1/room-stays/current/check-out", headers=alice.headers)
    assert left.json()["status"] == "CHECKED_OUT"
    assert left.json()["room"]["current_occupancy"] == 0
    points = (await b0.client.get("/api/v1/points/transactions", headers=alice.headers)).json()
    assert [(p["reason"], p["type"]) for p in points["items"]] == [
        ("TICKET", "SPEND"),
        ("SIGN_UP", "EARN"),
    ]
