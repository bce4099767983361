"""ERPNext's REST API, as much of it as the outbox needs: create a Sales Invoice, find one by our id, cancel one.

Frappe's resource API (``/api/resource/<doctype>``) with token authentication (``Authorization: token
key:secret``). Its errors carry ``exc_type``; the ones that matter here:

- A create refused while a document with this ``fireflow_id`` exists: an earlier copy of this push got
  there. Frappe says so as 417 ``UniqueValidationError`` (a unique custom field; 409 ``DuplicateEntryError``
  is only for a clashing ``name``, which a naming series never makes), so after any 4xx refusal the site
  is asked for the id, and a document found means the push is done.
- 5xx, 429, timeouts and refused connections: try again later (``retryable``).
- any other 4xx (a wrong key, a validation error, a missing account): a person must look; retrying the same
  document will not help until something is changed, so it is not retried on its own.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from fireflow.hub.integrations.pushed import Pushed, PushFailed

__all__ = ["ErpNext"]

TIMEOUT_S = 10.0
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def _error(answer: httpx.Response) -> tuple[str, dict[str, Any] | None]:
    """Frappe's error in one line: its ``exc_type`` and the first server message, else the status."""
    try:
        body = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}: {answer.text[:200]}", None
    if not isinstance(body, dict):
        return f"HTTP {answer.status_code}", None
    kind = body.get("exc_type") or ""
    message = ""
    raw = body.get("_server_messages")
    if isinstance(raw, str):
        try:
            first = json.loads(raw)[0]
            message = json.loads(first).get("message", "") if isinstance(first, str) else ""
        except (ValueError, IndexError, AttributeError, TypeError):
            message = ""
    message = message or str(body.get("message") or body.get("exception") or "")
    return f"HTTP {answer.status_code} {kind}: {message}".strip().rstrip(":")[:1000], body


class ErpNext:
    """One ERPNext site; ``transport`` is for tests that need a broken network, never a stand-in for the site."""

    def __init__(
        self, url: str, api_key: str, api_secret: str, *, timeout: float = TIMEOUT_S, doctype: str = "Sales Invoice"
    ) -> None:
        self.url = url.rstrip("/")
        self.doctype = doctype
        self.client = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"token {api_key}:{api_secret}", "Accept": "application/json"},
            timeout=timeout,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise PushFailed(
                f"ERPNext at {self.url} did not answer in time ({type(exc).__name__})", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise PushFailed(f"ERPNext at {self.url} could not be reached: {exc}", retryable=True) from None

    def _resource(self, name: str = "") -> str:
        path = f"/api/resource/{quote(self.doctype)}"
        return f"{path}/{quote(name, safe='')}" if name else path

    async def create(self, doc: dict[str, Any]) -> Pushed:
        """Create (and submit) ``doc``; a duplicate of its ``fireflow_id`` there is the earlier copy, found."""
        answer = await self._call("POST", self._resource(), json=doc)
        if answer.status_code == 200:
            data = answer.json().get("data", {})
            return Pushed(str(data.get("name", "")), 200, data)
        message, body = _error(answer)
        if 400 <= answer.status_code < 500 and answer.status_code not in (401, 403, 429):
            found = await self.find(doc["fireflow_id"])
            if found is not None:
                return Pushed(str(found["name"]), answer.status_code, found, already=True)
        raise PushFailed(message, status=answer.status_code, retryable=answer.status_code in _RETRYABLE, response=body)

    async def find(self, fireflow_id: str) -> dict[str, Any] | None:
        """The document with this ``fireflow_id``, if the site has one."""
        params = {
            "filters": json.dumps([["fireflow_id", "=", fireflow_id]]),
            "fields": json.dumps(["name", "fireflow_id", "docstatus", "grand_total"]),
        }
        answer = await self._call("GET", self._resource(), params=params)
        if answer.status_code != 200:
            message, body = _error(answer)
            raise PushFailed(
                message, status=answer.status_code, retryable=answer.status_code in _RETRYABLE, response=body
            )
        rows = answer.json().get("data", [])
        return dict(rows[0]) if rows else None

    async def cancel(self, name: str) -> Pushed:
        """Cancel the submitted document ``name``; one cancelled already (an earlier copy of this push) is done."""
        answer = await self._call(
            "POST", "/api/method/frappe.client.cancel", json={"doctype": self.doctype, "name": name}
        )
        if answer.status_code == 200:
            return Pushed(name, 200, answer.json())
        message, body = _error(answer)
        if answer.status_code < 500:
            current = await self._call("GET", self._resource(name))
            if current.status_code == 200 and current.json().get("data", {}).get("docstatus") == 2:
                return Pushed(name, answer.status_code, current.json()["data"], already=True)
        raise PushFailed(message, status=answer.status_code, retryable=answer.status_code in _RETRYABLE, response=body)
