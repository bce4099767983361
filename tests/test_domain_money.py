"""Minor units per currency (ISO 4217) and the one rounding rule for averages, without servers."""

from __future__ import annotations

import pytest

from fireflow.hub.domain.money import MINOR_DIGITS, average, divide, major, minor_digits


def test_minor_digits_follow_iso_4217() -> None:
    """JPY 0, INR 2, KWD and BHD 3, CLF 4; an unknown or lower-case code as ISO says or 2."""
    assert [minor_digits(c) for c in ("JPY", "INR", "KWD", "BHD", "CLF", "XYZ", "jpy")] == [0, 2, 3, 3, 4, 2, 0]
    assert 2 not in MINOR_DIGITS.values()  # the table lists only the exceptions


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123456, "JPY", "123,456"),
        (123456, "INR", "1,234.56"),
        (123456, "KWD", "123.456"),
        (-5, "KWD", "-0.005"),
        (-123456, "INR", "-1,234.56"),
        (7, "INR", "0.07"),
        (0, "JPY", "0"),
    ],
)
def test_major_writes_the_currencys_own_decimals(amount: int, currency: str, text: str) -> None:
    """Minor units in major units: no decimals for yen, two for rupees, three for dinars; the sign in front."""
    assert major(amount, currency) == text


def test_a_restaurants_own_exponent_wins_over_the_table() -> None:
    """A currency the table does not know (or a restaurant that counts in whole units) sets its own digits."""
    assert major(123456, "XTS", 3) == "123.456" and major(123456, "XTS") == "1,234.56"
    assert major(123456, "INR", 0) == "123,456"


def test_an_average_rounds_by_the_rule_and_of_nothing_is_zero() -> None:
    """average is divide (half away from zero), not floor: 5 / 2 = 3; of no bills it is 0."""
    assert [average(5, 2), average(7, 3), average(-5, 2), average(100, 0)] == [3, 2, -3, 0]
    assert all(average(t, n) == divide(t, n) for t in range(-50, 50) for n in range(1, 9))
