"""The pure domain: state machines, permissions and views, with no I/O.

Nothing here imports asyncio, redis, sqlalchemy or starlette, or reads the
clock: ``now`` (ms since the epoch) is always passed in. A test checks it.
"""
