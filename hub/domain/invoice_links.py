"""The customer's link to an archived invoice: signed, expiring, and good for that one invoice only.

A link is ``{public url}/invoice/{restaurant}/{invoice}.pdf?exp={unix seconds}&sig={signature}`` (``.json``
for the data). The signature is HMAC-SHA256 over the restaurant, the invoice and the expiry, keyed by a key
derived from the hub's secret with this purpose's own label: a device token is signed with a key of another
label (``hub/transports/tokens.py``), so neither can ever pass for the other, and a link opens no API.

Checking a link says which of three it is (``LinkCheck``): valid; forged (a wrong signature, or one for
another invoice, restaurant or expiry: whoever holds it learns nothing more); or expired, said only of a
link this hub did sign, so an expiry is never confirmed to a forger. Former secrets
(``FIREFLOW_PREVIOUS_SECRETS``) still verify, as for device tokens. Pure: no clock, ``now`` is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fireflow.schema.base import StrEnum

__all__ = ["FORMATS", "InvoiceLinks", "LinkCheck", "SignedLink", "check", "link_key", "sign", "signed_link"]

FORMATS = ("pdf", "json")  # what a link may ask for: the printable invoice, or its data
_PURPOSE = b"fireflow-invoice-link:"


class LinkCheck(StrEnum):
    VALID = "VALID"
    EXPIRED = "EXPIRED"
    FORGED = "FORGED"


@dataclass(frozen=True, slots=True)
class SignedLink:
    """A link's parts: the path under the public URL and its query (``exp``, ``sig``), and when it expires."""

    path: str
    expires: int
    signature: str

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}{self.path}?{urlencode({'exp': self.expires, 'sig': self.signature})}"


def link_key(secret: str) -> bytes:
    """The links' HMAC key of a hub secret: 32 bytes, labelled for this purpose alone."""
    return hashlib.sha256(_PURPOSE + secret.encode()).digest()


def _message(restaurant_id: str, invoice_id: str, expires: int) -> bytes:
    # JSON: unambiguous whatever the ids hold (no separator can be smuggled into one to shift the others)
    return json.dumps([restaurant_id, invoice_id, expires], separators=(",", ":")).encode()


def sign(key: bytes, restaurant_id: str, invoice_id: str, expires: int) -> str:
    """The signature of a link to ``invoice_id`` of ``restaurant_id`` good until ``expires`` (unix seconds)."""
    digest = hmac.new(key, _message(restaurant_id, invoice_id, expires), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_link(key: bytes, restaurant_id: str, invoice_id: str, expires: int, fmt: str = "pdf") -> SignedLink:
    if fmt not in FORMATS:
        raise ValueError(f"an invoice link is to one of {', '.join(FORMATS)}, not {fmt!r}")
    path = f"/invoice/{quote(restaurant_id, safe='')}/{quote(invoice_id, safe='')}.{fmt}"
    return SignedLink(path, expires, sign(key, restaurant_id, invoice_id, expires))


def check(
    keys: Sequence[bytes], restaurant_id: str, invoice_id: str, expires: str, signature: str, now: float
) -> LinkCheck:
    """What the link's parts, as they came in the request, are worth at ``now`` (unix seconds)."""
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12 or not signature.isascii():
        return LinkCheck.FORGED
    at = int(expires)
    if not any(hmac.compare_digest(sign(key, restaurant_id, invoice_id, at), signature) for key in keys):
        return LinkCheck.FORGED
    return LinkCheck.VALID if now < at else LinkCheck.EXPIRED


@dataclass(frozen=True, slots=True)
class InvoiceLinks:
    """This hub's links: its keys (the current secret's first), the public URL they start with, their life."""

    keys: tuple[bytes, ...]
    base_url: str
    ttl_s: int

    @classmethod
    def of(cls, secrets: Sequence[str], base_url: str, ttl_s: float) -> InvoiceLinks:
        return cls(tuple(link_key(s) for s in secrets if s) or (link_key(""),), base_url.rstrip("/"), int(ttl_s))

    def issued(self, restaurant_id: str, invoice_id: str, issued_ms: int, fmt: str = "pdf") -> str:
        """The link printed on the receipt and in the PDF: good for ``ttl_s`` from the invoice's issue, so every
        copy of the receipt and every write of the PDF carries the same one."""
        return self.until(restaurant_id, invoice_id, issued_ms // 1000 + self.ttl_s, fmt)

    def until(self, restaurant_id: str, invoice_id: str, expires: int, fmt: str = "pdf") -> str:
        return signed_link(self.keys[0], restaurant_id, invoice_id, expires, fmt).url(self.base_url)

    def check(self, restaurant_id: str, invoice_id: str, expires: str, signature: str, now: float) -> LinkCheck:
        return check(self.keys, restaurant_id, invoice_id, expires, signature, now)
