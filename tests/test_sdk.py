"""The Python SDK as its own package (fireflow-client): it installs and runs without the hub, and with
``resume`` it rides out a restarted node and a cut link, its offline command queue applying each command once,
in order."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fireflow.clients import python as sdk
from fireflow.clients.python import HubClient, HubError, QueueFull, wire
from fireflow.hub.domain.actors import Role
from fireflow.hub.transports.tokens import mint
from fireflow.schema import protocol
from tests.conftest import ROOT, SECRET, WAIT, NodeProcess, RunningHub, Servers, free_port, seed

SDK = ROOT / "clients" / "python"


def _token(rid: str, role: Role, **kw: Any) -> str:
    return mint(SECRET, rid, role, device=kw.pop("device", role.value.lower() + "-sdk"), **kw)


def test_the_sdks_protocol_constants_are_the_hubs() -> None:
    """The subprotocols, protocol version and fatal close codes the SDK carries are the schema's own."""
    assert wire.PROTOCOL_VERSION == protocol.PROTOCOL_VERSION
    assert wire.SUBPROTOCOL_JSON == protocol.SUBPROTOCOL_JSON
    assert wire.SUBPROTOCOL_MSGPACK == protocol.SUBPROTOCOL_MSGPACK
    assert wire.CLOSE_AUTH_FAILED == protocol.CloseCode.AUTH_FAILED
    assert wire.CLOSE_TOKEN_EXPIRED == protocol.CloseCode.TOKEN_EXPIRED
    assert int(sdk.__version__.split(".")[0]) == protocol.PROTOCOL_VERSION


def test_the_sdk_imports_only_itself_and_its_declared_dependencies() -> None:
    """Every import in clients/python is relative, the standard library, or websockets/orjson/msgpack."""
    allowed = {"websockets", "orjson", "msgpack", *sys.stdlib_module_names}
    for path in sorted(SDK.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding the SDK's wheel, built offline; its dependencies come from this venv's site-packages
    as a plain path (so the hub's own editable install, a .pth hook there, is not seen)."""
    tmp = tmp_path_factory.mktemp("sdk")
    source = tmp / "src"
    shutil.copytree(SDK, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist")]
    done = subprocess.run([*build, str(source)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("fireflow_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"fireflow_client/__init__.py", "fireflow_client/client.py", "fireflow_client/wire.py"} <= names
    assert {"fireflow_client/py.typed"} <= names and not any(n.startswith("fireflow/") for n in names)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = next(p for p in sys.path if p.endswith("site-packages") and (Path(p) / "websockets").is_dir())
    (Path(site) / "dependencies.pth").write_text(ours + "\n", encoding="utf-8")
    yield python


def test_the_wheel_installs_into_a_fresh_venv_and_imports_without_the_hub(sdk_python: Path, tmp_path: Path) -> None:
    """``import fireflow_client`` works in a venv with only the SDK and its dependencies; ``fireflow`` is not there."""
    code = (
        "import importlib.util, fireflow_client as f\n"
        "assert importlib.util.find_spec('fireflow') is None, 'the hub is importable'\n"
        "print(f.__version__, f.PROTOCOL_VERSION, f.HubClient.__module__, f.QueueFull.__mro__[1].__name__)\n"
    )
    done = subprocess.run([str(sdk_python), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [sdk.__version__, "1", "fireflow_client.client", "HubError"]


async def test_the_example_prints_a_fired_ticket_and_acknowledges_it(
    sdk_python: Path, hub: RunningHub, tmp_path: Path
) -> None:
    """examples/kitchen.py, run with only the SDK installed, prints the grill's ticket and acknowledges it, then stops."""
    env = {**os.environ, "FIREFLOW_URL": hub.ws_url, "KITCHEN_TOKEN": hub.token(Role.KITCHEN, stations=("grill",))}
    example = [str(SDK / "examples" / "kitchen.py"), "--seconds", str(2 * WAIT)]
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        str(sdk_python), *example, cwd=tmp_path, env=env, stdout=pipe, stderr=pipe
    )
    assert proc.stdout is not None
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 4 * WAIT)).decode()
        assert first.startswith(f"connected to {hub.rid}") and "kitchen:grill" in first, first
        async with hub.http() as http:
            opened = (await http.post("/api/v1/orders", json={"type": "TAKEAWAY"})).json()
            order_id = opened["result"]["order"]["id"]
            await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "burger", "quantity": 2})
            assert (await http.post(f"/api/v1/orders/{order_id}/fire")).status_code == 200
        ticket = (await asyncio.wait_for(proc.stdout.readline(), 2 * WAIT)).decode()
        assert f"({order_id}) at grill: 2 x " in ticket, ticket
        acked = (await asyncio.wait_for(proc.stdout.readline(), 2 * WAIT)).decode()
        assert acked.startswith("acknowledged "), acked
        assert await asyncio.wait_for(proc.wait(), 4 * WAIT) == 0  # it stops by itself at --seconds
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.stderr is not None
    assert (await proc.stderr.read()) == b""


async def _items(http: httpx.AsyncClient, order_id: str) -> list[str]:
    response = await http.get(f"/api/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    return [item["menu_item_id"] for item in response.json()["order"]["items"]]


async def _fire(http: httpx.AsyncClient) -> str:
    order = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"})
    order_id: str = order.json()["result"]["order"]["id"]
    assert (await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "burger"})).status_code == 200
    assert (await http.post(f"/api/v1/orders/{order_id}/fire")).status_code == 200
    return order_id


@pytest.mark.slow
async def test_commands_issued_while_the_node_is_down_run_once_in_order_after_it_is_back(
    servers: Servers, redis: Any, rid: str, nodes: Any, tmp_path: Path
) -> None:
    """A node stopped and started again under a subscribed SDK: no ticket lost or twice, the offline commands
    run once each in the order issued, and one past the queue's bound is refused at once and never runs."""
    await seed(servers, rid)
    log = tmp_path / "sdk-node.log"
    node = NodeProcess(servers, free_port(), log)
    other = await nodes()
    started = [node]
    try:
        await node.ready()
        client = await HubClient.connect(node.ws_url, _token(rid, Role.MANAGER), resume=True, queue_limit=3)
        await client.subscribe("kitchen:grill")
        headers = {"Authorization": f"Bearer {_token(rid, Role.WAITER)}"}
        async with httpx.AsyncClient(base_url=other.url, headers=headers, timeout=WAIT) as http:
            opened = await client.command("order.open", {"type": "TAKEAWAY"})
            order_id = opened["result"]["order"]["id"]
            fired = [await _fire(http)]
            seen = [await client.next_event(2 * WAIT)]

            node.stop()  # a graceful stop closes the socket from the hub's side
            await asyncio.wait_for(client.lost_links.get(), 2 * WAIT)
            fired.append(await _fire(http))  # missed while down: replayed on resume
            offline = [
                asyncio.create_task(client.command(kind, data, timeout=None))
                for kind, data in (
                    ("order.add_item", {"order_id": order_id, "menu_item_id": "burger"}),
                    ("order.add_item", {"order_id": order_id, "menu_item_id": "fries"}),
                    ("order.fire", {"order_id": order_id}),  # refused NOTHING_TO_FIRE if it overtook the adds
                )
            ]
            await asyncio.sleep(0)  # let each task reach the queue
            assert client.queued == 3
            with pytest.raises(QueueFull) as refused:
                await client.command("order.add_item", {"order_id": order_id, "menu_item_id": "caesar"})
            assert refused.value.code == "QUEUE_FULL" and "3 commands already wait" in str(refused.value)
            assert isinstance(refused.value, HubError) and refused.value.retryable
            assert client.queued == 3 and not any(task.done() for task in offline)

            restarted = NodeProcess(servers, node.port, log)
            started.append(restarted)
            await restarted.ready()
            resumed = await asyncio.wait_for(client.resumed.get(), 4 * WAIT)
            assert resumed["recovered"] is True
            answers = await asyncio.wait_for(asyncio.gather(*offline), 4 * WAIT)
            assert [a["op"] for a in answers] == ["ack", "ack", "ack"]
            assert await _items(http, order_id) == ["burger", "fries"]  # once each, in order; no caesar
            fired.append(order_id)
            while sum(e["type"] == "NEW_KITCHEN_ORDER" for e in seen) < len(fired):
                seen.append(await client.next_event(2 * WAIT))
        tickets = [e["data"]["ticket"]["order_id"] for e in seen if e["type"] == "NEW_KITCHEN_ORDER"]
        assert tickets == fired
        offsets = [e["offset"] for e in seen]
        assert offsets == sorted(set(offsets))  # each event once, in offset order
        assert client.queued == 0 and not client.closed.is_set()
        await client.close()
    finally:
        for n in started:
            n.stop()


class Relay:
    """A loopback TCP relay in front of a hub that can hold the hub's bytes back and cut every link (a bad network)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.accepting = True  # False: every new link is dropped at once (the hub is out of reach)
        self.links: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def cut(self) -> None:
        """Drop every link at once, bytes held back included: no close frame either way."""
        for writer in self.links:
            writer.transport.abort()
        self.links.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.links += [writer, up_writer]
        with contextlib.suppress(OSError):
            await asyncio.gather(self._pump(reader, up_writer, None), self._pump(up_reader, writer, self.flowing))
        writer.transport.abort()
        up_writer.transport.abort()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, gate: asyncio.Event | None) -> None:
        while data := await src.read(65536):
            if gate is not None:
                await gate.wait()
            if dst.transport.is_closing():
                return
            dst.write(data)
            await dst.drain()
        dst.transport.abort()


async def test_a_command_whose_answer_was_lost_is_sent_again_with_its_id_and_runs_once(hub: RunningHub) -> None:
    """The hub ran the command but the link dropped before its ack: the SDK sends it again on the next link with
    the same id, and the caller gets the stored answer; the order has the line once."""
    relay = Relay(int(hub.url.rsplit(":", 1)[1]))
    async with relay as url:
        client = await HubClient.connect(url, hub.token(Role.MANAGER), resume=True)
        await client.subscribe("orders")
        opened = await client.command("order.open", {"type": "TAKEAWAY"})
        order_id = opened["result"]["order"]["id"]
        observer = await hub.client(Role.MANAGER, device="observer")
        await observer.subscribe(f"order:{order_id}")

        relay.flowing.clear()  # the hub's bytes, its ack among them, are held back from now on
        add = asyncio.create_task(
            client.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger"}, id="sdk-lost-1")
        )
        changed = await observer.next_event(WAIT)  # the hub ran it
        assert changed["data"]["order"]["items"][0]["menu_item_id"] == "burger"
        assert not add.done()
        relay.cut()
        relay.flowing.set()
        await asyncio.wait_for(client.lost_links.get(), WAIT)
        answer = await asyncio.wait_for(add, 4 * WAIT)
        assert answer["id"] == "sdk-lost-1" and answer["offset"] == changed["offset"]  # the first run's answer
        async with hub.http(Role.MANAGER) as http:
            assert await _items(http, order_id) == ["burger"]
        assert (await asyncio.wait_for(client.resumed.get(), WAIT))["recovered"] is True
        await client.close()


async def test_a_command_that_times_out_while_the_link_is_down_is_never_sent(hub: RunningHub) -> None:
    """A queued command given up on (its timeout) leaves the queue; the next link does not send it."""
    relay = Relay(int(hub.url.rsplit(":", 1)[1]))
    async with relay as url:
        client = await HubClient.connect(url, hub.token(Role.MANAGER), resume=True)
        await client.subscribe("orders")
        order_id = (await client.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
        relay.accepting = False
        relay.cut()
        await asyncio.wait_for(client.lost_links.get(), WAIT)
        with pytest.raises(TimeoutError):
            await client.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger"}, timeout=WAIT / 5)
        assert client.queued == 0
        relay.accepting = True
        assert (await asyncio.wait_for(client.resumed.get(), 4 * WAIT))["recovered"] is True
        await client.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
        async with hub.http(Role.MANAGER) as http:
            assert await _items(http, order_id) == ["fries"]
        await client.close()
