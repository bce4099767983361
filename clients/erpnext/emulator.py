"""A loopback ERPNext: the part of Frappe's REST API that books Sales Invoices, failing on demand.

The hub books each settled invoice in ERPNext as a Sales Invoice (a refund as a return, a void as a
cancel). Tests and the demo need a site that answers as a real one does and that can be made to fail,
to drop the connection or to answer late. The core, :class:`SalesInvoices`, is pure (a document's
data and ``now`` in; the stored document or a :class:`FrappeError` out; no clock, no I/O).
:class:`ErpNextEmulator` is the thin ASGI shell: Frappe's authentication, routes and JSON, the faults,
and a record of what was received. :func:`serve_emulator` serves it on a free loopback port.

As a real site does (read in frappe's ``app.py``, ``auth.py``, ``api/v1.py``, ``client.py``,
``utils/response.py``, ``model/base_document.py``, ``model/document.py``, and erpnext's
``controllers/sales_and_purchase_return.py`` and ``controllers/accounts_controller.py``):

- ``Authorization: token key:secret`` or ``Basic base64(key:secret)``: a wrong pair (any two-word
  Authorization header that fails) is 401 AuthenticationError; no header runs the request as Guest,
  which is refused 403 PermissionError (only ``frappe.ping`` serves Guests);
- errors are JSON: ``exc_type``; ``exception`` and ``exc`` for a signed-in user except on 404;
  ``_server_messages``, a JSON list of JSON-encoded messages, for what ``frappe.msgprint`` showed;
- a second invoice with a ``fireflow_id`` already stored breaks that custom field's unique index:
  417 UniqueValidationError "Fireflow ID must be unique" (409 DuplicateEntryError is for a clash of
  ``name``, which a naming series never produces); nothing is stored, no number of the series is used.
  Text compares as MariaDB's default collation does: case-blind, trailing spaces ignored.

Exceptions and their HTTP status (:data:`EXCEPTIONS`)::

    ValidationError 417 ─┬─ MandatoryError, UniqueValidationError, DocstatusTransitionError,
                         │  LinkExistsError, InvalidQtyError (erpnext)
                         ├─ LinkValidationError ── CancelledLinkError
                         └─ DoesNotExistError 404
    AuthenticationError 401   PermissionError 403   DuplicateEntryError 409
    InvalidAuthorizationToken 400   TooManyRequestsError 429   SessionStopped 503

Faults, by method or by the control endpoints under ``/_emulator/`` (no auth, not recorded, never faulted):

- ``fail_next(count, status)`` / ``POST /_emulator/fail {"count", "status"}``: answered, not processed
  (502 and 504 as nginx's HTML page, other statuses as Frappe's JSON);
- ``drop_next(count, after_processing=)`` / ``POST /_emulator/drop {"count", "after_processing"}``: the
  connection closes without an answer, before or after the request took effect;
- ``set_down(True)`` / ``POST /_emulator/down``: every request 503 SessionStopped (maintenance mode)
  until ``set_down(False)`` / ``POST /_emulator/up``;
- ``slow(seconds)`` / ``POST /_emulator/slow {"seconds"}``: each request takes effect at once and its
  answer leaves that much later (a client that gave up must not assume nothing happened);
- ``received``, ``docs`` / ``GET /_emulator/received``, ``/_emulator/docs``, ``/_emulator/faults``;
  ``reset()`` / ``POST /_emulator/reset``.

Not modelled: doctypes other than Sales Invoice, PUT and DELETE, multipart forms, masters (customers,
items, accounts are not checked), currencies, discounts, rounding, stock, and ``/api/v2``.

Run it from a terminal (``--port 0``: a free port, shown on the line it prints when ready)::

    python -m fireflow.clients.erpnext.emulator --port 8000 --api-key KEY --api-secret SECRET
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import copy
import hashlib
import hmac
import logging
import signal
import socket
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "EXCEPTIONS",
    "ErpNextEmulator",
    "FrappeError",
    "Received",
    "SalesInvoices",
    "main",
    "serve_emulator",
]

logger = logging.getLogger(__name__)

SALES_INVOICE = "Sales Invoice"
NAMING_SERIES = "ACC-SINV-.YYYY.-"
UNIQUE_FIELD, UNIQUE_LABEL = "fireflow_id", "Fireflow ID"
CONTROL = "/_emulator/"
RECEIVED_LIMIT = 10_000  # the oldest requests are forgotten past this many

# exception class → (HTTP status, module that raises it)
EXCEPTIONS: dict[str, tuple[int, str]] = {
    "ValidationError": (417, "frappe.exceptions"),
    "MandatoryError": (417, "frappe.exceptions"),
    "LinkValidationError": (417, "frappe.exceptions"),
    "CancelledLinkError": (417, "frappe.exceptions"),
    "UniqueValidationError": (417, "frappe.exceptions"),
    "DocstatusTransitionError": (417, "frappe.exceptions"),
    "LinkExistsError": (417, "frappe.exceptions"),
    "InvalidQtyError": (417, "erpnext.controllers.accounts_controller"),
    "DoesNotExistError": (404, "frappe.exceptions"),
    "AuthenticationError": (401, "frappe.exceptions"),
    "PermissionError": (403, "frappe.exceptions"),
    "DuplicateEntryError": (409, "frappe.exceptions"),
    "InvalidAuthorizationToken": (400, "frappe.exceptions"),
    "TooManyRequestsError": (429, "frappe.exceptions"),
    "SessionStopped": (503, "frappe.exceptions"),
    "JSONDecodeError": (500, "json.decoder"),
    "TypeError": (500, "builtins"),
    "ValueError": (500, "builtins"),
    "NotImplementedError": (501, "builtins"),
}
# what an injected failure of that status says it was: Frappe's first class with that status (else "Exception")
_BY_STATUS = {status: name for name, (status, module) in reversed(EXCEPTIONS.items()) if module == "frappe.exceptions"}
T = TypeVar("T")


class FrappeError(Exception):
    """A request Frappe refuses: the exception class's name, its text, and the messages it showed."""

    def __init__(
        self, exc_type: str, text: str = "", *, messages: Sequence[Mapping[str, Any]] = (), error_message: str = ""
    ) -> None:
        super().__init__(f"{exc_type}: {text}")
        self.exc_type = exc_type
        self.text = text
        self.messages = tuple(dict(message) for message in messages)
        self.error_message = error_message

    @property
    def status(self) -> int:
        return EXCEPTIONS.get(self.exc_type, (500, ""))[0]

    def body(self, *, traceback: bool) -> dict[str, Any]:
        """Frappe's JSON (API v1); ``traceback``: the user may see it (a signed-in user, not on a 404)."""
        body: dict[str, Any] = {"exc_type": self.exc_type}
        if traceback:
            module = EXCEPTIONS.get(self.exc_type, (500, "builtins"))[1]
            body["exception"] = f"{module}.{self.exc_type}" + (f": {self.text}" if self.text else "")
            trace = f"Traceback (most recent call last):\n  (ERPNext emulator)\n{body['exception']}"
            body["exc"] = orjson.dumps([trace]).decode()
        if self.messages:
            body["_server_messages"] = orjson.dumps([orjson.dumps(m).decode() for m in self.messages]).decode()
        if self.error_message:
            body["_error_message"] = self.error_message
        return body


def _shown(message: str) -> dict[str, Any]:
    """A message as ``frappe.msgprint`` logs it."""
    return {"message": message, "title": "Message"}


def _throw(exc_type: str, message: str, title: str = "Message") -> FrappeError:
    """``frappe.throw(message, exc)``: the message shown in red, and the exception raised with it."""
    shown = {"message": message, "title": title, "indicator": "red", "raise_exception": 1}
    return FrappeError(exc_type, message, messages=[shown])


# -- the site: Sales Invoices in memory ---------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    field: str
    doctype: str
    mandatory: tuple[tuple[str, str], ...]  # (fieldname, label)


_ITEMS = _Table("items", "Sales Invoice Item", (("item_code", "Item Code"), ("qty", "Quantity"), ("rate", "Rate")))
_PAYMENTS = _Table("payments", "Sales Invoice Payment", (("mode_of_payment", "Mode of Payment"), ("amount", "Amount")))
_TAXES = _Table(
    "taxes",
    "Sales Taxes and Charges",
    (("charge_type", "Type"), ("account_head", "Account Head"), ("description", "Description")),
)
_TABLES = (_ITEMS, _PAYMENTS, _TAXES)
_CHARGE_TYPES = ("", "Actual", "On Net Total", "On Previous Row Amount", "On Previous Row Total", "On Item Quantity")
_OPERATORS = frozenset({"=", "!=", "in", "not in", "is"})


def _flt(value: Any) -> float:
    """``frappe.utils.flt``: the number, or 0 for anything that is not one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _cint(value: Any) -> int:
    return int(_flt(value))


def _has_content(value: Any) -> bool:
    return value is not None and value != [] and str(value).strip() != ""


def _same(a: Any, b: Any) -> bool:
    """SQL's ``=`` in MariaDB's default collation: numbers by value, text case-blind, trailing spaces ignored."""
    if a is None or b is None:
        return False
    if isinstance(a, int | float) or isinstance(b, int | float):
        return _flt(a) == _flt(b) and (_has_content(a) and _has_content(b))
    return str(a).casefold().rstrip(" ") == str(b).casefold().rstrip(" ")


def _sort_key(field: str) -> Callable[[Mapping[str, Any]], tuple[int, float, str]]:
    """Order by ``field`` as SQL does: NULL first, then numbers, then text."""

    def key(doc: Mapping[str, Any]) -> tuple[int, float, str]:
        value = doc.get(field)
        if value is None:
            return (0, 0.0, "")
        if isinstance(value, int | float):
            return (1, float(value), "")
        return (2, 0.0, str(value))

    return key


def _column(field: str) -> tuple[str, str]:
    """``"`tabSales Invoice`.name as id"`` → ``("name", "id")``: the column a field names, and its key in the row."""
    column, _, alias = field.replace("`", "").partition(" as ")
    column = column.strip().rpartition(".")[2]
    return column, alias.strip() or column


class SalesInvoices:
    """One site's Sales Invoices in memory, checked and numbered as ERPNext does; no clock, no I/O."""

    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Any]] = {}
        self._last: dict[str, int] = {}  # naming series prefix → last number used

    @property
    def docs(self) -> list[dict[str, Any]]:
        """Every stored invoice, in the order they were made."""
        return copy.deepcopy(list(self._docs.values()))

    def get(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._stored(name))

    def _stored(self, name: str) -> dict[str, Any]:
        doc = self._docs.get(name)
        if doc is None:
            raise _throw("DoesNotExistError", f"{SALES_INVOICE} {name} not found")
        return doc

    def insert(self, data: Mapping[str, Any], *, user: str, now: datetime) -> dict[str, Any]:
        """``POST /api/resource/Sales Invoice``: the invoice named, totalled and stored (``docstatus`` 1: submitted)."""
        doc = {key: copy.deepcopy(value) for key, value in data.items() if key not in ("doctype", "name")}
        docstatus = _cint(doc.get("docstatus"))
        if docstatus == 2:
            raise FrappeError("DocstatusTransitionError", "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
        if docstatus not in (0, 1):
            raise FrappeError("ValidationError", "Invalid docstatus")
        prefix = f"ACC-SINV-{now:%Y}-"
        number = self._last.get(prefix, 0) + 1
        name = f"{prefix}{number:05d}"
        tables = {table.field: _rows(doc, table, name) for table in _TABLES}
        self._validate(doc, name, tables)
        self._last[prefix] = number
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        standard = {"owner": user, "creation": stamp, "modified": stamp, "modified_by": user, "docstatus": docstatus}
        doc.update(name=name, doctype=SALES_INVOICE, idx=0, naming_series=NAMING_SERIES, **standard)
        doc["is_return"] = _cint(doc.get("is_return"))
        doc.setdefault("posting_date", now.date().isoformat())
        for table in _TABLES:
            for idx, row in enumerate(tables[table.field], 1):
                row_name = hashlib.sha1(f"{name}/{table.field}/{idx}".encode()).hexdigest()[:10]
                row.update(name=row_name, idx=idx, parent=name, parentfield=table.field, parenttype=SALES_INVOICE)
                row.update(doctype=table.doctype, **standard)
            doc[table.field] = tables[table.field]
        for row in doc["items"]:
            row["qty"], row["rate"] = _flt(row["qty"]), _flt(row["rate"])
            row["amount"] = round(row["qty"] * row["rate"], 2)
        _set_totals(doc)
        self._docs[name] = doc
        return copy.deepcopy(doc)

    def _validate(self, doc: dict[str, Any], name: str, tables: dict[str, list[dict[str, Any]]]) -> None:
        missing: list[tuple[str, str]] = []
        if not _has_content(doc.get("customer")):
            missing.append(("customer", f"Error: Value missing for {SALES_INVOICE}: Customer"))
        if not tables["items"]:
            missing.append(("items", "Error: Data missing in table: Items"))
        for table in _TABLES:
            for idx, row in enumerate(tables[table.field], 1):
                for field, label in table.mandatory:
                    if not _has_content(row.get(field)):
                        said = f"Error: <strong>{table.doctype}</strong> Row #{idx}: Value missing for: {label}"
                        missing.append((field, said))
        if missing:
            fields = ", ".join(field for field, _ in missing)
            raise FrappeError(
                "MandatoryError", f"[{SALES_INVOICE}, {name}]: {fields}", messages=[_shown(m) for _, m in missing]
            )
        against = doc.get("return_against")
        if _has_content(against):
            ref = self._docs.get(str(against))
            if ref is None:
                raise _throw("LinkValidationError", f"Could not find Return Against: {against}")
            if ref["docstatus"] == 2:
                raise _throw("CancelledLinkError", f"Cannot link cancelled document: Return Against: {against}")
        for idx, row in enumerate(tables["taxes"], 1):
            kind = str(row.get("charge_type")).strip()
            if kind not in _CHARGE_TYPES:
                options = '", "'.join(_CHARGE_TYPES)
                raise _throw("ValidationError", f'Row #{idx}: Type cannot be "{kind}". It should be one of "{options}"')
        for idx, row in enumerate(tables["items"], 1):
            if not _flt(row.get("qty")):
                said = f"Row #{idx}: Quantity for Item <strong>{row.get('item_code')}</strong> cannot be zero."
                raise _throw("InvalidQtyError", said, title="Invalid Quantity")
        if _cint(doc.get("is_return")):
            self._validate_return(doc, tables["items"])
        value = doc.get(UNIQUE_FIELD)
        if _has_content(value) and any(_same(value, other.get(UNIQUE_FIELD)) for other in self._docs.values()):
            cause = f"IntegrityError(1062, \"Duplicate entry '{value}' for key '{UNIQUE_FIELD}'\")"
            unique = _shown(f"{UNIQUE_LABEL} must be unique")
            raise FrappeError("UniqueValidationError", f"('{SALES_INVOICE}', '{name}', {cause})", messages=[unique])

    def _validate_return(self, doc: Mapping[str, Any], items: list[dict[str, Any]]) -> None:
        """A return (credit note) is against a submitted invoice of the same customer, with negative quantities."""
        against = doc.get("return_against")
        if not _has_content(against):
            raise _throw("ValidationError", "Return Against is mandatory for Return")
        ref = self._docs[str(against)]
        if ref["docstatus"] != 1 or not _same(ref.get("customer"), doc.get("customer")):
            raise _throw("ValidationError", f"Invalid Return Against: {against}")
        if any(_flt(row.get("qty")) > 0 for row in items):
            raise _throw("ValidationError", "Qty must be negative in return document")

    def get_list(
        self,
        filters: Any = None,
        fields: Sequence[str] = ("name",),
        *,
        order_by: str = "creation desc",
        start: int = 0,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """``GET /api/resource/Sales Invoice``: the ``fields`` of the invoices that pass ``filters`` (limit 0: all)."""
        conditions = _conditions(filters)
        rows = [doc for doc in self._docs.values() if all(condition(doc) for condition in conditions)]
        for part in reversed([p.split() for p in order_by.replace("`", "").split(",") if p.strip()]):
            descending = len(part) > 1 and part[1].lower() == "desc"
            rows.sort(key=_sort_key(part[0].rpartition(".")[2]), reverse=descending)
        rows = rows[start : start + limit] if limit else rows[start:]
        if "*" in fields:
            return [{k: copy.deepcopy(v) for k, v in doc.items() if not isinstance(v, list)} for doc in rows]
        columns = [_column(field) for field in fields]
        return [{alias: copy.deepcopy(doc.get(column)) for column, alias in columns} for doc in rows]

    def cancel(self, name: str, *, user: str, now: datetime) -> dict[str, Any]:
        """``frappe.client.cancel``: a submitted invoice becomes cancelled (docstatus 2)."""
        doc = self._stored(name)
        if doc["docstatus"] == 0:
            raise FrappeError("DocstatusTransitionError", "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
        if doc["docstatus"] == 2:
            raise FrappeError("ValidationError", "Cannot edit cancelled document")
        for other in self._docs.values():
            if other["docstatus"] == 1 and _same(other.get("return_against"), name):
                linked = f"{SALES_INVOICE} {name} is linked with {SALES_INVOICE} {other['name']}"
                raise _throw("LinkExistsError", f"Cannot delete or cancel because {linked}")
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        for row in [doc, *(row for table in _TABLES for row in doc[table.field])]:
            row.update(docstatus=2, modified=stamp, modified_by=user)
        doc["status"] = "Cancelled"
        return copy.deepcopy(doc)


def _rows(doc: Mapping[str, Any], table: _Table, name: str) -> list[dict[str, Any]]:
    value = doc.get(table.field)
    if value is None:
        return []
    rows = value if isinstance(value, list) else [value]
    for row in rows:
        if not isinstance(row, dict):
            said = (
                f'Document for field "{table.field}" attached to child table of "{name}" must be a dict or BaseDocument'
            )
            raise FrappeError("ValueError", f"{said}, not {type(row).__name__} ({row})")
    return rows


def _set_totals(doc: dict[str, Any]) -> None:
    """ERPNext's totals, simply: the items' amounts, plus the taxes' amounts as given; payments against them."""
    total = round(sum(row["amount"] for row in doc["items"]), 2)
    taxes = round(sum(_flt(row.get("tax_amount")) for row in doc["taxes"]), 2)
    paid = round(sum(_flt(row.get("amount")) for row in doc["payments"]), 2)
    grand_total = round(total + taxes, 2)
    outstanding = round(grand_total - paid, 2)
    doc.update(total=total, net_total=total, total_taxes_and_charges=taxes, grand_total=grand_total)
    doc.update(paid_amount=paid, outstanding_amount=outstanding)
    if doc["docstatus"] == 0:
        doc["status"] = "Draft"
    elif doc["is_return"]:
        doc["status"] = "Return"
    else:
        doc["status"] = "Paid" if outstanding <= 0 else "Unpaid"


def _conditions(filters: Any) -> list[Callable[[Mapping[str, Any]], bool]]:
    """Frappe's filters: ``[[field, op, value]]``, ``[[doctype, field, op, value]]`` or ``{field: value | [op, value]}``."""
    triples: list[tuple[str, str, Any]] = []
    if isinstance(filters, Mapping):
        for field, value in filters.items():
            is_pair = isinstance(value, list) and len(value) == 2 and str(value[0]).lower() in _OPERATORS
            triples.append((str(field), str(value[0]), value[1]) if is_pair else (str(field), "=", value))
    elif isinstance(filters, list):
        for item in filters:
            if isinstance(item, list) and len(item) == 4 and item[0] == SALES_INVOICE:
                item = item[1:]
            if not (isinstance(item, list) and len(item) == 3):
                raise _throw(
                    "ValidationError", f"Invalid filter: {item} (the emulator filters on Sales Invoice fields)"
                )
            triples.append((str(item[0]), str(item[1]), item[2]))
    elif filters not in (None, ""):
        raise _throw("ValidationError", f"Invalid filters: {filters}")
    return [_condition(_column(field)[0], op.lower(), value) for field, op, value in triples]


def _condition(field: str, op: str, value: Any) -> Callable[[Mapping[str, Any]], bool]:
    if op not in _OPERATORS:
        raise _throw("ValidationError", f"Operator {op!r} is not emulated; use one of {sorted(_OPERATORS)}")
    values = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]

    def holds(doc: Mapping[str, Any]) -> bool:
        found = doc.get(field)
        if op in ("in", "not in"):
            return any(_same(found, v) for v in values) == (op == "in")
        if op == "is":
            return _has_content(found) == (str(value).lower() == "set")
        return _same(found, value) == (op == "=")

    return holds


# -- the site on HTTP ---------------------------------------------------------------------------------


Fault = int | str  # an HTTP status to answer, "drop", or "drop-after"
Handler = Callable[[Request, str | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Received:
    """One request the emulator received, and what became of it.

    ``status``: what the site answered (None: dropped before it took effect); ``dropped``: the answer was
    never sent (with a status: the request took effect and the answer was lost).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int | None
    dropped: bool = False

    def json(self) -> Any:
        return orjson.loads(self.body)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "status": self.status,
            "dropped": self.dropped,
        }


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the emulator runs in someone else's process and event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ErpNextEmulator:
    """An ERPNext site as an ASGI app: Frappe's REST API over :class:`SalesInvoices`, with faults and a record.

    ``await ErpNextEmulator.start(key, secret)`` serves it on loopback (``url``); the object itself is the
    ASGI app, usable without a server. The methods that set faults are safe to call at any time.
    """

    def __init__(self, api_key: str, api_secret: str, *, user: str = "Administrator") -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.user = user
        self.site = SalesInvoices()
        self.url = ""
        self._received: deque[Received] = deque(maxlen=RECEIVED_LIMIT)
        self._pending: deque[Fault] = deque()
        self._down = False
        self._delay = 0.0
        self._hurry = asyncio.Event()  # set to send the answers held back by slow() at once
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._api = Starlette(routes=self._api_routes())
        self._control = Starlette(routes=self._control_routes())

    # -- serving --------------------------------------------------------------------------------------

    @classmethod
    async def start(
        cls, api_key: str, api_secret: str, *, host: str = "127.0.0.1", port: int = 0, user: str = "Administrator"
    ) -> ErpNextEmulator:
        """Serve on ``host:port`` (0: a free port) in this event loop; ``url`` says where."""
        emulator = cls(api_key, api_secret, user=user)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # uvicorn writes an answer's head and body apart: without this, Nagle and the client's delayed
            # ACK hold every answer back 40 ms (accepted connections inherit the option on Linux)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        emulator.url = f"http://{host}:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            emulator,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"erpnext emulator {emulator.url}")
        while not server.started:  # the socket already listens: this only waits for uvicorn to accept
            if task.done():
                sock.close()
                task.result()
                raise RuntimeError(f"the ERPNext emulator at {emulator.url} stopped before it started")
            await asyncio.sleep(0.01)
        emulator._server, emulator._task = server, task
        task.add_done_callback(emulator._ended)
        return emulator

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task is self._task:  # not stopped by stop(): say so
            error = None if task.cancelled() else task.exception()
            logger.error("the ERPNext emulator at %s stopped serving", self.url, exc_info=error)

    async def stop(self) -> None:
        """Send the answers held back, stop listening and close the connections."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        self._release()
        server.should_exit = True
        await task

    async def __aenter__(self) -> ErpNextEmulator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- faults and inspection ------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """The next ``count`` requests are answered ``status`` without taking effect."""
        if count < 0 or not 100 <= status <= 599:
            raise ValueError(f"fail_next needs count >= 0 and an HTTP status, not {count}, {status}")
        self._pending.extend([status] * count)

    def drop_next(self, count: int = 1, *, after_processing: bool = False) -> None:
        """The next ``count`` connections close without an answer, before the request takes effect or after."""
        if count < 0:
            raise ValueError(f"drop_next needs count >= 0, not {count}")
        self._pending.extend(["drop-after" if after_processing else "drop"] * count)

    def set_down(self, down: bool) -> None:
        """Down: every request is answered 503 (SessionStopped, as in maintenance mode) until set up again."""
        self._down = down

    @property
    def down(self) -> bool:
        return self._down

    def slow(self, seconds: float) -> None:
        """Answer each request ``seconds`` after it took effect (0: at once); the answers held back go now."""
        if seconds < 0:
            raise ValueError(f"slow needs seconds >= 0, not {seconds}")
        self._delay = seconds
        self._release()

    @property
    def received(self) -> list[Received]:
        """The requests received, oldest first (control requests excluded)."""
        return list(self._received)

    @property
    def docs(self) -> list[dict[str, Any]]:
        return self.site.docs

    def faults(self) -> dict[str, Any]:
        return {"down": self._down, "pending": list(self._pending), "slow": self._delay}

    def reset(self) -> None:
        """A new empty site: no invoices, nothing received, no faults."""
        self.site = SalesInvoices()
        self._received.clear()
        self._pending.clear()
        self._down = False
        self._delay = 0.0
        self._release()

    def _release(self) -> None:
        self._hurry.set()
        self._hurry = asyncio.Event()

    # -- ASGI -----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].startswith(CONTROL):
            await self._control(scope, receive, send)
            return
        body = await _read_body(receive)
        fault = self._pending.popleft() if self._pending and not self._down else None
        if fault == "drop":
            self._record(scope, body, None, dropped=True)
            await _drop(send, receive)
            return
        if self._down:
            messages = _injected(503)
        elif isinstance(fault, int):
            messages = _injected(fault)
        else:
            messages = await _capture(self._api, scope, _replay(body, receive))
        status = int(messages[0]["status"])
        self._record(scope, body, status, dropped=fault == "drop-after")
        if fault == "drop-after":
            await _drop(send, receive)
            return
        if self._delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._delay):
                    await self._hurry.wait()
        for message in messages:
            await send(message)

    def _record(self, scope: Scope, body: bytes, status: int | None, *, dropped: bool) -> None:
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        query = scope["query_string"].decode("latin-1")
        self._received.append(Received(scope["method"], scope["path"], query, headers, body, status, dropped))

    # -- Frappe's API ---------------------------------------------------------------------------------

    def _api_routes(self) -> list[Route]:
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        routes = []
        for prefix in ("/api", "/api/v1"):
            routes += [
                Route(prefix + "/resource/{doctype}", self._frappe(self._resource), methods=methods),
                Route(prefix + "/resource/{doctype}/{name:path}", self._frappe(self._document), methods=methods),
                Route(prefix + "/method/{method:path}", self._frappe(self._method), methods=methods),
            ]
        return [*routes, Route("/api/{rest:path}", self._frappe(self._unknown), methods=methods)]

    def _frappe(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate as Frappe does, run ``handler``, and answer its payload or the error in Frappe's JSON."""

        async def endpoint(request: Request) -> Response:
            user: str | None = None
            try:
                user = self._authenticate(request.headers.get("authorization"))
                return _json(await handler(request, user))
            except FrappeError as error:
                return _json(error.body(traceback=user is not None and error.status != 404), error.status)
            except Exception as exc:
                logger.exception("the ERPNext emulator failed on %s %s", request.method, request.url.path)
                return _json({"exc_type": type(exc).__name__}, 500)

        return endpoint

    def _authenticate(self, header: str | None) -> str | None:
        """The user the request runs as (None: Guest); refused when a two-word Authorization fails to match."""
        parts = (header or "").split(" ")
        if len(parts) != 2:
            return None
        kind, token = parts[0].lower(), parts[1]
        pair: list[str] = []
        if kind == "basic":
            try:
                pair = base64.b64decode(token).decode("utf-8", "replace").split(":")
            except binascii.Error:
                said = "Failed to decode token, please provide a valid base64-encoded token."
                raise _throw("InvalidAuthorizationToken", said) from None
        elif kind == "token":
            pair = token.split(":")
        if len(pair) == 2 and hmac.compare_digest(
            f"{pair[0]}:{pair[1]}".encode(), f"{self.api_key}:{self.api_secret}".encode()
        ):
            return self.user
        raise FrappeError("AuthenticationError")

    async def _resource(self, request: Request, user: str | None) -> dict[str, Any]:
        signed_in = _permitted(request.path_params["doctype"], user)
        if request.method == "GET":
            form = await _form_dict(request)
            fields = _json_arg(form.get("fields")) or ["name"]
            if not (isinstance(fields, list) and all(isinstance(field, str) for field in fields)):
                raise _throw("ValidationError", f"fields must be a list of field names, not {fields}")
            limit = _cint(form.get("limit") or form.get("limit_page_length") or 20)
            order_by = str(form.get("order_by") or "creation desc")
            start = _cint(form.get("limit_start"))
            filters = _json_arg(form.get("filters"))
            return {"data": self.site.get_list(filters, fields, order_by=order_by, start=start, limit=limit)}
        if request.method == "POST":
            return {"data": self.site.insert(await _doc_data(request), user=signed_in, now=datetime.now())}
        raise _not_emulated(request)

    async def _document(self, request: Request, user: str | None) -> dict[str, Any]:
        name = request.path_params["name"].strip("/")
        if not name:
            return await self._resource(request, user)
        _permitted(request.path_params["doctype"], user)
        if request.method == "GET":
            return {"data": self.site.get(name)}
        raise _not_emulated(request)

    async def _method(self, request: Request, user: str | None) -> dict[str, Any]:
        method = request.path_params["method"].split("/")[0]
        if method == "frappe.ping":
            return {"message": "pong"}
        if method not in ("frappe.auth.get_logged_user", "frappe.client.cancel"):
            said = f"Failed to get method for command {method} with No module named '{method.rpartition('.')[0]}'"
            raise _throw("ValidationError", said)
        if user is None:
            summary = "<summary>You are not permitted to access this resource.</summary>"
            said = f"<details>{summary}Function <strong>{method}</strong> is not whitelisted.</details>"
            raise _throw("PermissionError", said, title="Method Not Allowed")
        if method == "frappe.auth.get_logged_user":
            return {"message": user}
        if request.method not in ("POST", "PUT"):
            raise _throw("PermissionError", "Not permitted")
        form = await _form_dict(request)
        missing = [f"'{arg}'" for arg in ("doctype", "name") if form.get(arg) is None]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            said = f"cancel() missing {len(missing)} required positional argument{plural}: {' and '.join(missing)}"
            raise FrappeError("TypeError", said)
        _permitted(str(form["doctype"]), user)
        return {"message": self.site.cancel(str(form["name"]), user=user, now=datetime.now())}

    async def _unknown(self, request: Request, user: str | None) -> dict[str, Any]:
        raise FrappeError("DoesNotExistError")

    # -- control --------------------------------------------------------------------------------------

    def _control_routes(self) -> list[Route]:
        async def received(request: Request) -> dict[str, Any]:
            return {"received": [entry.as_dict() for entry in self.received]}

        async def docs(request: Request) -> dict[str, Any]:
            return {"docs": self.docs}

        async def fail(request: Request) -> dict[str, Any]:
            args = await _control_args(request)
            self.fail_next(_arg(args, "count", 1, int), _arg(args, "status", 503, int))
            return self.faults()

        async def drop(request: Request) -> dict[str, Any]:
            args = await _control_args(request)
            self.drop_next(_arg(args, "count", 1, int), after_processing=_arg(args, "after_processing", False, bool))
            return self.faults()

        async def slow(request: Request) -> dict[str, Any]:
            self.slow(_arg(await _control_args(request), "seconds", 0.0, float))
            return self.faults()

        async def state(request: Request) -> dict[str, Any]:
            action = request.url.path.removeprefix(CONTROL)
            if action in ("down", "up"):
                self.set_down(action == "down")
            elif action == "reset":
                self.reset()
            return self.faults()

        def route(path: str, handler: Callable[[Request], Awaitable[dict[str, Any]]], method: str) -> Route:
            async def endpoint(request: Request) -> Response:
                try:
                    return _json(await handler(request))
                except (TypeError, ValueError) as exc:
                    return _json({"error": str(exc)}, 400)

            return Route(CONTROL + path, endpoint, methods=[method])

        return [
            route("received", received, "GET"),
            route("docs", docs, "GET"),
            route("faults", state, "GET"),
            route("fail", fail, "POST"),
            route("drop", drop, "POST"),
            route("slow", slow, "POST"),
            *(route(action, state, "POST") for action in ("down", "up", "reset")),
        ]


def _permitted(doctype: str, user: str | None) -> str:
    """The signed-in user, if ``doctype`` is one the site has and the user is not a Guest."""
    if doctype != SALES_INVOICE:
        raise _throw("DoesNotExistError", f"DocType {doctype} not found")
    if user is None:
        raise FrappeError("PermissionError", error_message=f"Insufficient Permission for {doctype}")
    return user


def _not_emulated(request: Request) -> FrappeError:
    return FrappeError("NotImplementedError", f"{request.method} {request.url.path} is not emulated")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _json_arg(value: Any) -> Any:
    """A query argument Frappe decodes as JSON (``filters``, ``fields``); other values as given."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value) if value else None
    except orjson.JSONDecodeError as exc:
        raise FrappeError("JSONDecodeError", str(exc)) from None


async def _form_dict(request: Request) -> dict[str, Any]:
    """``frappe.form_dict``: a JSON body's object; else the query string and an url-encoded form."""
    raw = await request.body()
    mimetype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw and (mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))):
        args = _json_arg(raw.decode("utf-8", "replace"))
        if isinstance(args, dict):
            return args
        if isinstance(args, list):
            return {"data": args}
        raise _throw("ValidationError", "Invalid request arguments")
    form: dict[str, Any] = dict(request.query_params)
    if mimetype == "application/x-www-form-urlencoded":
        form.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return form


async def _doc_data(request: Request) -> dict[str, Any]:
    """The document to insert, as ``frappe.api.v1.get_request_form_data`` reads it: form field ``data``, else the body."""
    form = await _form_dict(request)
    data = form.get("data")
    if data is None:
        data = (await request.body()).decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            data = form
    if not isinstance(data, dict):
        raise FrappeError("TypeError", f"new_doc() argument after ** must be a mapping, not {type(data).__name__}")
    return data


async def _control_args(request: Request) -> dict[str, Any]:
    raw = await request.body()
    args = orjson.loads(raw) if raw.strip() else {}
    if not isinstance(args, dict):
        raise ValueError("the body must be a JSON object")
    return args


def _arg(args: Mapping[str, Any], key: str, default: T, kind: type[T]) -> T:
    value = args.get(key, default)
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise ValueError(f"{key} must be {kind.__name__}, not {value!r}")
    return value


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` again, then whatever the connection says next (its end)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> list[Message]:
    """What ``app`` answers, held so that it can be delayed or lost."""
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    if not messages:
        raise RuntimeError(f"no answer to {scope['method']} {scope['path']}")
    return messages


async def _drop(send: Send, receive: Receive) -> None:
    """Close the connection without a byte of answer.

    ASGI has no word for it: uvicorn's ``send`` is a method of the request's cycle, which holds the
    transport. Elsewhere (an in-process ASGI client) the request fails with ConnectionAbortedError.
    """
    abort = getattr(getattr(getattr(send, "__self__", None), "transport", None), "abort", None)
    if not callable(abort):
        raise ConnectionAbortedError("the ERPNext emulator dropped the connection, as told")
    abort()
    for _ in range(4):  # until uvicorn has seen the connection go; it then expects no answer
        if (await receive())["type"] == "http.disconnect":
            return


def _injected(status: int) -> list[Message]:
    """A failure as the client would meet it: nginx's page for a gateway error, else Frappe's JSON."""
    if status in (502, 504):
        title = f"{status} {HTTPStatus(status).phrase}"
        page = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        body, media = (page + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode(), b"text/html"
    else:
        body, media = orjson.dumps({"exc_type": _BY_STATUS.get(status, "Exception")}), b"application/json"
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


@contextlib.asynccontextmanager
async def serve_emulator(
    api_key: str, api_secret: str, *, host: str = "127.0.0.1", port: int = 0, user: str = "Administrator"
) -> AsyncIterator[ErpNextEmulator]:
    """An emulator serving on ``host:port`` (0: a free port) in this event loop for the block; ``emu.url``."""
    emulator = await ErpNextEmulator.start(api_key, api_secret, host=host, port=port, user=user)
    try:
        yield emulator
    finally:
        await emulator.stop()


# -- command line -------------------------------------------------------------------------------------


async def _run(host: str, port: int, api_key: str, api_secret: str, user: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve_emulator(api_key, api_secret, host=host, port=port, user=user) as emulator:
        print(f"ERPNext emulator at {emulator.url} as {user}; SIGTERM or Ctrl-C stops it", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """``python -m fireflow.clients.erpnext.emulator``: an ERPNext site on loopback until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="A loopback ERPNext site: Frappe's REST API for Sales Invoices.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000, as bench; 0: a free one)")
    parser.add_argument("--api-key", required=True, help="the API key clients must send")
    parser.add_argument("--api-secret", required=True, help="the API secret clients must send")
    parser.add_argument("--user", default="Administrator", help="the user the key belongs to (default Administrator)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(_run(args.host, args.port, args.api_key, args.api_secret, args.user))
    except OSError as exc:  # the port is taken, or the address not this machine's: one line, not a traceback
        sys.exit(
            f"ERPNext emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; give another --port (0: a free one)"
        )


if __name__ == "__main__":
    main()
