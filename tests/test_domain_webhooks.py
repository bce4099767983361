"""Webhooks' signing and rules without servers: Stripe's scheme, checked both ways, and PROTOCOL.md's snippet."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from fireflow.hub.domain.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    FAILING_AFTER,
    SIGNATURE_HEADER,
    TOLERANCE_S,
    BadSignature,
    WebhookState,
    delivery,
    delivery_id,
    private_address,
    sign,
    signature_header,
    state_of,
    takes,
    verify,
)
from fireflow.schema.events import EVENTS
from fireflow.schema.webhooks import ReplayWebhook, SubscribeWebhook, UnsubscribeWebhook
from tests.conftest import ROOT

SECRET = "whsec_test"
NOW = 1_764_900_000


def test_the_signature_is_hmac_sha256_of_the_time_a_dot_and_the_body() -> None:
    """v1 is the hex HMAC-SHA256 of "<t>.<body>" under the secret, as Stripe's receivers compute it."""
    body = b'{"a":1}'
    wanted = hmac.new(SECRET.encode(), b"1764900000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, body) == wanted
    assert signature_header(SECRET, NOW, body) == f"t={NOW},v1={wanted}"


@given(st.binary(max_size=400), st.text(min_size=1, max_size=40), st.integers(0, TOLERANCE_S))
def test_what_is_signed_verifies_within_the_tolerance(body: bytes, secret: str, late: int) -> None:
    """Any body signed with any secret verifies with that secret up to the tolerance later (or earlier)."""
    header = signature_header(secret, NOW, body)
    assert verify(secret, header, body, NOW + late) == NOW
    assert verify(secret, header, body, NOW - late) == NOW


@pytest.mark.parametrize(
    ("header", "body", "secret", "now", "why"),
    [
        (signature_header(SECRET, NOW, b"{}"), b'{"x":1}', SECRET, NOW, "no v1 signature matches"),
        (signature_header(SECRET, NOW, b"{}"), b"{}", "another", NOW, "no v1 signature matches"),
        (signature_header(SECRET, NOW, b"{}"), b"{}", SECRET, NOW + TOLERANCE_S + 1, "outside the tolerance"),
        (signature_header(SECRET, NOW, b"{}"), b"{}", SECRET, NOW - TOLERANCE_S - 1, "outside the tolerance"),
        (f"v1={sign(SECRET, NOW, b'{}')}", b"{}", SECRET, NOW, "no t="),
        (f"t=soon,v1={sign(SECRET, NOW, b'{}')}", b"{}", SECRET, NOW, "no t="),
        (f"t={NOW}", b"{}", SECRET, NOW, "no v1"),
        ("", b"{}", SECRET, NOW, "no t="),
        # the time is signed: moving it makes the signature wrong
        (f"t={NOW + 1},v1={sign(SECRET, NOW, b'{}')}", b"{}", SECRET, NOW, "no v1 signature matches"),
    ],
)
def test_a_tampered_stale_or_malformed_signature_is_refused_with_the_reason(
    header: str, body: bytes, secret: str, now: int, why: str
) -> None:
    """A changed body, another secret, a time outside the tolerance or a header missing a part: BadSignature."""
    with pytest.raises(BadSignature, match=why):
        verify(secret, header, body, now)


def test_any_of_several_v1_signatures_verifies_so_a_secret_can_be_rotated() -> None:
    """A header listing an old and a new secret's signatures verifies with either."""
    header = f"t={NOW},v1={sign('old', NOW, b'{}')},v1={sign('new', NOW, b'{}')}"
    assert verify("old", header, b"{}", NOW) == verify("new", header, b"{}", NOW) == NOW


def test_a_delivery_carries_the_event_and_its_stable_id_in_the_body_and_headers() -> None:
    """The body holds the event's place, type, time and data; the headers its id, type and a signature of the body."""
    sent = delivery(7, "casa", "e1", 42, "ORDER_FIRED", 1_764_900_000_123, {"order": {"id": "casa.o1"}})
    assert orjson.loads(sent.body) == {
        "id": "wh7-e1-42",
        "type": "ORDER_FIRED",
        "restaurant": "casa",
        "epoch": "e1",
        "offset": 42,
        "committed_at": 1_764_900_000_123,
        "data": {"order": {"id": "casa.o1"}},
    }
    headers = sent.headers(SECRET, NOW)
    assert (headers[DELIVERY_HEADER], headers[EVENT_HEADER]) == ("wh7-e1-42", "ORDER_FIRED")
    assert verify(SECRET, headers[SIGNATURE_HEADER], sent.body, NOW) == NOW
    again = delivery(7, "casa", "e1", 42, "ORDER_FIRED", 1_764_900_000_123, {"order": {"id": "casa.o1"}})
    assert again.body == sent.body  # a retry or a replay sends the same bytes under the same id


def test_delivery_ids_differ_by_subscription_epoch_and_offset() -> None:
    """An id names one event for one subscription: another subscription, epoch or offset is another id."""
    ids = {delivery_id(w, e, o) for w in (1, 2) for e in ("a", "b") for o in (1, 11)}
    assert len(ids) == 8
    assert delivery_id(1, "a", 11) != delivery_id(11, "a", 1)


def test_a_subscription_to_no_types_takes_every_type() -> None:
    """Empty takes all; a list takes what it names only."""
    assert takes([], "ORDER_FIRED") and takes(["ORDER_FIRED"], "ORDER_FIRED")
    assert not takes(["ORDER_READY"], "ORDER_FIRED")


def test_a_webhook_is_failing_after_three_tries_in_a_row_and_removed_when_unsubscribed() -> None:
    """ACTIVE below FAILING_AFTER failed tries, FAILING from there, REMOVED once inactive whatever its tries."""
    assert [state_of(True, n) for n in range(FAILING_AFTER + 2)] == [WebhookState.ACTIVE] * FAILING_AFTER + [
        WebhookState.FAILING
    ] * 2
    assert state_of(False, 0) is state_of(False, 9) is WebhookState.REMOVED


def _protocol_snippet() -> Any:
    text = (ROOT / "schema" / "PROTOCOL.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"^```python\n(# verify a Fireflow webhook delivery.*?)^```$", text, re.M | re.S)
    scope: dict[str, Any] = {}
    exec(compile(code, "PROTOCOL.md", "exec"), scope)
    return scope["verify_fireflow"]


def test_protocol_md_verification_snippet_agrees_with_the_hub() -> None:
    """The standard-library snippet in PROTOCOL.md accepts what the hub signs and refuses what verify refuses."""
    verify_fireflow = _protocol_snippet()
    sent = delivery(3, "casa", "e1", 5, "ORDER_READY", 1, {"a": 1})
    header = sent.headers(SECRET, NOW)[SIGNATURE_HEADER]
    assert verify_fireflow(SECRET, header, sent.body, NOW + 10) is True
    assert verify_fireflow(SECRET, header, sent.body + b" ", NOW) is False
    assert verify_fireflow("another", header, sent.body, NOW) is False
    assert verify_fireflow(SECRET, header, sent.body, NOW + TOLERANCE_S + 1) is False
    assert verify_fireflow(SECRET, f"t={NOW}", sent.body, NOW) is False


def _subscribe(**data: Any) -> SubscribeWebhook:
    return SubscribeWebhook.model_validate_json(orjson.dumps(data), strict=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/h", "http:// or https://"),
        ("example.com/h", "http:// or https://"),
        ("http:///h", "no host"),
        ("http://example.com:port/h", "not a URL"),
        ("https://me:pw@example.com/h", "no user or password"),
        ("https://example.com/h#part", "no spaces or #fragment"),
        ("https://example.com/a b", "no spaces or #fragment"),
        ("https://example.com/" + "x" * 2000, "at most 2000"),
    ],
)
def test_a_subscription_refuses_a_url_it_cannot_post_to_saying_why(url: str, why: str) -> None:
    """Only http(s) URLs with a host, no credentials, spaces or fragment, at most 2000 characters."""
    with pytest.raises(ValidationError, match=re.escape(why)):
        _subscribe(url=url)


def test_a_subscription_names_known_event_types_once_each() -> None:
    """Types are checked against the protocol's events (each unknown one named) and kept sorted, once each."""
    made = _subscribe(url="https://example.com/h", events=["ORDER_READY", "ORDER_FIRED", "ORDER_READY"])
    assert made.events == ["ORDER_FIRED", "ORDER_READY"] and set(made.events) <= set(EVENTS)
    assert _subscribe(url="http://127.0.0.1:9/h").events == []
    with pytest.raises(ValidationError, match="unknown event types: ORDER_EATEN, ORDER_LOST"):
        _subscribe(url="https://example.com/h", events=["ORDER_LOST", "ORDER_EATEN", "ORDER_READY"])


def test_a_webhook_id_from_a_rest_path_is_read_as_its_number_and_nothing_else_is() -> None:
    """ "12" (a path parameter) is 12; "1.5", "-3", "twelve" and 0 are refused, as is a bool."""
    assert UnsubscribeWebhook.model_validate_json(b'{"webhook_id": "12"}', strict=True).webhook_id == 12
    assert ReplayWebhook.model_validate_json(b'{"webhook_id": 3, "from_offset": 4}', strict=True).webhook_id == 3
    for bad in (b'"1.5"', b'"-3"', b'"twelve"', b"0", b"true"):
        with pytest.raises(ValidationError):
            UnsubscribeWebhook.model_validate_json(b'{"webhook_id": ' + bad + b"}", strict=True)


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.10", True),
        ("169.254.169.254", True),  # a cloud's metadata service
        ("::1", True),
        ("fe80::1%eth0", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_private_addresses_are_told_from_public_ones(address: str, private: bool) -> None:
    """What a receiver's name resolved to: the machine, its network and link-local are private; the internet is not."""
    assert private_address(address) is private
