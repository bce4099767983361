"""Settings, from environment variables (``FIREFLOW_*``, ``PORT``, ``REDIS_URL``, ``DATABASE_URL``) and flags.

Everything is validated when the node starts: a mistyped mode or a limit of
zero stops it with one line per variable naming it and what it accepts
(``SettingsError.lines``), never half-way through serving. Database URLs in
any of the usual spellings (``postgres://``, ``postgresql://``) are turned
into the asyncpg one the hub uses.
"""

from __future__ import annotations

import os
import tempfile
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from annotated_types import Ge, Gt, Le
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from fireflow.hub.domain.erpnext import ErpSettings, erp_modes

__all__ = ["Settings", "SettingsError", "address"]

DurableMode = Literal["process", "inline", "off"]
RedisFsync = Literal["everysec", "always"]
PinHash = Literal["production", "test"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
LogFormat = Literal["json", "text", "auto"]
Count = Annotated[int, Gt(0)]
Positive = Annotated[float, Gt(0)]

_DURABLE_SYNONYMS = {"0": "off", "false": "off", "no": "off", "1": "process", "true": "process", "yes": "process"}
_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")


class SettingsError(ValueError):
    """Settings that cannot run a node; ``lines`` says, one line per variable, what is wrong and what is allowed."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class Settings(BaseSettings):
    """One node's settings; the description of each is what ``--help`` and the README show."""

    model_config = SettingsConfigDict(
        env_prefix="FIREFLOW_", frozen=True, validate_by_name=True, env_ignore_empty=True, extra="forbid"
    )

    redis_url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        description="live state, streams, wake-ups (unset: an embedded Redis)",
        json_schema_extra={
            "allowed": "redis://[:password@]host:port/db, rediss://…, unix://…; a Redis Cluster: "
            "redis+cluster://host:port (one node or several, comma-separated)"
        },
    )
    database_url: str | None = Field(
        None,
        validation_alias="DATABASE_URL",
        description="the durable event log and the books (unset: an embedded PostgreSQL)",
        json_schema_extra={"allowed": "postgresql://user:password@host:port/db, postgres://…"},
    )
    data_dir: Path = Field(
        Path(".fireflow"),
        description="the embedded servers' data and the secret",
        json_schema_extra={"allowed": "a directory"},
    )
    secret: str = Field(
        "",
        description="HMAC key for device tokens, shared by all nodes (unset: <data-dir>/secret)",
        json_schema_extra={"allowed": "any text"},
    )
    previous_secrets: str = Field(
        "",
        description="comma-separated former secrets whose tokens still verify (rotating FIREFLOW_SECRET)",
        json_schema_extra={"allowed": "secrets separated by commas"},
    )
    token_ttl: Positive = Field(90 * 86_400.0, description="seconds a paired device's token is valid")
    host: str = Field(
        "127.0.0.1", description="address to listen on", json_schema_extra={"allowed": "an address or host name"}
    )
    port: Annotated[int, Ge(1), Le(65535)] = Field(
        8000, validation_alias=AliasChoices("PORT", "FIREFLOW_PORT"), description="port to listen on"
    )
    history: Count = Field(10_000, description="events kept per restaurant stream for resume")
    queue_limit: Count = Field(1024, description="frames queued per socket before it is dropped with 4008")
    max_frame: Count = Field(65536, description="bytes per incoming frame / HTTP body")
    auth_timeout: Positive = Field(5.0, description="seconds to send the auth frame")
    close_timeout: Positive = Field(
        5.0, description="seconds a socket being closed gets to take the close frame before its connection is cut"
    )
    heartbeat: Positive = Field(15.0, description="seconds between hub pings; a peer silent for two is closed")
    rate: Positive = Field(100.0, description="frames per second per socket (token bucket)")
    burst: Positive = Field(200.0, description="frames a socket may send at once (token bucket)")
    http_rate: Positive = Field(50.0, description="HTTP API requests per second per device token (over it: 429)")
    http_burst: Positive = Field(100.0, description="HTTP API requests a device token may send at once")
    replay_limit: Count = Field(5000, description="a resume further behind than this gets a snapshot")
    compression: bool = Field(
        False, validation_alias="FIREFLOW_WS_COMPRESSION", description="per-message deflate on WebSockets"
    )
    # Where the durable writer runs: "process" (a child of this node, so its batches never stall
    # the sockets), "inline" (in this node's event loop), or "off" (another node or `fireflow durable`).
    durable: DurableMode = Field("process", description="where this node's durable writer runs")
    freeze_gc: bool = Field(True, description="freeze the start-up heap out of the garbage collector")
    cpu_profile: str = Field(
        "",
        description="a directory: the node and its background process sample their CPU time there (collapsed "
        "stacks, rewritten each second; hub/run/cpu_profile.py), to find where the CPU goes; unset: no sampling",
    )
    redis_pool: Count = Field(
        64,
        description="Redis connections per node for pipelines, blocking reads and (on a cluster) commands; one Redis "
        "also carries every plain command on one pipelined connection of its own (hub/live/multiplexed.py)",
    )
    redis_pool_timeout: Positive = Field(
        5.0,
        description="seconds a pipeline or (on a cluster) a command waits for a free Redis connection before"
        " answering UNAVAILABLE",
    )
    redis_replicas: Annotated[int, Ge(0)] = Field(
        1,
        description="on a Redis Cluster, replicas that must hold a command before it is acknowledged (0: the master)",
    )
    redis_replica_wait: Positive = Field(
        0.5, description="seconds a command waits for those replicas before answering UNAVAILABLE (retry: same id)"
    )
    redis_fsync: RedisFsync = Field(
        "everysec", description="the embedded Redis's appendfsync: everysec (lose at most ~1 s on power loss) or always"
    )
    result_ttl: Count = Field(
        86_400, description="seconds a command's answer is kept for its retries (and `outcome` asks)"
    )
    closed_keep: Positive = Field(
        3600.0, description="seconds a closed order stays in Redis before it moves to Postgres (archived_orders)"
    )
    durable_batch: Count = Field(500, description="events per durable writer batch")
    durable_max_lag: Positive = Field(
        30.0, description="seconds the oldest event not yet in Postgres may wait before /readyz answers 503"
    )
    # A station's screens count as live this long after their node last said so (it says so every third).
    presence_ttl: Positive = Field(15.0, description="seconds a node's kitchen screens count as live after it said so")
    due_tick: Positive = Field(0.5, description="seconds between checks for due acknowledgements and locks")
    durable_lease: Positive = Field(
        10.0,
        description="seconds a dead durable writer's restaurants wait before the other writers take them over",
    )
    due_lease: Positive = Field(
        10.0,
        description="seconds a dead node's share of the due checks waits before the other nodes take it over",
    )
    predictions: bool = Field(
        True,
        description="predict fired orders' ready times (ORDER_PREDICTED); the live nodes share the restaurants, each "
        "in its background process when it has one (FIREFLOW_DURABLE=process)",
    )
    predict_tick: Positive = Field(
        5.0,
        description="seconds between the predictor's looks at restaurants a commit woke: a fired order's first "
        "prediction comes within one, after the looks at the restaurants woken with it",
    )
    sweeps: bool = Field(
        True,
        description="self-healing sweeps: repair drifted live state, report what needs a person (nodes share them)",
    )
    sweep_every: Positive = Field(30.0, description="seconds between sweeps of every restaurant")
    erpnext_url: str | None = Field(
        None,
        validation_alias="ERPNEXT_URL",
        description="the ERPNext site settled invoices, refunds and voids are pushed to (unset: logged here only)",
        json_schema_extra={"allowed": "http(s)://host[:port]"},
    )
    erpnext_api_key: str = Field("", validation_alias="ERPNEXT_API_KEY", description="ERPNext API key (token auth)")
    erpnext_api_secret: str = Field(
        "", validation_alias="ERPNEXT_API_SECRET", description="ERPNext API secret (token auth)"
    )
    erpnext_company: str = Field(
        "",
        validation_alias="ERPNEXT_COMPANY",
        description="the company invoices are booked to (empty: the site's default)",
    )
    erpnext_walk_in_customer: str = Field(
        "Walk-in Customer",
        validation_alias="ERPNEXT_WALK_IN_CUSTOMER",
        description="the ERPNext customer of an invoice with no customer's name",
    )
    erpnext_refund_item: str = Field(
        "Refund",
        validation_alias="ERPNEXT_REFUND_ITEM",
        description="the ERPNext item a refund's revenue is given back as",
    )
    erpnext_tax_account: str = Field(
        "{code}",
        validation_alias="ERPNEXT_TAX_ACCOUNT",
        description="the account head of each tax code; {code} is replaced by the code (e.g. 'Output Tax {code} - FD')",
    )
    erpnext_service_charge_account: str = Field(
        "Service Charge",
        validation_alias="ERPNEXT_SERVICE_CHARGE_ACCOUNT",
        description="the account head of the service charge",
    )
    erpnext_modes: str = Field(
        "CASH=Cash,UPI=UPI,CARD=Credit Card,WALLET=Wallet,COD=Cash",
        validation_alias="ERPNEXT_MODES",
        description="ERPNext's mode of payment for each tender, METHOD=Mode separated by commas",
        json_schema_extra={"allowed": "METHOD=Mode,... with METHOD one of CASH, UPI, CARD, WALLET, COD"},
    )
    outbox: bool = Field(
        True,
        description="push what the books wrote to the outbox (ERPNext, the invoice archive), where this node's"
        " durable writer runs",
    )
    outbox_yield_at: Annotated[float, Ge(0), Le(1)] = Field(
        0.25,
        description="CPU pressure (the share of time a task waited for a CPU, /proc/pressure/cpu) above which the"
        " outbox's drain waits before its next batch, so a rush keeps the CPUs (1: never waits)",
    )
    outbox_yield_max: Positive = Field(
        30.0, description="seconds at most between two batches of the outbox's drain while it waits for the CPUs"
    )
    webhooks: bool = Field(
        True, description="deliver the restaurants' events to their webhooks, where this node's durable writer runs"
    )
    webhook_private: bool = Field(
        False,
        description="let webhooks reach private addresses (this machine, its network, link-local); off, a URL whose"
        " host is one is not sent to",
    )
    archive_url: str | None = Field(
        None,
        validation_alias="ARCHIVE_URL",
        description="where each invoice's JSON and PDF are archived (unset: the directory <data-dir>/archive)",
        json_schema_extra={"allowed": "s3://bucket[/prefix] (any S3-compatible store) or file:///a/directory"},
    )
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias="S3_ENDPOINT_URL",
        description="the S3-compatible store's address (MinIO, Ceph, …; unset: AWS); credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
        json_schema_extra={"allowed": "http(s)://host[:port]"},
    )
    invoice_link_ttl: Positive = Field(
        30 * 86_400.0, description="seconds a customer's invoice link (the receipt's QR code) works after the invoice"
    )
    public_url: str | None = Field(
        None,
        description="the address customers reach this hub at, which invoice links start with (unset: http://host:port)",
        json_schema_extra={"allowed": "http(s)://host[:port][/path]"},
    )
    position_interval: Positive = Field(
        1.0, description="seconds a rider's fixes must be apart; sooner ones are dropped (counted)"
    )
    position_window: Positive = Field(
        0.25, description="seconds between positions frames per restaurant; fixes in between wait, newest per rider"
    )
    position_trail: Count = Field(20, description="fixes kept per rider's trail")
    position_ttl: Positive = Field(4 * 3600.0, description="seconds a rider's fixes are kept after its last one")
    position_queue: Count = Field(
        16, description="frames waiting on a dispatcher's socket past which it misses a positions frame"
    )
    print_agent_grace: Positive = Field(
        3.0,
        description="seconds a print agent may be away (a reconnect, a node restarting) before its printers are UNKNOWN",
    )
    # "test" hashes with argon2's cheapest parameters, so a suite seeding a restaurant per test is not
    # spent hashing; a hash carries its parameters, so either kind of hash still verifies.
    pin_hash: PinHash = Field(
        "production", description="cost of managers' PIN hashes: production (argon2's defaults) or test (cheapest)"
    )
    log_level: LogLevel = Field("info", description="log level")
    log_format: LogFormat = Field(
        "auto", description="log lines as JSON objects (json), plain text (text), or text only on a terminal (auto)"
    )

    @field_validator("durable", mode="before")
    @classmethod
    def _durable_synonyms(cls, value: Any) -> Any:
        if isinstance(value, str):
            mode = value.strip().lower()
            return _DURABLE_SYNONYMS.get(mode, mode)
        return value

    @field_validator("log_level", "log_format", "redis_fsync", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in _REDIS_SCHEMES:
            raise ValueError("must be redis://host:port/db (or rediss://, unix://, redis+cluster://host:port)")
        return value

    @field_validator("cpu_profile")
    @classmethod
    def _cpu_profile(cls, value: str) -> str:
        """A directory the node can write its samples in, checked before any server starts (not after, mid-start)."""
        if value:
            try:
                Path(value).mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=value):
                    pass
            except OSError as exc:
                raise ValueError(f"must be a directory this node can write in ({exc.strerror or exc})") from None
        return value

    @field_validator("erpnext_url")
    @classmethod
    def _erpnext_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be http://host[:port] or https://host[:port] (the ERPNext site)")
        return value.rstrip("/") if value else value

    @field_validator("erpnext_modes")
    @classmethod
    def _erpnext_modes(cls, value: str) -> str:
        erp_modes(value)
        return value

    @field_validator("archive_url")
    @classmethod
    def _archive_url(cls, value: str | None) -> str | None:
        from fireflow.hub.integrations.object_store import location

        if value:
            location(value, Path("."))
        return value or None

    @field_validator("s3_endpoint_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and (not value.startswith(("http://", "https://")) or not urlsplit(value).hostname):
            raise ValueError("must be http://host[:port] or https://host[:port]")
        return value.rstrip("/") if value else None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in _POSTGRES_SCHEMES:
            raise ValueError("must be postgresql://user:password@host:port/db (or postgres://, postgresql+asyncpg://)")
        return f"postgresql+asyncpg://{rest}"

    @property
    def durable_mode(self) -> str:
        return self.durable

    @property
    def secrets(self) -> list[str]:
        """The key new tokens and links are signed with first, then former ones still accepted (rotation)."""
        return [self.secret, *(s.strip() for s in self.previous_secrets.split(",") if s.strip())]

    def as_env(self) -> dict[str, str]:
        """These settings as the environment that makes them again: how a node hands its own (its flags, the
        secret it read from its data directory, its port for links) to the background process it starts."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None or value == "":
                continue
            env[self.env_names(name)[0]] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return env

    @property
    def public_base_url(self) -> str:
        """What invoice links start with: ``FIREFLOW_PUBLIC_URL``, else this node's own address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return self.public_url or f"http://{host}:{self.port}"

    @property
    def erpnext(self) -> ErpSettings:
        """How this hub's ERPNext site names things (its accounts, customer, items and modes of payment)."""
        return ErpSettings(
            company=self.erpnext_company,
            walk_in_customer=self.erpnext_walk_in_customer,
            refund_item=self.erpnext_refund_item,
            tax_account=self.erpnext_tax_account,
            service_charge_account=self.erpnext_service_charge_account,
            modes=erp_modes(self.erpnext_modes),
        )

    @classmethod
    def from_env(cls, **changes: Any) -> Settings:
        """The environment's settings with ``changes`` (flags) on top; raises SettingsError."""
        try:
            return cls().with_(**changes)
        except ValidationError as exc:
            flags = {name for name, value in changes.items() if value is not None}
            raise SettingsError([_explain(err, flags) for err in exc.errors()]) from None

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated (a None change keeps the current value)."""
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        values = {**self.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        return type(self).model_validate(values)

    @classmethod
    def env_names(cls, name: str) -> tuple[str, ...]:
        """The environment variables that set field ``name``, in the order they are looked up."""
        alias = cls.model_fields[name].validation_alias
        if isinstance(alias, AliasChoices):
            return tuple(str(choice) for choice in alias.choices)
        if isinstance(alias, str):
            return (alias,)
        return (f"FIREFLOW_{name.upper()}",)

    @classmethod
    def allowed(cls, name: str) -> str:
        """What field ``name`` accepts, in words."""
        return _allowed(cls.model_fields[name])


def _allowed(info: FieldInfo) -> str:
    if isinstance(info.json_schema_extra, dict) and "allowed" in info.json_schema_extra:
        return str(info.json_schema_extra["allowed"])
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    if annotation is bool:
        return "1 or 0 (true/false, yes/no)"
    bounds = [m for m in info.metadata if isinstance(m, Ge | Gt | Le)]
    kind = "a whole number" if annotation is int else "a number"
    if any(isinstance(m, Le) for m in bounds):
        low = next(m.ge for m in bounds if isinstance(m, Ge))
        high = next(m.le for m in bounds if isinstance(m, Le))
        return f"{kind} from {low} to {high}"
    if any(isinstance(m, Gt) for m in bounds):
        return f"{kind} above 0"
    if bounds:
        return f"{kind}, at least {next(m.ge for m in bounds if isinstance(m, Ge))}"
    return "text"


def _explain(err: Any, flags: set[str]) -> str:
    """One line for one invalid setting: where it came from (variable or flag), the value given and what is allowed."""
    loc = err["loc"][0] if err["loc"] else ""
    name = next((n for n, f in Settings.model_fields.items() if loc in (n, *Settings.env_names(n))), None)
    if name is None:
        return f"{loc}: {err['msg']}"
    if name in flags:
        source = "--" + name.replace("_", "-")
    else:
        names = Settings.env_names(name)
        source = next((n for n in names if os.environ.get(n)), " / ".join(names))
    if err["type"] == "value_error":
        allowed = str(err["msg"]).removeprefix("Value error, ")
    else:
        allowed = "must be " + Settings.allowed(name)
    value = err.get("input")
    shown = _without_password(value) if name in ("redis_url", "database_url") and isinstance(value, str) else value
    return f"{source}={shown}: {allowed}"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def address(url: str) -> str:
    """Where ``url`` points (host:port, or the socket path), without user or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    path = parts.path if parts.path not in ("", "/") else ""
    return f"{host}:{port}{path}" if port else f"{host}{path}"
