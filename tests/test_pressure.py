"""The outbox's drain stands aside while the CPUs are fought over, never longer than its limit (pressure.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from fireflow.hub.run.config import Settings, SettingsError
from fireflow.hub.workers.pressure import PRESSURE, Yielding, cpu_stalled_us, must_wait


@pytest.mark.parametrize(
    ("share", "at", "waited_s", "most_s", "waits"),
    [
        (0.6, 0.25, 0.0, 30.0, True),  # a rush: the batch waits
        (0.25, 0.25, 0.0, 30.0, False),  # at the threshold: it goes
        (0.1, 0.25, 0.0, 30.0, False),  # quiet: it goes
        (0.9, 0.25, 30.0, 30.0, False),  # waited its longest: it goes, rush or not
        (None, 0.25, 0.0, 30.0, False),  # no pressure to read: as before there was any
        (1.01, 1.0, 0.0, 30.0, False),  # FIREFLOW_OUTBOX_YIELD_AT=1: never waits
        (0.9, None, 0.0, 30.0, False),
    ],
)
def test_a_batch_waits_only_under_pressure_and_never_past_its_limit(
    share: float | None, at: float | None, waited_s: float, most_s: float, waits: bool
) -> None:
    assert must_wait(share, at, waited_s, most_s) is waits


def test_the_kernels_stall_total_is_read_and_anything_else_is_none(tmp_path: Path) -> None:
    """The "some" line's total, in microseconds; a missing file or another format reads as unknown."""
    found = tmp_path / "cpu"
    found.write_text(
        "some avg10=1.50 avg60=6.64 avg300=12.78 total=7219030223\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    assert cpu_stalled_us(found) == 7_219_030_223
    assert cpu_stalled_us(tmp_path / "missing") is None
    found.write_text("nonsense\n")
    assert cpu_stalled_us(found) is None
    if PRESSURE.exists():  # this machine's kernel: a count that only grows
        first = cpu_stalled_us()
        assert first is not None and first >= 0


class _Stalls:
    """A CPU stall counter as the kernel keeps it, for a machine where ``share`` of wall time some task waits."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.started = time.monotonic()

    def __call__(self) -> int:
        return int((time.monotonic() - self.started) * self.share * 1e6)


async def test_under_pressure_the_drain_waits_its_longest_then_goes() -> None:
    """With a task waiting for a CPU 90 % of the time, each batch waits (looking again every look_s) until
    most_s has passed since the last one went; then it goes."""
    gate = Yielding(0.25, most_s=0.3, stalled=_Stalls(0.9), look_s=0.05)
    await asyncio.sleep(0.06)  # a window long enough to say something
    started = time.monotonic()
    await asyncio.wait_for(gate.turn(), 5)
    assert time.monotonic() - started >= 0.2 and gate.waits >= 2
    looked = gate.waits
    started = time.monotonic()
    await asyncio.sleep(0.06)  # the batch's own time
    await asyncio.wait_for(gate.turn(), 5)  # the next one waits again, counted from when the last one went
    assert time.monotonic() - started >= 0.2 and gate.waits > looked


async def test_on_quiet_cpus_or_unreadable_pressure_the_drain_goes_at_once() -> None:
    for gate in (
        Yielding(0.25, most_s=30.0, stalled=_Stalls(0.05), look_s=0.05),
        Yielding(0.25, most_s=30.0, stalled=lambda: None, look_s=0.05),
        Yielding(1.0, most_s=30.0, stalled=_Stalls(1.0), look_s=0.05),
    ):
        await asyncio.sleep(0.06)
        for _ in range(3):
            await asyncio.wait_for(gate.turn(), 5)
            await asyncio.sleep(0.06)  # the batch's own time
        assert gate.waits == 0  # not one look found it had to wait


def test_the_threshold_is_a_share_and_the_default_stands_aside_in_a_rush(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIREFLOW_OUTBOX_YIELD_AT is a share of time from 0 to 1; by default the drain waits above a quarter."""
    assert Settings().outbox_yield_at == 0.25 and Settings().outbox_yield_max == 30.0
    monkeypatch.setenv("FIREFLOW_OUTBOX_YIELD_AT", "1.5")
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert err.value.lines == ["FIREFLOW_OUTBOX_YIELD_AT=1.5: must be a number from 0 to 1"]
