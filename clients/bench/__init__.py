"""``fireflow bench kitchen|broadcast|idle|settle``: measure one hub process under a realistic load.

The bench starts everything itself so that a figure always comes with the
same setup: embedded Redis and Postgres in a temporary directory (unless
REDIS_URL / DATABASE_URL are set), migrations, seeded restaurants, ONE hub
process (``python -m fireflow.hub.run.cli serve``), and the load generator
(``clients/loadgen.py``) in its own processes, so the hub's CPU and memory
(read with psutil) are its own. ``--baseline`` runs the same load against a
bare websockets broadcast server (``clients/baseline.py``) in the same run
and prints hub/baseline ratios: on a shared 2-core machine the ratio says
more than the absolute numbers.

Scenarios, one module each: ``kitchen``, ``broadcast``, ``idle``, ``settle``
(their docstrings say what they measure), each a ``scenario.Scenario``.
Around them: ``cli`` (options, the hub-then-baseline run), ``environment``
(servers, seeding, tokens), ``servers`` (the process under test), ``workers``
(the generator processes), ``load`` (a server with the generator attached, and
a step's figures), ``usage`` (CPU time) and ``report`` (output).

Progress goes to stderr; figure lines to stdout.
"""

from __future__ import annotations

from fireflow.clients.bench.cli import run

__all__ = ["run"]
