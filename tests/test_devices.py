"""Devices without pasted tokens: pairing codes, JWT tokens with a key id, revocation on every node at once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import time

import httpx
import jwt
import orjson
import pytest
from redis.asyncio import Redis

from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.transports.limits import Buckets
from fireflow.hub.transports.tokens import key_id, mint, read
from fireflow.schema.protocol import CloseCode, ErrorCode
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for


def test_a_token_is_a_jwt_naming_its_key_and_old_keys_still_verify_while_rotating() -> None:
    """HS256 with ``kid``; a token of a former secret verifies when that secret is listed; an unknown key does not."""
    old = mint("old-secret", "r1", Role.KITCHEN, device="kds-1", stations=("grill",), generation=2)
    header = jwt.get_unverified_header(old)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": key_id("old-secret")}
    claims = read(["new-secret", "old-secret"], old)
    assert (claims.actor.restaurant_id, claims.actor.role, claims.actor.stations, claims.generation) == (
        "r1",
        Role.KITCHEN,
        ("grill",),
        2,
    )
    with pytest.raises(DomainError) as err:
        read(["new-secret"], old)
    assert err.value.code is ErrorCode.UNAUTHENTICATED and "key this hub does not have" in err.value.message
    guess = "a guessed key, long enough for HS256 .."
    forged = jwt.encode({"iss": "fireflow", "sub": "x", "rid": "r1", "role": "MANAGER", "exp": 2**40}, guess)
    forged_with_kid = jwt.encode(
        {"iss": "fireflow", "sub": "x", "rid": "r1", "role": "MANAGER", "exp": 2**40},
        guess,
        headers={"kid": key_id("new-secret")},
    )
    for bad in (forged, forged_with_kid, old[:-2] + "xx", "x.y.z", "ü.x.y"):
        with pytest.raises(DomainError) as err:
            read(["new-secret", "old-secret"], bad)
        assert err.value.code is ErrorCode.UNAUTHENTICATED
    expired = mint("new-secret", "r1", Role.WAITER, device="w", ttl=10, now=time.time() - 60)
    with pytest.raises(DomainError) as err:
        read(["new-secret"], expired)
    assert err.value.code is ErrorCode.TOKEN_EXPIRED


def test_a_token_of_the_format_before_jwt_still_verifies() -> None:
    """Devices set up before the upgrade keep working until their tokens expire."""
    body = base64.urlsafe_b64encode(
        orjson.dumps({"r": "r1", "role": "WAITER", "d": "w-1", "st": [], "exp": int(time.time()) + 60})
    ).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(b"s", body, hashlib.sha256).digest()).rstrip(b"=")
    claims = read(["s"], f"{body.decode()}.{mac.decode()}")
    assert (claims.actor.device_id, claims.generation) == ("w-1", 0)


async def _pair(hub: RunningHub, device_id: str, role: str = "KITCHEN", stations: tuple[str, ...] = ("grill",)) -> str:
    """A manager adds ``device_id``; the device trades the code for its token."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    offer = await manager.command(
        "device.pair", {"device_id": device_id, "role": role, "stations": list(stations), "name": "Grill screen"}
    )
    code = offer["result"]["code"]
    assert len(code) == 7 and code[3] == "-"
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        paired = await http.post("/api/v1/pair", json={"code": code})
        assert paired.status_code == 200, paired.text
        body = paired.json()
        assert (body["restaurant"], body["device"], body["role"], body["stations"]) == (
            hub.rid,
            device_id,
            role,
            list(stations),
        )
        again = await http.post("/api/v1/pair", json={"code": code})
        assert again.status_code == 404 and again.json()["code"] == "NOT_FOUND"  # a code is used once
    token: str = body["token"]
    return token


async def test_a_device_pairs_with_a_code_and_its_token_works(hub: RunningHub) -> None:
    token = await _pair(hub, "kds-new")
    screen = await HubClient.connect(hub.ws_url, token)
    hub.clients.append(screen)
    assert (screen.welcome["device"], screen.welcome["role"], screen.welcome["stations"]) == (
        "kds-new",
        "KITCHEN",
        ["grill"],
    )
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        devices = {d["id"]: d for d in (await http.get("/api/v1/devices")).json()["devices"]}
    assert devices["kds-new"]["name"] == "Grill screen" and devices["kds-new"]["live"] is True
    assert devices["kds-new"]["last_seen"] is not None and devices["kds-new"]["revoked_at"] is None


async def test_pairing_code_guesses_are_limited_per_address(hub: RunningHub, redis: Redis) -> None:
    """Ten wrong codes a minute from one address; the eleventh is refused RATE_LIMITED without being looked up."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        answers = [(await http.post("/api/v1/pair", json={"code": f"{n:06d}"})).status_code for n in range(11)]
        limited = await http.post("/api/v1/pair", json={"code": "000011"})
        bad = await http.post("/api/v1/pair", json={"code": 123456})
    assert answers == [404] * 10 + [429]
    assert limited.json()["retryable"] is True and limited.json()["details"]["retry_after_s"] > 0
    assert bad.json()["code"] == "INVALID_COMMAND"  # not a string: refused before it counts as a guess


async def test_revoking_a_device_closes_its_socket_on_another_node_within_a_second(
    servers: Servers, hub: RunningHub
) -> None:
    """The socket is on node B; the manager revokes on node A: B closes it with 4003 within a second."""
    token = await _pair(hub, "kds-gone")
    async with serve_in_process(settings_for(servers), hub.rid) as other:
        screen = await HubClient.connect(other.ws_url, token)
        other.clients.append(screen)
        await screen.subscribe("kitchen:grill")
        manager = await hub.client(Role.MANAGER, device="manager-1")
        started = time.monotonic()
        await manager.command("device.revoke", {"device_id": "kds-gone"})
        code = await screen.wait_closed(1.0)
        assert code == CloseCode.TOKEN_REVOKED and time.monotonic() - started < 1.0
        with pytest.raises(HubError) as err:
            await HubClient.connect(other.ws_url, token)
        assert err.value.code == ErrorCode.TOKEN_REVOKED
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        refused = await http.get("/api/v1/tables", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json()["code"] == "TOKEN_REVOKED"
    fresh = await _pair(hub, "kds-gone")  # paired again: a new token works, the old one stays refused
    again = await HubClient.connect(hub.ws_url, fresh)
    hub.clients.append(again)
    with pytest.raises(HubError) as err:
        await HubClient.connect(hub.ws_url, token)
    assert err.value.code == ErrorCode.TOKEN_REVOKED


async def test_a_device_never_paired_can_be_revoked_and_only_managers_pair(hub: RunningHub) -> None:
    """A token minted by `fireflow token` is refused once its device is revoked; a waiter may not pair devices."""
    minted = hub.token(Role.WAITER, device="waiter-9")
    waiter = await HubClient.connect(hub.ws_url, minted)
    hub.clients.append(waiter)
    with pytest.raises(HubError) as err:
        await waiter.command("device.pair", {"device_id": "x", "role": "WAITER"})
    assert err.value.code == ErrorCode.FORBIDDEN
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.command("device.revoke", {"device_id": "waiter-9"})
    assert await waiter.wait_closed(WAIT) == CloseCode.TOKEN_REVOKED
    with pytest.raises(HubError) as err:
        await HubClient.connect(hub.ws_url, minted)
    assert err.value.code == ErrorCode.TOKEN_REVOKED


def test_a_bucket_refills_at_its_rate_and_forgets_full_buckets() -> None:
    """Two at once, then one every half second; a refilled bucket is dropped when there are too many."""
    now = [0.0]
    buckets = Buckets(rate=2.0, burst=2.0, clock=lambda: now[0], keep=1)
    assert [buckets.take("a"), buckets.take("a")] == [None, None]
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert buckets.take("a") is None
    now[0] = 5.0
    assert buckets.take("b") is None  # two buckets, keep=1: "a" has refilled and is forgotten
    assert list(buckets._buckets) == ["b"]
    assert Buckets.retry_after(0.2) == "1" and Buckets.retry_after(2.1) == "3"


async def test_http_requests_over_a_devices_rate_get_429_with_retry_after(servers: Servers, rid: str) -> None:
    """Three at once pass, the fourth is 429 with Retry-After; another device's token is not held back."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, http_rate=0.5, http_burst=3.0), rid) as node:
        async with node.http(Role.WAITER, device="integration-1") as http:
            codes = [(await http.get("/api/v1/tables")).status_code for _ in range(3)]
            refused = await http.get("/api/v1/tables")
        async with node.http(Role.WAITER, device="integration-2") as other:
            assert (await other.get("/api/v1/tables")).status_code == 200
    assert codes == [200, 200, 200]
    assert refused.status_code == 429 and refused.json()["code"] == "RATE_LIMITED"
    assert refused.json()["retryable"] is True  # nothing was run: the same request may be sent after the wait
    # one token at 0.5/s: at most 2 s away, less by what refilled while the three were served
    wait_s = refused.json()["details"]["retry_after_s"]
    assert 0 < wait_s <= 2.0 and refused.headers["Retry-After"] == str(math.ceil(wait_s))


async def test_copies_of_one_pairing_command_make_one_code(hub: RunningHub, redis: Redis) -> None:
    """A manager's screen resending `device.pair` (five copies at once, one per socket): one code, every copy gets it."""
    screens = [await hub.client(Role.MANAGER, device="manager-1") for _ in range(5)]
    data = {"device_id": "kds-twin", "role": "KITCHEN", "stations": ["fry"]}
    answers = await asyncio.gather(*(screen.command("device.pair", data, id="pair-1") for screen in screens))
    assert len({a["result"]["code"] for a in answers}) == 1
    assert len([k async for k in redis.scan_iter(match="ff:pair:*")]) == 1


async def test_a_device_is_paired_for_stations_that_exist_and_an_older_code_stops_working(hub: RunningHub) -> None:
    """A kitchen device needs real stations, a waiter none; a code replaced by pairing again no longer redeems."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    for data, code in (
        ({"device_id": "kds-x", "role": "KITCHEN", "stations": []}, ErrorCode.INVALID_COMMAND),
        ({"device_id": "kds-x", "role": "KITCHEN", "stations": ["pizza"]}, ErrorCode.INVALID_SETUP),
        ({"device_id": "phone-x", "role": "WAITER", "stations": ["grill"]}, ErrorCode.INVALID_COMMAND),
    ):
        with pytest.raises(HubError) as err:
            await manager.command("device.pair", data)
        assert err.value.code == code, data
    first = await manager.command("device.pair", {"device_id": "kds-y", "role": "KITCHEN", "stations": ["grill"]})
    second = await manager.command("device.pair", {"device_id": "kds-y", "role": "KITCHEN", "stations": ["grill"]})
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        old = await http.post("/api/v1/pair", json={"code": first["result"]["code"]})
        assert (old.status_code, old.json()["code"]) == (404, "NOT_FOUND"), old.text
        new = await http.post("/api/v1/pair", json={"code": second["result"]["code"]})
        assert new.status_code == 200, new.text
