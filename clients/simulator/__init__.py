"""The service simulator: a realistic day of a restaurant played against a hub through protocol v1.

``plan`` decides the day (arrivals on the day part's curve, the order mix, what each party eats),
``cooks`` how long the kitchen takes, ``service`` plays it with real sockets. ``fireflow demo
--simulate`` runs it against the demo restaurant; the evaluation days are generated the same way.
"""

from fireflow.clients.simulator.cooks import DEMO_KITCHEN, KitchenModel, Slowdown, staffed_for
from fireflow.clients.simulator.plan import DAY_PARTS, Kind, ServicePlan, plan_service
from fireflow.clients.simulator.service import Report, Simulation

__all__ = [
    "DAY_PARTS",
    "DEMO_KITCHEN",
    "Kind",
    "KitchenModel",
    "Report",
    "ServicePlan",
    "Simulation",
    "Slowdown",
    "plan_service",
    "staffed_for",
]
