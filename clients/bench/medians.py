"""``fireflow bench NAME --runs N``: each figure's median over N runs, the hub's next to the same runs' baseline.

One run of a bench on a shared machine says little: its pace moves by a third from hour to hour. What a
note quotes is the median of several runs and, for the baseline, the ratio within each run (hub and bare
server measured minutes apart on the same machine), then the median of those ratios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import median

__all__ = ["Figures", "summary"]

Figures = Mapping[str, float]  # a run's figures by name, the unit in the name ("p99_ms")


def _number(value: float) -> str:
    """Three significant digits, and no exponent: 181, 5.4, 0.83, 75000."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _medians(runs: Sequence[Figures]) -> str:
    names = [name for name in runs[0] if all(name in run for run in runs)]
    return " ".join(
        f"{name}={_number(median(run[name] for run in runs))} ({' '.join(_number(run[name]) for run in runs)})"
        for name in names
    )


def summary(name: str, hub: Sequence[Figures], baseline: Sequence[Figures]) -> list[str]:
    """The lines after N runs: the hub's medians (each run's value in brackets, in run order); with a baseline,
    its medians and the median of each run's hub/baseline ratio (a run whose baseline figure is 0 has none)."""
    if not hub:
        return []
    runs = len(hub)
    lines = [f"{name}[hub] median of {runs} runs: {_medians(hub)}"]
    if baseline:
        lines.append(f"{name}[baseline] median of {runs} runs: {_medians(baseline)}")
        ratios = [
            {k: ours[k] / theirs[k] for k in ours if theirs.get(k)} for ours, theirs in zip(hub, baseline, strict=True)
        ]
        if all(ratios):
            lines.append(f"{name}: hub/baseline median of {runs} runs: {_medians(ratios)}")
    return lines
