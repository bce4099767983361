"""Fireflow Hub: the real-time kitchen-display and dispatch hub for restaurants.

The repository keeps `hub/`, `schema/`, `clients/` and `migrations/` at its top level, where people look for
them; this package links them in so the installed distribution ships one top-level name, `fireflow`, and
never a generic `schema` or `clients` that could clash with another project's in site-packages.
"""
