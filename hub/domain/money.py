"""Integer money: the one rounding rule, percentages in basis points, and exact allocation.

Amounts are integers in minor units; no float is ever involved, not even in
between. **The rounding rule**: a quotient that is not a whole number of minor
units is rounded half away from zero (``divide(5, 2) == 3``,
``divide(-5, 2) == -3``, ``divide(7, 3) == 2``). Everything that rounds goes
through :func:`divide`.

Where parts must add up to a whole (an order discount over its lines, a refund
over the accounts it reverses), :func:`allocate` splits the whole by largest
remainder, so the parts sum to it exactly: rounding never loses or creates a
minor unit.

How many minor units make a major one depends on the currency: its ISO 4217
exponent, from the one table here (:data:`MINOR_DIGITS`; 2 unless listed), so
100 paise are a rupee, a yen has no minor unit, and 1000 fils are a dinar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

__all__ = ["BP", "MINOR_DIGITS", "allocate", "average", "divide", "major", "minor_digits", "percent_of"]

BP = 10_000  # basis points in 100 %

# ISO 4217 minor-unit exponents that are not 2 (every other currency has 2).
_NO_MINOR_UNIT = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DIGITS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DIGITS = "CLF UYW"
MINOR_DIGITS: Mapping[str, int] = MappingProxyType(
    {
        **dict.fromkeys(_NO_MINOR_UNIT.split(), 0),
        **dict.fromkeys(_THREE_DIGITS.split(), 3),
        **dict.fromkeys(_FOUR_DIGITS.split(), 4),
    }
)


def minor_digits(currency: str, own: int | None = None) -> int:
    """Digits after the decimal point in ``currency`` (ISO 4217): JPY 0, INR 2, KWD 3; 2 if unknown.

    ``own`` is a restaurant's own setting (``Restaurant.minor_digits``), which wins when given: a
    currency the table does not know may use 0 or 3.
    """
    return own if own is not None else MINOR_DIGITS.get(currency.upper(), 2)


def major(amount: int, currency: str, digits: int | None = None) -> str:
    """``amount`` minor units written in major units with the currency's decimals: ``-1,234.567`` (KWD)."""
    digits = minor_digits(currency, digits)
    whole, part = divmod(abs(amount), 10**digits)
    sign = "-" if amount < 0 else ""
    return f"{sign}{whole:,}" + (f".{part:0{digits}d}" if digits else "")


def divide(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero."""
    if denominator == 0:
        raise ZeroDivisionError("division by zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def average(total: int, count: int) -> int:
    """``total / count`` by the rounding rule; 0 when there is nothing to average (an average bill of no bills)."""
    return divide(total, count) if count else 0


def percent_of(amount: int, bp: int) -> int:
    """``bp`` basis points of ``amount``, rounded by the rule."""
    return divide(amount * bp, BP)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` so the parts sum exactly to ``total``.

    Each part is first the floor of its exact share; the units left over go
    one each to the parts with the largest remainders, ties to the earlier
    part. So ``allocate(100, [1, 1, 1]) == [34, 33, 33]``, each part is within
    one unit of its exact share, and when ``0 <= total <= sum(weights)`` no
    part exceeds its weight. Weights that are all zero share equally.
    """
    if not weights:
        if total:
            raise ValueError(f"cannot allocate {total} over nothing")
        return []
    if any(weight < 0 for weight in weights):
        raise ValueError(f"weights must not be negative: {list(weights)}")
    if total < 0:
        return [-part for part in allocate(-total, weights)]
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [divmod(total * weight, whole) for weight in weights]
    parts = [floor for floor, _ in shares]
    left = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts
