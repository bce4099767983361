"""Log lines that say whose they are: restaurant, device and command on every line inside a command.

The bus and the transports put who is asking into a context variable
(``log_context`` for one command or request, ``bind_actor`` for the rest of a
socket's session); the handler ``configure`` installs copies it onto each
record as it is emitted, so a line logged deep inside a command carries the
command's ``restaurant``, ``device``, ``command_id`` and ``command`` without
any code passing them along. Lines go out as one JSON object each (for log
collectors) or as plain text (for a terminal): ``FIREFLOW_LOG_FORMAT``
``json``, ``text`` or ``auto`` (text when stderr is a terminal).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

import orjson

from fireflow.hub.domain.actors import Actor

__all__ = [
    "FIELDS",
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "bind_actor",
    "configure",
    "handler",
    "log_context",
]

FIELDS = ("restaurant", "device", "command_id", "command")

_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("fireflow_log_context", default=MappingProxyType({}))


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Every line logged inside this block (in this task) carries ``fields``."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_actor(actor: Actor) -> None:
    """Every line logged from now on in the current task carries this device and its restaurant (a socket's session)."""
    _CONTEXT.set({**_CONTEXT.get(), "restaurant": actor.restaurant_id, "device": actor.device_id})


class ContextFilter(logging.Filter):
    """Copies the context's fields onto each record, where the caller logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key in FIELDS if (value := getattr(record, key, None)) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context's fields and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message [restaurant=… device=… command_id=… command=…]`` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if not fields:
            return text
        head, newline, rest = text.partition("\n")  # the fields stay on the message's line, before a traceback
        return head + " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]" + newline + rest


def handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``log_format`` (json, text or auto) to ``stream`` (stderr), with the context's fields."""
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    out = logging.StreamHandler(stream)
    out.addFilter(ContextFilter())
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return out


def configure(log_format: str, level: int | str) -> None:
    """The process's logging: one handler on the root logger (uvicorn's loggers propagate to it too)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(log_format))
    root.setLevel(level)
