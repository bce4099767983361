"""The contracts of Fireflow Hub: wire protocol v1 and the Postgres tables.

Everything another program needs to talk to the hub is defined here once, as
pydantic models; ``schema/protocol.schema.json`` is generated from them
(``python -m fireflow.hub.run.documents``) for clients written in other languages.
"""
