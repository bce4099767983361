"""probe"""
from hub.domain.actors import Role
from tests.conftest import WAIT, RunningHub


async def test_probe(hub: RunningHub) -> None:
    """probe"""
    for enc in ("json", "msgpack"):
        for frame in ({"op": "ping", "t": 10**20}, {"op": "ping", "t": 2**64 - 1}, {"op": "subscribe", "channels": ["orders"], "since": 2**64 - 1}, {"op": "subscribe", "channels": ["orders"], "since": 10**20}):
            c = await hub.client(Role.WAITER, encoding=enc)
            try:
                if enc == "json" and frame.get("t") == 10**20:
                    await c.send_raw('{"op":"ping","t":1e20}')
                elif enc == "json" and frame.get("since") == 10**20:
                    await c.send_raw('{"op":"subscribe","channels":["orders"],"since":1e20}')
                elif enc == "msgpack" and (frame.get("t") == 10**20 or frame.get("since") == 10**20):
                    continue
                else:
                    await c.send(frame)
                print(enc, frame, await c.reply(WAIT))
            except Exception as e:
                print(enc, frame, "EXC", repr(e), c.close_code)
