"""``fireflow bench`` at toy sizes: every scenario runs end to end and prints its figure lines.

Nothing here asserts performance (this machine's figures mean nothing in CI);
it guards the plumbing: hub and baseline processes, generator workers, the
fire plan, the shared clock and the cleanup.
"""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest

from fireflow.clients import bench
from tests.conftest import WAIT, Servers


@pytest.fixture
def bench_env(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", servers.redis_url)
    monkeypatch.setenv("DATABASE_URL", servers.database_url)
    monkeypatch.setenv("FIREFLOW_LOG_LEVEL", "WARNING")


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.mark.parametrize(
    ("scenario", "argv", "lines"),
    [
        (
            "kitchen",
            ["--sockets", "20", "--restaurants", "2", "--rate", "5", "--duration", "2", "--drain", "2", "--acks"],
            [
                # 10 fires, each one ticket a station shown on 2 screens (checked below), none refused
                r"^kitchen\[hub\]: p50=\S+ p99=\S+ max=\S+ deliveries/s=\d+ lost=0 hub_rss=\d+MiB hub_cpu=\d+%"
                r"\(sys=\d+%\) background_cpu=\d+% .*node_gc=\d+x/\d+ms .*tickets_acked=\d+ acks_covered=\d+ "
                r"other_frames=\d+ "
                r"cpu/delivery=\d+us \(node -?\d+, background -?\d+\) (?!.*ticket_acks_refused)"
            ],
        ),
        (
            "broadcast",
            ["--sockets", "20", "--rates", "2,5", "--step", "1", "--drain", "1", "--procs", "2", "--baseline"],
            [
                r"^broadcast\[hub\] step: rate=2/s deliveries/s=\d+ lost=\d+ p50=\S+ p99=\S+",
                r"^broadcast\[hub\]: (held|lossless)=",
                r"^broadcast\[baseline\]: (held|lossless)=",
                r"^broadcast: hub/baseline held deliveries/s=\S+",
            ],
        ),
        (
            "riders",
            [
                *("--sockets", "10", "--restaurants", "2", "--riders", "6", "--every", "0.5", "--alone", "1"),
                *("--rate", "4", "--duration", "1", "--drain", "1"),
            ],
            [
                r"^riders\[hub\] alone: positions/s=\d+ hub_cpu=\d+% cpu/position=\d+us .*dispatcher p50=\S+ p99=\S+",
                r"^riders\[hub\] with kitchen: positions/s=\d+ .*dispatcher p50=\S+ p99=\S+",
                r"^riders\[hub\] kitchen: p50=\S+ p99=\S+ deliveries/s=\d+ lost=0",
            ],
        ),
        (
            "soak",
            ["--days", "2", "--day", "3", "--orders", "3", "--restaurants", "2", "--sockets", "2"],
            [
                r"^soak day 1: redis_used=[\d.]+MiB keys=\d+ closed_in_redis=\d+ orders_so_far=6 commands/s=\d+ .*errors=0",
                r"^soak day 2: redis_used=[\d.]+MiB keys=\d+ closed_in_redis=\d+ orders_so_far=12 ",
                r"^soak: redis_used MiB by day=\[[\d.]+, [\d.]+\] last/first_full_day=[\d.]+x archived_orders=\d+ .*errors=0",
            ],
        ),
        (
            "settle",
            ["--sockets", "3", "--restaurants", "2", "--orders", "60", "--after", "0.5"],
            [
                r"^settle: settlements/s=\d+ p50=\S+ p99=\S+ settled=60 invoices_in_postgres=60 unbalanced=0 errors=0 "
                r"cashiers=3 restaurants=2 hub_cpu=\d+% hub_ms_per_settlement=[\d.]+ \(node [\d.]+, background -?[\d.]+\) "
                r"per_commit=(?!0\.0)[\d.]+ outbox_pending=\d+ outbox_after=\d+/s$",
            ],
        ),
        (
            "idle",
            ["--sockets", "20", "--restaurants", "2", "--settle", "0.5", "--baseline", "--runs", "2"],
            [
                r"^idle\[hub\]: sockets=20 rss_before=\d+MiB rss_after=\d+MiB per_connection=-?[\d.]+KiB",
                r"^idle\[baseline\]: sockets=20 ",
                r"^idle: hub/baseline memory/connection=\S+",
                # two runs, each on fresh servers: the medians, each run's figure in brackets
                r"^idle\[hub\] median of 2 runs: KiB/socket=\S+ \(\S+ \S+\) idle_cpu_%=\S+ \(\S+ \S+\)$",
                r"^idle\[baseline\] median of 2 runs: KiB/socket=\S+ \(\S+ \S+\) ",
            ],
        ),
    ],
)
@pytest.mark.usefixtures("bench_env")
def test_scenario_runs_and_prints_its_figures(
    scenario: str, argv: list[str], lines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = _children()
    assert bench.run(scenario, argv) == 0
    out = capsys.readouterr().out
    for pattern in lines:
        assert re.search(pattern, out, re.MULTILINE), f"no line matching {pattern!r} in:\n{out}"
    if scenario == "kitchen":
        # Each of the 80 showings is acknowledged or left out, another screen's TICKET_ACKED having come first;
        # every ticket at least once, and the screens' moments (up to a second apart) leave most second ones out.
        acked, covered = (int(n) for n in re.findall(r"tickets_acked=(\d+) acks_covered=(\d+)", out)[0])
        assert (acked + covered, acked >= 40, covered > 0) == (80, True, True), out
    # A child told to stop may take a moment to exit on a busy machine (the hub's durable writer dies
    # with its parent): wait for it, but one still alive after that was left behind.
    extra = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _, alive = psutil.wait_procs(extra, timeout=WAIT)
    assert not alive, f"the bench left processes behind: {[' '.join(p.cmdline()[:4]) for p in alive]}"


@pytest.mark.parametrize(
    ("scenario", "argv", "part", "measured", "before"),
    [
        # the firing's samples, not the preparing's: commands (60 fires), and no order opened or added to
        (
            "kitchen",
            ["--sockets", "20", "--restaurants", "2", "--rate", "20", "--duration", "3", "--drain", "1"],
            "firing",
            "CommandBus.execute (",
            ("add_item (", "open_order ("),
        ),
        # the rush's samples: payments (150), and no order opened for them
        (
            "settle",
            ["--sockets", "3", "--restaurants", "2", "--orders", "150", "--after", "0.5"],
            "rush",
            "Settler.pay (",
            ("add_item (", "open_order ("),
        ),
    ],
)
@pytest.mark.usefixtures("bench_env")
def test_a_bench_with_a_profile_writes_where_the_hub_s_cpu_went_while_measured(
    scenario: str,
    argv: list[str],
    part: str,
    measured: str,
    before: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench.run(scenario, [*argv, "--profile", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for process in ("node", "background"):  # the node, and its background process (writer and predictor)
        found = rf"^profile\[{process}\]: samples=\d+ file=\S+/{part}/{process}-\d+\.folded busiest: "
        assert re.search(found, out, re.M), out
    [node] = (tmp_path / part).glob("node-*.folded")
    stacks = [line.rpartition(" ")[0] for line in node.read_text().splitlines()]
    assert any(measured in stack for stack in stacks)
    assert not any(frame in stack for stack in stacks for frame in before)
