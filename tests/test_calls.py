"""The books' hot calls on connections of their own: calls wait their turn for a bounded few, a statement's own
error leaves its connection in use, and a cancelled call's connection is never handed to the next one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from fireflow.hub.books.calls import CallFailed, Calls
from tests.conftest import WAIT, Servers


@pytest.fixture
async def calls(servers: Servers) -> AsyncIterator[Calls]:
    made = Calls(make_url(servers.database_url), size=3)
    yield made
    await made.close()


async def test_sixty_calls_in_flight_share_three_connections_and_each_gets_its_own_answer(calls: Calls) -> None:
    answers = await asyncio.gather(*(calls.value("SELECT $1::int * 2 FROM pg_sleep(0.01)", n) for n in range(60)))
    assert answers == [n * 2 for n in range(60)]
    assert calls._open <= 3  # the bound is the point


async def test_a_statements_own_error_is_raised_as_it_is_and_the_connection_stays(calls: Calls) -> None:
    await calls.value("SELECT 1")
    pid = await calls.value("SELECT pg_backend_pid()")
    with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
        await calls.value("SELECT 1 / 0")
    assert await calls.value("SELECT pg_backend_pid()") == pid


async def test_a_cancelled_call_leaves_nothing_half_done_for_the_next(calls: Calls) -> None:
    slow = asyncio.ensure_future(calls.value("SELECT pg_sleep(30)"))
    async with asyncio.timeout(WAIT):
        while await calls.value("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'") != 1:
            await asyncio.sleep(0.01)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    answers = await asyncio.wait_for(asyncio.gather(*(calls.value("SELECT $1::int", n) for n in range(6))), WAIT)
    assert answers == list(range(6))


async def test_a_killed_connection_is_replaced_and_the_call_made_again(calls: Calls) -> None:
    pid = await calls.value("SELECT pg_backend_pid()")
    killer = Calls(make_url(calls._dsn.replace("postgresql://", "postgresql+asyncpg://", 1)), size=1)
    try:
        assert await killer.value("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    assert await calls.value("SELECT 41 + 1") == 42  # on a fresh connection, first time


async def test_calls_after_close_are_refused_plainly(calls: Calls) -> None:
    await calls.value("SELECT 1")
    await calls.close()
    with pytest.raises(CallFailed, match="closed"):
        await calls.value("SELECT 1")
