"""Distances and directions on the Earth's surface, for batches, the dispatch map and ETAs.

A spherical Earth (haversine) is within 0.5 % of the ellipsoid at a city's scale, which is far
finer than a rider's GPS or the streets' detours; no projection library is needed for that.
"""

from __future__ import annotations

import math

from fireflow.schema.base import GeoPoint

__all__ = ["EARTH_RADIUS_M", "bearing_deg", "compass", "distance_m"]

EARTH_RADIUS_M = 6_371_000.0
_POINTS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """The great-circle distance from ``a`` to ``b`` in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: GeoPoint, b: GeoPoint) -> float:
    """The initial direction from ``a`` to ``b``, degrees clockwise from north in [0, 360)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlon = math.radians(b.lon - a.lon)
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return math.degrees(math.atan2(x, y)) % 360


def compass(bearing: float) -> str:
    """The bearing as one of eight compass points, as a dispatcher says it ("NE")."""
    return _POINTS[round(bearing / 45) % 8]
