"""The customer book: added once however often a till resends, found by phone, changed with its version."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub

ASHA = {
    "name": "Asha Rao",
    "phones": ["+91 98450-12345"],
    "addresses": [{"label": "home", "line": "12 MG Road, Bengaluru", "notes": "blue gate"}],
    "notes": "no onions",
}


async def test_a_customer_is_found_by_phone_however_it_is_typed(hub: RunningHub) -> None:
    till = await hub.client(Role.CASHIER, device="till-1")
    added = (await till.command("customer.put", ASHA))["result"]["customer"]
    assert added["phones"] == ["919845012345"] and added["version"] == 1 and added["updated_by"] == "till-1"
    async with hub.http(Role.WAITER) as waiter:
        for phone in ("919845012345", "+91 (98450) 12345", "98450 12345", "0091 98450 12345"):  # with or without +91
            found = (await waiter.get("/api/v1/customers", params={"phone": phone})).json()["customers"]
            assert [c["id"] for c in found] == [added["id"]]
        by_name = (await waiter.get("/api/v1/customers", params={"q": "asha"})).json()["customers"]
        by_digits = (await waiter.get("/api/v1/customers", params={"q": "12345"})).json()["customers"]
        assert [c["name"] for c in by_name] == [c["name"] for c in by_digits] == ["Asha Rao"]
        for other in ("000", "12345", "98450 12346"):  # too short to match by its end, or another number
            assert (await waiter.get("/api/v1/customers", params={"phone": other})).json()["customers"] == [], other
        assert found[0]["addresses"] == ASHA["addresses"] and found[0]["notes"] == "no onions"
        empty = await waiter.get("/api/v1/customers")
        assert empty.status_code == 422 and empty.json()["code"] == "INVALID_COMMAND"
    async with hub.http(Role.KITCHEN, stations=("grill",), device="kds-grill") as kitchen:
        assert (await kitchen.get("/api/v1/customers", params={"q": "asha"})).status_code == 403


async def test_copies_of_one_command_add_one_customer_and_a_stale_edit_is_refused(hub: RunningHub) -> None:
    """Ten copies of one command id (a till resending) give one customer; an edit from an old version is refused."""
    tills = [await hub.client(Role.CASHIER, device=f"till-{n % 2}") for n in range(10)]
    answers = await asyncio.gather(*(till.command("customer.put", ASHA, id="add-asha") for till in tills))
    assert len({orjson.dumps(a["result"]) for a in answers}) == 1  # every copy: the identical answer
    ids = {a["result"]["customer"]["id"] for a in answers}
    async with hub.http(Role.WAITER) as waiter:
        assert len((await waiter.get("/api/v1/customers", params={"q": "asha"})).json()["customers"]) == 1
    (customer_id,) = ids
    edit = ASHA | {"customer_id": customer_id, "version": 1, "phones": ["9845012345", "080 2222 3333"]}
    changed = (await tills[0].command("customer.put", edit))["result"]["customer"]
    assert changed["version"] == 2 and changed["phones"] == ["08022223333", "9845012345"]
    with pytest.raises(HubError) as err:
        await tills[1].command("customer.put", edit | {"name": "Asha R."})
    assert err.value.code == ErrorCode.VERSION_CONFLICT and err.value.frame["details"] == {"version": 2}
    with pytest.raises(HubError) as err:
        await tills[1].command("customer.put", ASHA | {"customer_id": "elsewhere.c1"})
    assert err.value.code == ErrorCode.WRONG_TENANT
