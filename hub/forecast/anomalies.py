"""What looks wrong today, in words a manager understands: slow orders, thin takings, staff outliers.

Pure: plain records in (durations, takings per hour, per-staff counts), :class:`Anomaly` out; no clock,
no I/O (``hub/forecast/history.py`` reads the books and calls these). Every judgement is robust (the
median and the median absolute deviation, MAD, scaled by 1.4826 to read like a standard deviation), so
one odd day in the history does not move what "usual" means, and every judgement needs a minimum of
history: with less, nothing is said about it and a note says why (never a guess dressed as a finding).

The thresholds are deliberately wide (several MADs *and* a share of the usual figure): a manager reads
these between services, and a false alarm every day teaches them to stop reading.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fireflow.hub.domain.money import divide, minor_digits
from fireflow.schema.base import StrEnum

__all__ = [
    "DASH",
    "MAD_SCALE",
    "MIN_DURATIONS",
    "MIN_STAFF_DAYS",
    "MIN_WEEKS",
    "Anomaly",
    "Duration",
    "Findings",
    "Kind",
    "Severity",
    "StaffDay",
    "money_words",
    "robust",
    "slow_orders",
    "staff_outliers",
    "takings_below_curve",
]

MAD_SCALE = 1.4826  # a MAD times this estimates the standard deviation of normal data
MIN_DURATIONS = 30  # earlier orders of a subject (a station, or whole orders) before its pace is judged
MIN_SLOW = 2  # slow orders of a subject today before it is raised (one slow plate is a Tuesday)
SLOW_SHARE = 0.10  # ... and at least this share of the subject's orders today
MIN_WEEKS = 4  # earlier same weekdays with takings before an hour's takings are judged
BELOW_SHARE = 0.25  # takings at least this far under the usual before they are called low
MIN_STAFF_DAYS = 10  # staff-days of peers before one person's day is compared with them
MIN_STAFF_COUNT = 3  # discounts (refunds, voids) in a day before one person is raised at all

SYMBOLS: Mapping[str, str] = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AED": "AED "}
DASH = "\u2013"  # the en dash of "12:00-13:00" as printed for people
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Kind(StrEnum):
    SLOW_ORDERS = "SLOW_ORDERS"
    TAKINGS_BELOW_CURVE = "TAKINGS_BELOW_CURVE"
    STAFF_DISCOUNTS = "STAFF_DISCOUNTS"
    STAFF_REFUNDS = "STAFF_REFUNDS"
    STAFF_VOIDS = "STAFF_VOIDS"


class Severity(StrEnum):
    MEDIUM = "medium"  # worth a look
    HIGH = "high"  # far outside the usual: look now


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One finding: ``subject`` is what it is about (a station, an hour, a staff id); ``figures`` the numbers
    behind ``message`` (money in minor units, times in seconds) for screens that draw rather than read."""

    kind: Kind
    severity: Severity
    subject: str
    message: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "subject": self.subject,
            "message": self.message,
            "figures": dict(self.figures),
        }


@dataclass(frozen=True, slots=True)
class Findings:
    """The anomalies, and notes on what could not be judged (too little history) and why."""

    anomalies: tuple[Anomaly, ...] = ()
    notes: tuple[str, ...] = ()

    def __add__(self, other: Findings) -> Findings:
        return Findings(self.anomalies + other.anomalies, self.notes + other.notes)


@dataclass(frozen=True, slots=True)
class Duration:
    """How long one order took from fire to ready, at one ``subject`` (a station, or ``"order"`` whole);
    ``waiting``: it is not ready yet, and has waited ``seconds`` so far."""

    subject: str
    seconds: float
    order_id: str = ""
    number: int = 0
    waiting: bool = False


@dataclass(frozen=True, slots=True)
class StaffDay:
    """One person's day: how many discounts, refunds and voids they gave, and for how much (minor units).

    A person who worked the day and gave none is a row of zeros: the peers' usual is mostly zeros.
    """

    staff: str
    day: date
    discounts: int = 0
    discount_amount: int = 0
    refunds: int = 0
    refund_amount: int = 0
    voids: int = 0
    void_amount: int = 0


def robust(values: Iterable[float]) -> tuple[float, float]:
    """The median and the scaled MAD of ``values`` (stdlib ``statistics``; at least one value)."""
    found = list(values)
    middle = statistics.median(found)
    return middle, MAD_SCALE * statistics.median(abs(v - middle) for v in found)


def money_words(amount: int, currency: str, digits: int | None = None) -> str:
    """``amount`` minor units as a manager says it: whole major units with the symbol, ``₹4,210``."""
    whole = divide(amount, 10 ** minor_digits(currency, digits))
    return f"{SYMBOLS.get(currency, currency + ' ')}{whole:,}"


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


def slow_orders(history: Sequence[Duration], today: Sequence[Duration], when: str = "today") -> Findings:
    """Subjects whose orders today took far longer than their usual, by subject.

    An order is slow past the usual (median) plus the wider of three scaled MADs and half the usual; a
    subject is raised when at least :data:`MIN_SLOW` of its orders, and :data:`SLOW_SHARE` of them, were.
    ``when``: how the day is said ("today", "on 2026-12-01").
    """
    anomalies: list[Anomaly] = []
    notes: list[str] = []
    earlier: dict[str, list[float]] = {}
    for d in history:
        earlier.setdefault(d.subject, []).append(d.seconds)
    now: dict[str, list[Duration]] = {}
    for d in today:
        now.setdefault(d.subject, []).append(d)
    for subject, durations in sorted(now.items()):
        past = earlier.get(subject, [])
        if len(past) < MIN_DURATIONS:
            notes.append(f"Pace at {_subject(subject)} not judged: {len(past)} earlier orders, {MIN_DURATIONS} needed")
            continue
        usual, spread = robust(past)
        limit = usual + max(3 * spread, 0.5 * usual)
        slow = sorted((d for d in durations if d.seconds > limit), key=lambda d: -d.seconds)
        if len(slow) < MIN_SLOW or len(slow) < SLOW_SHARE * len(durations):
            continue
        worst = slow[0]
        share = len(slow) / len(durations)
        severity = Severity.HIGH if share >= 0.25 or worst.seconds > 2 * limit else Severity.MEDIUM
        number = f" (#{worst.number})" if worst.number else ""
        slowest = (
            f"the slowest{number} is still waiting after {_minutes(worst.seconds)}"
            if worst.waiting
            else f"the slowest took {_minutes(worst.seconds)}{number}"
        )
        message = (
            f"{len(slow)} of {len(durations)} orders at {_subject(subject)} took much longer than usual {when}; "
            f"{slowest}. A usual one takes {_minutes(usual)}, and over {_minutes(limit)} is rare "
            f"(from {len(past)} earlier orders)"
        )
        figures = {
            "slow": len(slow),
            "orders": len(durations),
            "slowest_s": round(worst.seconds, 1),
            "slowest_order_id": worst.order_id,
            "slowest_number": worst.number,
            "slowest_waiting": worst.waiting,
            "waiting": sum(d.waiting for d in slow),
            "usual_s": round(usual, 1),
            "limit_s": round(limit, 1),
            "history": len(past),
        }
        anomalies.append(Anomaly(Kind.SLOW_ORDERS, severity, subject, message, figures))
    return Findings(tuple(anomalies), tuple(notes))


def _subject(subject: str) -> str:
    return "the pass (whole orders)" if subject == "order" else f"the {subject} station"


def takings_below_curve(
    day: date,
    today: Mapping[int, int],
    history: Mapping[date, Mapping[int, int]],
    hours: Iterable[int],
    currency: str,
    digits: int | None = None,
) -> Findings:
    """Hours of ``day`` whose takings fell well under the same hour of the same weekday in earlier weeks.

    ``today`` and each day of ``history``: takings (minor units) by local hour; a history day is one the
    restaurant traded (an hour with none there counts as none). ``hours``: the hours to judge (today:
    the finished ones). An hour is low when it is at least :data:`BELOW_SHARE` under the usual (median)
    and under it by more than three scaled MADs; an hour usually empty is never judged.
    """
    weekday = WEEKDAYS[day.weekday()]
    weeks = sorted(d for d in history if d.weekday() == day.weekday() and d < day)
    if len(weeks) < MIN_WEEKS:
        note = f"Takings not judged: {len(weeks)} earlier {weekday}s on the books, {MIN_WEEKS} needed"
        return Findings(notes=(note,))
    anomalies: list[Anomaly] = []
    for hour in sorted(set(hours)):
        past = [history[d].get(hour, 0) for d in weeks]
        usual, spread = robust(past)
        actual = today.get(hour, 0)
        if usual <= 0 or actual > usual * (1 - BELOW_SHARE) or actual >= usual - 3 * spread:
            continue
        below = (usual - actual) / usual
        span = f"{hour:02d}:00{DASH}{(hour + 1) % 24:02d}:00"
        usual_minor, spread_minor = round(usual), round(spread)
        message = (
            f"Takings {span} are {money_words(actual, currency, digits)}, about {round(below * 100)}% below a "
            f"usual {weekday} at this hour ({money_words(usual_minor, currency, digits)} "
            f"±{money_words(spread_minor, currency, digits)}, from {len(weeks)} weeks)"
        )
        figures = {
            "hour": hour,
            "takings": actual,
            "usual": usual_minor,
            "spread": spread_minor,
            "below_pct": round(below * 100),
            "weeks": len(weeks),
        }
        severity = Severity.HIGH if below >= 0.5 else Severity.MEDIUM
        anomalies.append(Anomaly(Kind.TAKINGS_BELOW_CURVE, severity, span, message, figures))
    return Findings(tuple(anomalies))


_STAFF_KINDS = (
    (Kind.STAFF_DISCOUNTS, "discounts", "discount_amount", "gave", "discounts"),
    (Kind.STAFF_REFUNDS, "refunds", "refund_amount", "gave", "refunds"),
    (Kind.STAFF_VOIDS, "voids", "void_amount", "made", "voids"),
)


def staff_outliers(
    day: date,
    history: Sequence[StaffDay],
    today: Sequence[StaffDay],
    names: Mapping[str, str],
    currency: str,
    digits: int | None = None,
    when: str | None = None,
) -> Findings:
    """People whose discounts, refunds or voids today stand far above their peers' usual day.

    The peers are the others' days, earlier (``history``) and on ``day`` (``today``), never the person's own:
    one who always gives many is still compared with those who do not. A person is
    raised at :data:`MIN_STAFF_COUNT` or more, past the usual (median) plus the widest of three scaled
    MADs, the usual again (twice the usual) and two.
    """
    anomalies: list[Anomaly] = []
    notes: list[str] = []
    for kind, count_of, amount_of, verb, noun in _STAFF_KINDS:
        for person in sorted(today, key=lambda p: p.staff):
            count: int = getattr(person, count_of)
            if count < MIN_STAFF_COUNT:
                continue
            peers = [getattr(p, count_of) for p in (*history, *today) if p.staff != person.staff and p.day <= day]
            name = names.get(person.staff) or person.staff
            if len(peers) < MIN_STAFF_DAYS:
                notes.append(
                    f"{name}'s {count} {noun} not compared: {len(peers)} days of colleagues, {MIN_STAFF_DAYS} needed"
                )
                continue
            usual, spread = robust(peers)
            limit = usual + max(3 * spread, usual, 2)
            if count <= limit:
                continue
            amount: int = getattr(person, amount_of)
            typical = round(usual)
            said = when or f"on {day.isoformat()}"
            message = (
                f"{name} {verb} {count} {noun} {said} ({money_words(amount, currency, digits)}), "
                f"against {typical} on a colleague's typical day (from {len(peers)} days of colleagues); worth a look"
            )
            figures = {
                "count": count,
                "amount": amount,
                "usual": typical,
                "limit": round(limit, 1),
                "peers": len(peers),
            }
            severity = Severity.HIGH if count >= 2 * limit else Severity.MEDIUM
            anomalies.append(Anomaly(kind, severity, person.staff, message, figures))
    return Findings(tuple(anomalies), tuple(notes))
