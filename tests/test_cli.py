"""The command line: a node on embedded servers starts, serves and stops cleanly; tokens verify; mistakes are one line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psutil
import pytest
from redis.asyncio import Redis

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.hub.run.cli import _secret, build_parser, real_servers
from fireflow.hub.run.config import Settings
from fireflow.hub.transports.tokens import verify
from tests.conftest import ROOT, WAIT, Servers, free_port, seed

_OURS = ("REDIS_URL", "DATABASE_URL", "PORT")


def _env(**extra: str) -> dict[str, str]:
    """This environment without any hub setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in _OURS and not k.startswith("FIREFLOW_")}
    return {**env, "FIREFLOW_TEST_SCALE": os.environ.get("FIREFLOW_TEST_SCALE", "1"), **extra}


def _fireflow(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fireflow.hub.run.cli", *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=12 * WAIT,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command printed (and nothing else, no traceback)."""
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _token_args(rid: str, role: str = "kitchen") -> list[str]:
    return ["token", "--restaurant", rid, "--role", role, "--device", "kds-1", "--stations", "grill,fry"]


async def test_token_command_mints_a_verifiable_token(servers: Servers, redis: Redis, rid: str) -> None:
    """`fireflow token` prints a token the hub accepts with the role and stations asked for."""
    await seed(servers, rid)
    out = _fireflow(*_token_args(rid), env=_env(FIREFLOW_SECRET="s3cret", REDIS_URL=servers.redis_url))
    assert out.returncode == 0, out.stderr
    actor = verify("s3cret", out.stdout.strip())
    assert (actor.restaurant_id, actor.role.value, actor.stations) == (rid, "KITCHEN", ("grill", "fry"))


async def test_token_refuses_a_restaurant_not_set_up_in_redis(servers: Servers, redis: Redis, rid: str) -> None:
    """A token for a restaurant that Redis does not know is refused with one line and exit code 2."""
    await seed(servers, rid)
    out = _fireflow(*_token_args("nosuch"), env=_env(FIREFLOW_SECRET="s3cret", REDIS_URL=servers.redis_url))
    assert out.returncode == 2
    line = _one_line(out)
    assert "unknown restaurant 'nosuch'" in line and rid in line


def test_token_refuses_an_unknown_role_listing_the_roles() -> None:
    """A role that does not exist is refused with one line naming every role, exit code 2."""
    out = _fireflow(*_token_args("demo", role="chef"), env=_env(FIREFLOW_SECRET="s3cret"))
    assert out.returncode == 2
    line = _one_line(out)
    assert "unknown role 'chef'" in line and all(role.value.lower() in line for role in Role)


def test_token_help_lists_the_roles() -> None:
    """`fireflow token --help` names every role."""
    out = _fireflow("token", "--help", env=_env())
    assert out.returncode == 0
    assert all(role.value.lower() in out.stdout for role in Role)


async def test_token_finds_the_secret_serve_keeps_from_any_directory(
    servers: Servers, redis: Redis, rid: str, tmp_path: Path
) -> None:
    """Run from another directory, token uses <data-dir>/secret as serve made it, via --data-dir or FIREFLOW_DATA_DIR."""
    await seed(servers, rid)
    data_dir = tmp_path / "hub-data"
    secret = _secret(Settings().with_(data_dir=data_dir), create=True)  # as `fireflow serve` makes it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(REDIS_URL=servers.redis_url)
    by_flag = _fireflow(*_token_args(rid), "--data-dir", str(data_dir), env=env, cwd=elsewhere)
    by_env = _fireflow(*_token_args(rid), env={**env, "FIREFLOW_DATA_DIR": str(data_dir)}, cwd=elsewhere)
    for out in (by_flag, by_env):
        assert out.returncode == 0, out.stderr
        assert verify(secret, out.stdout.strip()).restaurant_id == rid


async def test_token_without_a_secret_refuses_instead_of_making_one(
    servers: Servers, redis: Redis, rid: str, tmp_path: Path
) -> None:
    """Where no secret can be found, token says where it looked (exit 2) and creates none that the hub would not share."""
    await seed(servers, rid)
    out = _fireflow(*_token_args(rid), env=_env(REDIS_URL=servers.redis_url), cwd=tmp_path)
    assert out.returncode == 2
    assert str(tmp_path / ".fireflow" / "secret") in _one_line(out)
    assert list(tmp_path.iterdir()) == []


def test_every_option_says_its_default_and_its_environment_variable() -> None:
    """Each option's help says its default (or that it is required), and the environment variable of a setting."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            text = action.help or ""
            assert "default" in text or "required" in text, (name, action.option_strings)
            if action.dest in Settings.model_fields:
                assert all(v in text for v in Settings.env_names(action.dest)), (name, action.option_strings)


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("FIREFLOW_DURABLE", "proces", "process, inline, off"),
        ("FIREFLOW_QUEUE_LIMIT", "-1", "above 0"),
        ("FIREFLOW_CPU_PROFILE", "/proc/nope", "a directory this node can write in"),
    ],
)
def test_a_bad_setting_stops_the_node_with_one_line_and_exit_code_2(
    variable: str, value: str, allowed: str, tmp_path: Path
) -> None:
    """`fireflow serve` with a nonsense setting exits 2 with one line naming it and what is allowed, starting nothing."""
    out = _fireflow("serve", "--port", str(free_port()), "--data-dir", str(tmp_path), env=_env(**{variable: value}))
    assert out.returncode == 2
    line = _one_line(out)
    assert f"{variable}={value}" in line and allowed in line
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_redis_is_one_line_naming_redis_url_and_its_address(servers: Servers) -> None:
    """A REDIS_URL nobody answers on stops the node with one line naming REDIS_URL and the address, exit 1."""
    port = free_port()
    env = _env(REDIS_URL=f"redis://:pw@127.0.0.1:{port}/0", DATABASE_URL=servers.database_url)
    out = _fireflow("serve", "--port", str(free_port()), env=env)
    assert out.returncode == 1
    line = _one_line(out)
    assert "REDIS_URL" in line and f"127.0.0.1:{port}" in line and "pw" not in line


def test_an_unreachable_postgres_is_one_line_naming_database_url_and_its_address(servers: Servers) -> None:
    """A DATABASE_URL nobody answers on stops serve and migrate with one line naming it and the address, exit 1."""
    port = free_port()
    env = _env(REDIS_URL=servers.redis_url, DATABASE_URL=f"postgres://ff:pw@127.0.0.1:{port}/ff")
    for args in (["serve", "--port", str(free_port())], ["migrate"]):
        out = _fireflow(*args, env=env)
        assert out.returncode == 1
        line = _one_line(out)
        assert "DATABASE_URL" in line and f"127.0.0.1:{port}/ff" in line and "pw" not in line


@pytest.mark.parametrize(
    ("command", "extra", "says"),
    [
        ("durable", {}, "durable needs REDIS_URL and DATABASE_URL"),
        ("predictor", {}, "predictor needs REDIS_URL"),
        ("predictor", {"REDIS_URL": "redis://127.0.0.1:1/0", "FIREFLOW_PREDICTIONS": "false"}, "predictions are off"),
    ],
)
def test_a_background_process_without_what_it_needs_refuses_in_one_line(
    command: str, extra: dict[str, str], says: str
) -> None:
    """``fireflow durable`` and ``fireflow predictor`` (a node's background work, run on their own) name what is missing."""
    out = _fireflow(command, env=_env(**extra))
    assert out.returncode != 0
    line = _one_line(out)
    assert line.startswith(f"fireflow {command}: ") and says in line


def test_migrate_accepts_a_plain_postgresql_url(servers: Servers) -> None:
    """`fireflow migrate` works with DATABASE_URL spelt postgresql:// as hosting providers give it."""
    url = servers.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    out = _fireflow("migrate", env=_env(DATABASE_URL=url))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "migrations applied"


def test_demo_on_a_busy_port_refuses_before_printing_or_starting_anything(tmp_path: Path) -> None:
    """`fireflow demo` on a port already taken exits 2 with one line, before starting any server or printing tokens."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _fireflow("demo", "--port", str(port), "--data-dir", str(tmp_path / "data"), env=_env())
    assert out.returncode == 2
    assert f"port {port}" in _one_line(out)
    assert not (tmp_path / "data").exists()


async def test_embedded_redis_takes_the_fsync_setting(tmp_path: Path) -> None:
    """FIREFLOW_REDIS_FSYNC=always reaches the embedded Redis's appendfsync."""
    settings = Settings().with_(data_dir=tmp_path, database_url="postgresql://unused", redis_fsync="always")
    with real_servers(settings, announce=False) as ready:
        client = Redis.from_url(ready.redis_url or "")
        try:
            assert await client.config_get("appendfsync") == {"appendfsync": "always"}
        finally:
            await client.aclose()


async def test_a_command_on_a_data_directory_in_use_says_so_in_one_line(servers: Servers, tmp_path: Path) -> None:
    """A second node (or `fireflow migrate`) on a data directory whose embedded servers a running hub holds: one line
    saying so and what to do, no traceback, and the running servers untouched."""
    settings = Settings().with_(data_dir=tmp_path, database_url="postgresql://unused")
    with real_servers(settings, announce=False) as running:
        env = _env(DATABASE_URL=servers.database_url, FIREFLOW_DATA_DIR=str(tmp_path))
        out = _fireflow("serve", "--port", str(free_port()), env=env)
        printed = (out.stdout + out.stderr).strip().splitlines()
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "is in use by pid" in printed[-1] and "stop it first" in printed[-1], printed
        assert printed[-1].startswith("fireflow serve: ")
        client = Redis.from_url(running.redis_url or "")
        try:
            assert await client.ping()  # the running hub's Redis is still there
        finally:
            await client.aclose()


@pytest.mark.parametrize(
    "module", ["fireflow.clients.erpnext.emulator --api-key k --api-secret s", "fireflow.clients.printers.emulator"]
)
def test_an_emulator_on_a_busy_port_says_so_in_one_line(module: str) -> None:
    """The README's emulators (ERPNext, an ESC/POS printer) on a port already taken: one line naming it, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", *module.split(), "--port", str(port)],
            env={**_env(), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=12 * WAIT,
        )
    assert out.returncode == 1
    line = _one_line(out)
    assert f"127.0.0.1:{port}" in line and "--port" in line and "in use" in line, line


async def test_demo_on_embedded_servers_serves_and_stops_cleanly_on_sigterm() -> None:
    """`fireflow demo` with no URLs says it runs embedded servers and where, prints a working link per screen, serves a fire, on SIGTERM closes sockets with 1012 and stops both servers; `fireflow token` on its data dir finds the demo restaurant whether it runs or not."""
    data_dir = Path(tempfile.mkdtemp(prefix="fireflow-cli-"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fireflow.hub.run.cli", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        tokens: dict[str, str] = {}
        links: dict[str, str] = {}
        said_embedded = False
        printer_lines: list[str] = []
        assert proc.stdout is not None
        while "kitchen:bar" not in tokens:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 12 * WAIT)
            assert line, "demo exited early"
            said_embedded |= "embedded Redis and PostgreSQL" in line and str(data_dir) in line
            if "127.0.0.1:" in line and "/" not in line:  # a printer: id, address, what prints on it
                printer_lines.append(line.split()[0])
            parts = line.split()
            if parts and parts[-1].startswith("http://") and "token=" in parts[-1]:
                links[" ".join(parts[:-1])] = parts[-1]
            elif len(parts) == 2 and "." in parts[1] and len(parts[1]) > 40:
                tokens[parts[0]] = parts[1]
        assert said_embedded
        assert set(links) == {
            "kitchen grill",
            "kitchen fry",
            "kitchen cold",
            "kitchen bar",
            "expo",
            "board",
            "cashier",
            "waiter (pos)",
            "counter (pos)",
            "dispatch",
            "rider",
            "back office",
            "Z-report",
        }
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {tokens['waiter']}"}) as http:
            for _ in range(int(100 * WAIT)):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient() as browser:
                for screen, url in links.items():
                    assert url.startswith(base), screen
                    assert (await browser.get(url)).status_code == 200, screen
            screen = await HubClient.connect(f"ws://127.0.0.1:{port}/ws", tokens["kitchen:grill"])
            await screen.subscribe("kitchen:grill")
            order = (await http.post("/api/v1/orders", json={"type": "DINE_IN", "table_id": "T1", "guests": 2})).json()
            order_id = order["result"]["order"]["id"]
            await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "burger"})
            await http.post(f"/api/v1/orders/{order_id}/fire")
        event = await screen.next_event(WAIT)
        assert event["type"] == "NEW_KITCHEN_ORDER"
        # The demo prints too: the grill's emulated printer printed the burger, and /printers.json shows it.
        assert printer_lines == ["grill", "fry", "cold", "bar", "desk", "backup"], printer_lines
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(int(100 * WAIT)):
                shown = {p["id"]: p for p in (await http.get("/printers.json")).json()["printers"]}
                if shown["grill"]["printed"]:
                    break
                await asyncio.sleep(0.05)
        assert "1 x Classic Burger" in shown["grill"]["tickets"][0]["text"]
        secret = (data_dir / "secret").read_text()
        token_args = ["--data-dir", str(data_dir), "--role", "waiter", "--device", "w-2"]
        while_running = _fireflow("token", "--restaurant", "demo", *token_args, env=_env(), cwd=Path("/"))
        assert verify(secret, while_running.stdout.strip()).device_id == "w-2", while_running.stderr
        servers = [
            p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() in ("redis-server", "postgres")
        ]
        assert {p.name() for p in servers} == {"redis-server", "postgres"}
        proc.send_signal(signal.SIGTERM)
        assert await screen.wait_closed(WAIT) == 1012
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 4 * WAIT) == 0
        _gone, alive = psutil.wait_procs(servers, timeout=WAIT)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        stopped = _fireflow("token", "--restaurant", "demo", *token_args, env=_env(), cwd=Path("/"))
        assert verify(secret, stopped.stdout.strip()).restaurant_id == "demo", stopped.stderr
        # Started again on the same data: the restaurant is kept as the back office left it, not imported over.
        proc.stdout.close()
        proc = subprocess.Popen(
            [sys.executable, "-m", "fireflow.hub.run.cli", "demo", "--port", str(port), "--data-dir", str(data_dir)],
            env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        said: list[str] = []
        while not any("Open the screens" in line for line in said):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 12 * WAIT)
            assert line, f"demo exited early: {said}"
            said.append(line)
        assert any("kept as it was left" in line for line in said), said
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(int(100 * WAIT)):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 4 * WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_demo_on_its_own_redis_cluster_keeps_firing_through_its_masters_failover() -> None:
    """`fireflow demo --redis-cluster` runs the demo on a Redis Cluster it starts (3 masters, a replica each) and says
    how to kill the demo restaurant's master. Killed as it says, a replica takes over: the next fire reaches the grill's
    screen, which stayed connected. SIGTERM stops every Redis and Postgres and removes the throwaway directory."""
    if shutil.which("redis-server", path="/usr/bin") is None:
        pytest.skip("the Redis Cluster runs need Debian's redis-server 7: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fireflow.hub.run.cli", "demo", "--redis-cluster", "--port", str(port)],
        env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        said: list[str] = []
        tokens: dict[str, str] = {}
        assert proc.stdout is not None
        while "kitchen:bar" not in tokens:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 12 * WAIT)
            assert line, f"demo exited early: {said}"
            said.append(line)
            parts = line.split()
            if len(parts) == 2 and "." in parts[1] and len(parts[1]) > 40:
                tokens[parts[0]] = parts[1]
        text = "".join(said)
        assert "Redis Cluster: 3 masters on ports" in text, text
        named = re.search(r"live in (\S+), a throwaway", text)
        kill = re.search(r"kill -9 (\d+)  \(port (\d+)\)", text)
        assert named is not None and kill is not None, text
        directory, pid, master_port = Path(named[1]), int(kill[1]), int(kill[2])
        assert directory.is_dir()
        base = f"http://127.0.0.1:{port}"
        master = Redis(host="127.0.0.1", port=master_port)
        try:  # the demo restaurant's keys are on the master the demo named
            slot = await master.execute_command("CLUSTER", "KEYSLOT", "ff:{demo}:events")
            assert await master.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) > 0
        finally:
            await master.aclose()
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {tokens['waiter']}"}, timeout=4 * WAIT
        ) as http:
            for _ in range(int(100 * WAIT)):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            screen = await HubClient.connect(f"ws://127.0.0.1:{port}/ws", tokens["kitchen:grill"])
            await screen.subscribe("kitchen:grill")

            async def fire() -> str:
                """A burger fired on a new takeaway order, each step sent again while the shard has no master."""
                order_id = ""
                for path, body in (("/api/v1/orders", {"type": "TAKEAWAY"}), ("items", {"menu_item_id": "burger"})):
                    for _ in range(int(40 * WAIT)):
                        url = path if not order_id else f"/api/v1/orders/{order_id}/{path}"
                        answer = await http.post(url, json=body)
                        if answer.status_code != 503:
                            break
                    assert answer.status_code == 200, answer.text
                    order_id = order_id or answer.json()["result"]["order"]["id"]
                for _ in range(int(40 * WAIT)):
                    if (answer := await http.post(f"/api/v1/orders/{order_id}/fire")).status_code != 503:
                        break
                assert answer.status_code == 200, answer.text
                return order_id

            async def shown(order_id: str) -> None:
                while True:
                    event = await screen.next_event(4 * WAIT)
                    if event["type"] == "NEW_KITCHEN_ORDER" and event["data"]["ticket"]["order_id"] == order_id:
                        return

            await shown(await fire())
            servers = [
                p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() in ("redis-server", "postgres")
            ]
            assert len([p for p in servers if p.name() == "redis-server"]) == 6
            os.kill(pid, signal.SIGKILL)
            await shown(await fire())
            assert not screen.closed.is_set()
            await screen.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 4 * WAIT) == 0
        _gone, alive = psutil.wait_procs(servers, timeout=WAIT)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert not directory.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()


def test_demo_on_a_cluster_refuses_a_data_dir_or_servers_of_its_own_in_one_line(tmp_path: Path) -> None:
    """`--redis-cluster` is a throwaway on servers it starts: with --data-dir, REDIS_URL or DATABASE_URL it exits 2 with
    one line naming what to leave out, before starting anything."""
    port = str(free_port())
    out = _fireflow("demo", "--redis-cluster", "--port", port, "--data-dir", str(tmp_path / "d"), env=_env())
    assert out.returncode == 2
    assert "leave out --data-dir" in _one_line(out)
    assert not (tmp_path / "d").exists()
    out = _fireflow("demo", "--redis-cluster", "--port", port, env=_env(FIREFLOW_DATA_DIR=str(tmp_path / "e")))
    assert out.returncode == 2
    assert "leave out --data-dir and FIREFLOW_DATA_DIR" in _one_line(out)
    assert not (tmp_path / "e").exists()
    out = _fireflow("demo", "--redis-cluster", "--port", port, env=_env(REDIS_URL="redis://127.0.0.1:1/0"))
    assert out.returncode == 2
    assert "unset REDIS_URL" in _one_line(out)
    out = _fireflow("demo", "--redis-cluster", "--port", port, env=_env(DATABASE_URL="postgresql://u@127.0.0.1:1/x"))
    assert out.returncode == 2
    assert _one_line(out).endswith("unset DATABASE_URL")


@pytest.mark.parametrize("stop", ["ctrl-c", "service manager"])
async def test_demo_stopped_as_a_terminal_or_a_service_manager_does_stops_without_an_error(stop: str) -> None:
    """A terminal's Ctrl-C sends SIGINT to the demo's whole process group: the node stops its background process
    itself (that is in a group of its own, as the embedded servers are). A service manager (systemd's control group,
    a platform's dyno) sends SIGTERM to the node and its background process at once: the node takes the child's exit
    as part of its own stop, not as a death to log and restart. Either way no error or traceback is logged, and
    nothing is left running."""
    data_dir = Path(tempfile.mkdtemp(prefix="fireflow-cli-"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fireflow.hub.run.cli", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    draining = asyncio.create_task(asyncio.to_thread(proc.stdout.read))  # as it runs: a full pipe would block it
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(int(300 * WAIT)):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                assert proc.poll() is None, "demo exited early"
                await asyncio.sleep(0.05)
        family = psutil.Process(proc.pid).children(recursive=True)
        child = next(p for p in family if "durable" in " ".join(p.cmdline()))  # its background process
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            for pid in (proc.pid, child.pid):
                os.kill(pid, signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 4 * WAIT) == 0
        output = await asyncio.wait_for(draining, WAIT)
        assert "Traceback" not in output and '"level":"ERROR"' not in output, output[-3000:]
        _gone, alive = psutil.wait_procs(family, timeout=WAIT)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(draining, WAIT)  # its end of file, before the pipe is closed under it
        proc.stdout.close()
        shutil.rmtree(data_dir, ignore_errors=True)
