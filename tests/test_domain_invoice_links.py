"""The customer's invoice link without servers: it opens its one invoice until it expires, and nothing else."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.invoice_links import InvoiceLinks, LinkCheck, check, link_key, sign, signed_link
from fireflow.hub.transports import tokens

KEY = link_key("hub-secret")
EXP = 1_800_000_000
IDS = st.text(min_size=1, max_size=40)


def test_a_link_is_valid_until_its_expiry_and_expired_from_then_on() -> None:
    """The same signed link checks VALID a second before its expiry and EXPIRED at it and after."""
    sig = sign(KEY, "r1", "r1.inv-7", EXP)
    assert check([KEY], "r1", "r1.inv-7", str(EXP), sig, EXP - 1) is LinkCheck.VALID
    assert check([KEY], "r1", "r1.inv-7", str(EXP), sig, EXP) is LinkCheck.EXPIRED
    assert check([KEY], "r1", "r1.inv-7", str(EXP), sig, EXP + 86_400) is LinkCheck.EXPIRED


def test_a_tampered_link_is_forged_whatever_was_changed() -> None:
    """Another invoice, restaurant, a later expiry or an altered signature is FORGED, even when it would be expired."""
    sig = sign(KEY, "r1", "r1.inv-7", EXP)
    now = EXP - 10
    assert check([KEY], "r1", "r1.inv-8", str(EXP), sig, now) is LinkCheck.FORGED
    assert check([KEY], "r2", "r1.inv-7", str(EXP), sig, now) is LinkCheck.FORGED
    assert check([KEY], "r1", "r1.inv-7", str(EXP + 86_400), sig, now) is LinkCheck.FORGED
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert check([KEY], "r1", "r1.inv-7", str(EXP), flipped, now) is LinkCheck.FORGED
    assert check([KEY], "r1", "r1.inv-7", str(EXP), "", now) is LinkCheck.FORGED
    # an expiry is never confirmed to a forger: forged and past its date is still FORGED, not EXPIRED
    assert check([KEY], "r1", "r1.inv-8", str(EXP), sig, EXP + 1) is LinkCheck.FORGED
    # another hub's secret signs links this one refuses
    assert check([link_key("other")], "r1", "r1.inv-7", str(EXP), sig, now) is LinkCheck.FORGED


@pytest.mark.parametrize("expires", ["", "abc", "-5", "1e9", " 1800000000", "9" * 13, "\uff11\uff18"])
def test_an_expiry_that_is_not_plain_digits_is_forged(expires: str) -> None:
    """Whatever a person types into ``exp`` (signs, exponents, spaces, other digits, huge numbers) is FORGED."""
    assert check([KEY], "r1", "r1.inv-7", expires, sign(KEY, "r1", "r1.inv-7", EXP), 0) is LinkCheck.FORGED


def test_a_link_signed_with_a_former_secret_still_opens() -> None:
    """Rotating the hub's secret keeps the links already printed: the former secret still verifies them."""
    old = InvoiceLinks.of(["old-secret"], "https://hub.example", 3600)
    rotated = InvoiceLinks.of(["new-secret", "old-secret"], "https://hub.example", 3600)
    query = parse_qs(urlsplit(old.until("r1", "r1.inv-7", EXP)).query)
    assert rotated.check("r1", "r1.inv-7", query["exp"][0], query["sig"][0], EXP - 1) is LinkCheck.VALID
    fresh = parse_qs(urlsplit(rotated.until("r1", "r1.inv-7", EXP)).query)
    assert old.check("r1", "r1.inv-7", fresh["exp"][0], fresh["sig"][0], EXP - 1) is LinkCheck.FORGED


def test_a_link_key_never_signs_a_device_token() -> None:
    """The links' key has its own label: a token signed with it (same secret) is refused as a device token."""
    secret = "hub-secret"
    assert link_key(secret) != tokens._key(secret)
    forged = jwt.encode(
        {"iss": tokens.ISSUER, "sub": "phone", "rid": "r1", "role": "MANAGER", "st": [], "exp": EXP},
        link_key(secret),
        algorithm="HS256",
        headers={"kid": tokens.key_id(secret)},
    )
    with pytest.raises(DomainError) as refused:
        tokens.read([secret], forged, now=EXP - 10)
    assert refused.value.code.value == "UNAUTHENTICATED"


def test_the_link_names_its_invoice_and_format_under_the_public_url() -> None:
    """``{public url}/invoice/{restaurant}/{invoice}.pdf?exp=…&sig=…``, ids escaped, the receipt's expiring ttl
    after the invoice was issued."""
    links = InvoiceLinks.of(["s"], "https://hub.example/ff/", 30 * 86_400)
    url = links.issued("r1", "r1.inv-7", (EXP - 30 * 86_400) * 1000 + 999)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "hub.example", "/ff/invoice/r1/r1.inv-7.pdf")
    assert parse_qs(parts.query)["exp"] == [str(EXP)]
    assert signed_link(KEY, "r 1", "a/b", EXP, "json").path == "/invoice/r%201/a%2Fb.json"
    with pytest.raises(ValueError, match="pdf, json"):
        signed_link(KEY, "r1", "r1.inv-7", EXP, "html")


@given(IDS, IDS, st.integers(min_value=0, max_value=10**11), IDS, IDS)
def test_any_link_opens_its_own_invoice_only(rid: str, invoice: str, expires: int, rid2: str, invoice2: str) -> None:
    """For any ids and expiry, the link is VALID for exactly its restaurant and invoice and FORGED for any other."""
    sig = sign(KEY, rid, invoice, expires)
    assert check([KEY], rid, invoice, str(expires), sig, expires - 1) is LinkCheck.VALID
    if (rid2, invoice2) != (rid, invoice):
        assert check([KEY], rid2, invoice2, str(expires), sig, expires - 1) is LinkCheck.FORGED
