"""Log lines carry their restaurant, device and command, as JSON or as text."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.logs import bind_actor, handler, log_context
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub


@pytest.fixture
def hub_log() -> Iterator[io.StringIO]:
    """What the ``fireflow`` loggers write through a JSON handler, as ``fireflow serve`` sets it up."""
    stream = io.StringIO()
    out = handler("json", stream)
    hub_logger = logging.getLogger("fireflow")
    hub_logger.addHandler(out)
    try:
        yield stream
    finally:
        hub_logger.removeHandler(out)


async def test_a_refused_command_logs_one_json_line_naming_restaurant_device_and_command(
    hub: RunningHub, hub_log: io.StringIO
) -> None:
    """A cross-tenant command sent over a socket logs one JSON line with the restaurant, device and command id."""
    waiter = await hub.client(Role.WAITER, device="waiter-7")
    with pytest.raises(HubError) as err:
        await waiter.command("order.fire", {"order_id": "elsewhere.1"}, id="cmd-tenant-1")
    assert err.value.code == ErrorCode.WRONG_TENANT
    lines = [json.loads(line) for line in hub_log.getvalue().splitlines()]
    (line,) = [line for line in lines if "tenant violation" in line["message"]]
    assert line["level"] == "WARNING" and line["logger"] == "fireflow.hub.commands.bus"
    assert (line["restaurant"], line["device"], line["command_id"], line["command"]) == (
        hub.rid,
        "waiter-7",
        "cmd-tenant-1",
        "order.fire",
    )


def test_text_lines_carry_the_context_and_auto_is_json_off_a_terminal() -> None:
    """Text appends the context's fields to the message; auto writes JSON when the stream is not a terminal."""
    text, auto = io.StringIO(), io.StringIO()
    log = logging.getLogger("fireflow.hub.test_logs")
    log.propagate = False
    log.addHandler(handler("text", text))
    log.addHandler(handler("auto", auto))
    try:
        with log_context(restaurant="r1", device="till-2", command_id="c-9"):
            log.warning("refused")
        log.warning("outside")
    finally:
        log.handlers.clear()
        log.propagate = True
    assert text.getvalue().splitlines() == [
        "WARNING fireflow.hub.test_logs: refused [restaurant=r1 device=till-2 command_id=c-9]",
        "WARNING fireflow.hub.test_logs: outside",
    ]
    first, second = (json.loads(line) for line in auto.getvalue().splitlines())
    assert (first["message"], first["restaurant"], first["command_id"]) == ("refused", "r1", "c-9")
    assert "restaurant" not in second


async def test_a_bound_actor_names_every_later_line_of_its_task() -> None:
    """bind_actor (a socket's session) names the device and restaurant on every later line of that task only."""
    stream = io.StringIO()
    log = logging.getLogger("fireflow.hub.test_logs.bound")
    log.propagate = False
    log.addHandler(handler("json", stream))

    async def session() -> None:
        bind_actor(Actor("r2", Role.KITCHEN, "kds-grill"))
        log.warning("in the session")

    try:
        await asyncio.create_task(session())
        log.warning("elsewhere")
    finally:
        log.handlers.clear()
        log.propagate = True
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["restaurant"], inside["device"]) == ("r2", "kds-grill")
    assert "device" not in outside
