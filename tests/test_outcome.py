"""A command's outcome can be asked for by its id alone, over both transports."""

from __future__ import annotations

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub


async def _ask(client: HubClient, command_id: str) -> dict[str, object]:
    await client.send({"op": "outcome", "id": command_id})
    return await client.reply()


async def test_outcome_over_the_websocket(hub: RunningHub) -> None:
    """`outcome` answers the first ack of a command id, byte for byte the same result, and changes nothing."""
    waiter = await hub.client(Role.WAITER)
    first = await waiter.command("order.open", {"type": "TAKEAWAY"}, id="till-1-open")
    other = await hub.client(Role.WAITER, device="waiter-2")
    answer = await _ask(other, "till-1-open")
    assert answer == first
    orders = await waiter.command("order.open", {"type": "TAKEAWAY"}, id="till-1-second")
    assert orders["result"]["order"]["id"] != first["result"]["order"]["id"]


async def test_outcome_of_an_unknown_id(hub: RunningHub) -> None:
    """An id that never took effect gets NOT_FOUND (not retryable) naming the id; the socket stays usable."""
    waiter = await hub.client(Role.WAITER)
    answer = await _ask(waiter, "never-sent")
    assert answer["op"] == "error" and answer["code"] == ErrorCode.NOT_FOUND.value and answer["id"] == "never-sent"
    assert answer["retryable"] is False
    assert (await waiter.command("order.open", {"type": "TAKEAWAY"}))["op"] == "ack"


async def test_outcome_is_per_restaurant(hub: RunningHub) -> None:
    """Another restaurant's device asking for this restaurant's command id learns nothing (NOT_FOUND)."""
    waiter = await hub.client(Role.WAITER)
    await waiter.command("order.open", {"type": "TAKEAWAY"}, id="shared-id-1")
    stranger = await hub.client(Role.WAITER, rid="other-restaurant")
    answer = await _ask(stranger, "shared-id-1")
    assert answer["code"] == ErrorCode.NOT_FOUND.value


async def test_outcome_over_http(hub: RunningHub) -> None:
    """GET /api/v1/commands/{id} returns the first answer of a command sent with Idempotency-Key, 404 for others,
    400 for an id no command can have."""
    async with hub.http(Role.WAITER) as http:
        sent = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"}, headers={"Idempotency-Key": "http-open-1"})
        assert sent.status_code == 200
        asked = await http.get("/api/v1/commands/http-open-1")
        assert (asked.status_code, asked.json()) == (200, sent.json())
        missing = await http.get("/api/v1/commands/http-open-2")
        assert (missing.status_code, missing.json()["code"]) == (404, ErrorCode.NOT_FOUND.value)
        malformed = await http.get("/api/v1/commands/bad%20id")  # no command can have it, as on the WebSocket
        assert (malformed.status_code, malformed.json()["code"]) == (400, ErrorCode.INVALID_FRAME.value)
