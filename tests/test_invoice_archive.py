"""The invoice archive on real Postgres and Redis, a real S3-protocol server (moto's server mode on loopback,
reached by boto3 over HTTP) and the local-directory default: each sale's JSON and PDF stored once whatever
happens, the customer's signed link served before its expiry and refused after, the receipt's QR code.

Time is controlled by the expiry signed, never by sleeping; the store "down" is moto's server stopped (its
port closed), then started again on the same port with the same buckets.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pypdf
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.clients.printers.agent import Outcome, render_job
from fireflow.clients.printers.emulator import PrinterEmulator, parse
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.money import major
from fireflow.hub.integrations.object_store import LocalStore, S3Store, location
from fireflow.hub.printing import render
from fireflow.hub.printing.invoice_pdf import invoice_pdf
from fireflow.hub.run.config import Settings, SettingsError
from fireflow.hub.workers.outbox import OutboxDrain
from fireflow.hub.workers.outbox_archive import ArchiveTarget
from fireflow.schema.records import PrintJob
from tests.conftest import WAIT, RunningHub, Servers, free_port, seed, serve_in_process, settings_for
from tests.test_outbox import _alone, _attempts, _rows, _settled
from tests.test_print_receipts import TILL, _agent, _set_up
from tests.test_print_receipts import printer as printer  # the emulator fixture, shared

BUCKET = "fireflow-invoices"


class S3Server:
    """moto's S3 in server mode on a loopback port: a real HTTP endpoint, stopped and started on demand."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        """Down for real: the server stopped and its listening socket closed, so a connection is refused."""
        assert self.server is not None
        self.server.stop()
        if self.server._server is not None:
            self.server._server.server_close()
        self.server = None

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A running S3 endpoint with the bucket ``BUCKET``; boto3's credentials from the usual variables."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "fireflow-test",
        "AWS_SECRET_ACCESS_KEY": "fireflow-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    server = S3Server()
    server.start()
    client = server.client()
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    yield server
    if server.server is not None:
        server.stop()


@pytest.fixture
async def archiving(servers: Servers, rid: str, tmp_path: Path, s3: S3Server) -> AsyncIterator[RunningHub]:
    """A hub node archiving to ``s3://BUCKET/fireflow`` on the loopback S3 (links start with its own address)."""
    await seed(servers, rid)
    settings = settings_for(servers, data_dir=tmp_path, archive_url=f"s3://{BUCKET}/fireflow", s3_endpoint_url=s3.url)
    async with serve_in_process(settings, rid) as running:
        yield running


@pytest.fixture
async def local(servers: Servers, rid: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A hub node with ARCHIVE_URL unset: the archive is ``<data dir>/archive``."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, data_dir=tmp_path), rid) as running:
        yield running


def _drain(running: RunningHub) -> OutboxDrain:
    """A drain of the archive's rows only, with the node's own store, links and restaurant reads (as app.py)."""
    hub = running.hub
    return OutboxDrain(hub.engine, [ArchiveTarget(hub.archive_store, hub.invoice_links, hub.store.restaurant)])


async def _archived(drain: OutboxDrain, engine: AsyncEngine, invoice_id: str) -> Any:
    """Drain until the invoice's archive row is no longer PENDING (a backoff is made due at once): the row."""
    for _ in range(50):
        await drain.drain()
        (row,) = await _rows(engine, invoice_id, "archive")
        if row.status != "PENDING":
            return row
        await _due_now(engine, row.id)
    raise AssertionError(f"the archive row of {invoice_id} stayed PENDING")


async def _due_now(engine: AsyncEngine, outbox_id: int) -> None:
    async with engine.begin() as conn:  # the backoff is not under test here
        await conn.execute(text("UPDATE outbox SET next_at = now() WHERE id = :id"), {"id": outbox_id})


def _pdf_text(body: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages).split())


async def _invoice(running: RunningHub, invoice_id: str) -> dict[str, Any]:
    async with running.http(Role.CASHIER) as http:
        answer = await http.get(f"/api/v1/invoices/{invoice_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["invoice"]
    return found


async def _link(running: RunningHub, invoice_id: str, role: Role = Role.CASHIER) -> httpx.Response:
    async with running.http(role) as http:
        return await http.get(f"/api/v1/invoices/{invoice_id}/link")


async def test_a_settlement_puts_its_json_and_pdf_in_the_bucket_by_month(
    archiving: RunningHub, engine: AsyncEngine, s3: S3Server
) -> None:
    """A sale drained by the archive target: the JSON is the invoice (number, lines, taxes, total, payments in minor
    units), the PDF's text has its number and total and a QR code, both under ``fireflow/{rid}/invoices/Y/MM``;
    the row is DONE with the PDF's key and the sync log names both objects."""
    paid = await _settled(archiving, "burger", "fries")
    await _alone(engine, archiving.rid)
    row = await _archived(_drain(archiving), engine, paid["invoice_id"])
    invoice = await _invoice(archiving, paid["invoice_id"])
    year, month, _ = invoice["business_day"].split("-")
    stem = f"{archiving.rid}/invoices/{year}/{month}/{invoice['number']}"
    assert (row.status, row.attempts, row.remote_id, row.last_error) == ("DONE", 1, f"{stem}.pdf", None)

    client = s3.client()
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"fireflow/{archiving.rid}/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"fireflow/{stem}.json", f"fireflow/{stem}.pdf"]
    stored = client.get_object(Bucket=BUCKET, Key=f"fireflow/{stem}.json")
    assert stored["ContentType"] == "application/json"
    doc = json.loads(stored["Body"].read())
    assert doc["invoice"]["id"] == paid["invoice_id"] and doc["invoice"]["number"] == invoice["number"]
    assert (doc["currency"], doc["total"], doc["tax"]) == ("INR", invoice["total"], invoice["bill"]["tax"])
    assert doc["restaurant"]["name"] == "Fireflow Demo Kitchen"
    assert [(line["name"], line["quantity"], line["total"]) for line in doc["lines"]] == [
        (line["name"], line["quantity"], line["total"]) for line in invoice["bill"]["lines"]
    ]
    assert doc["taxes"] == [{k: t[k] for k in ("code", "rate_bp", "taxable", "tax")} for t in invoice["bill"]["taxes"]]
    assert [(p["method"], p["amount"]) for p in doc["payments"]] == [
        (p["method"], p["amount"]) for p in invoice["payments"]
    ]
    assert sum(p["amount"] for p in doc["payments"]) == doc["total"] == paid["total"]

    pdf = client.get_object(Bucket=BUCKET, Key=f"fireflow/{stem}.pdf")
    assert pdf["ContentType"] == "application/pdf"
    body = pdf["Body"].read()
    words = _pdf_text(body)
    assert f"Invoice {invoice['number']}" in words and f"TOTAL INR {major(paid['total'], 'INR')}" in words
    assert "Fireflow Demo Kitchen" in words and "Classic Burger" in words
    assert f"/invoice/{archiving.rid}/{paid['invoice_id']}.pdf?exp=" in words  # the QR's link, written under it

    (attempt,) = await _attempts(engine, row.id)
    assert attempt.outcome == "SENT" and attempt.payload["json"] == f"{stem}.json"
    assert attempt.payload["pdf"] == f"{stem}.pdf" and attempt.payload["store"].startswith(f"s3://{BUCKET}/fireflow")


async def test_archiving_the_same_invoice_again_writes_the_same_bytes_to_the_same_keys(
    archiving: RunningHub, engine: AsyncEngine, s3: S3Server
) -> None:
    """A row sent again (a node killed after the put, before its commit) rewrites the same two objects, unchanged."""
    paid = await _settled(archiving)
    await _alone(engine, archiving.rid)
    drain = _drain(archiving)
    row = await _archived(drain, engine, paid["invoice_id"])
    client = s3.client()
    before = {
        o["Key"]: o["ETag"]
        for o in client.list_objects_v2(Bucket=BUCKET, Prefix=f"fireflow/{archiving.rid}/")["Contents"]
    }
    async with engine.begin() as conn:  # as if the first send's transaction had died with its node
        await conn.execute(text("UPDATE outbox SET status = 'PENDING', next_at = now() WHERE id = :id"), {"id": row.id})
    again = await _archived(drain, engine, paid["invoice_id"])
    after = {
        o["Key"]: o["ETag"]
        for o in client.list_objects_v2(Bucket=BUCKET, Prefix=f"fireflow/{archiving.rid}/")["Contents"]
    }
    assert again.status == "DONE" and again.remote_id == row.remote_id
    assert after == before and len(after) == 2  # the same keys, the same content (ETag: its MD5)


async def test_the_link_opens_the_invoice_before_expiry_and_is_refused_after_or_tampered(
    archiving: RunningHub, engine: AsyncEngine, s3: S3Server
) -> None:
    """Before archiving: 503 "not archived yet". Archived: the staff's link serves the PDF and JSON as stored (200);
    signed to expire a second ago: 410; a changed signature, invoice or expiry: 403; a waiter gets no link."""
    paid = await _settled(archiving)
    invoice_id, rid = paid["invoice_id"], archiving.rid
    await _alone(engine, rid)
    early = await _link(archiving, invoice_id)
    assert early.status_code == 200 and early.json()["archived"] is False
    async with httpx.AsyncClient(timeout=WAIT) as web:
        waiting = await web.get(early.json()["url"])
        assert waiting.status_code == 503 and "not archived yet" in waiting.text
        assert waiting.headers["retry-after"] == "60"

        row = await _archived(_drain(archiving), engine, invoice_id)
        given = await _link(archiving, invoice_id)
        assert given.status_code == 200, given.text
        link = given.json()
        assert link["archived"] is True and link["url"].startswith(f"{archiving.url}/invoice/{rid}/")
        assert abs(link["expires_at"] / 1000 - (time.time() + archiving.settings.invoice_link_ttl)) < 60

        pdf = await web.get(link["url"])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        stored = s3.client().get_object(Bucket=BUCKET, Key=f"fireflow/{row.remote_id}")["Body"].read()
        assert pdf.content == stored
        data = await web.get(link["json_url"])
        assert data.status_code == 200 and data.json()["invoice"]["id"] == invoice_id

        links = archiving.hub.invoice_links
        expired = await web.get(links.until(rid, invoice_id, int(time.time()) - 1))
        assert expired.status_code == 410 and expired.text.strip() == (
            "This invoice link has expired: ask the restaurant for a new one."
        )
        assert (await web.get(links.until(rid, invoice_id, int(time.time()) + 5, "json"))).status_code == 200

        parts = urlsplit(link["url"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        base = f"{archiving.url}{parts.path}"
        sig = query["sig"]
        tampered = [
            (base, {"exp": query["exp"], "sig": ("A" if sig[0] != "A" else "B") + sig[1:]}),
            (base, {"exp": str(int(query["exp"]) + 86_400), "sig": sig}),
            (base.replace(invoice_id, invoice_id + "0"), query),
            (base, {"exp": query["exp"]}),
        ]
        for url, params in tampered:
            refused = await web.get(url, params=params)
            assert refused.status_code == 403, (url, params, refused.text)
            assert refused.text.strip() == "This invoice link is not valid: ask the restaurant for a new one."
        html = await web.get(base.removesuffix(".pdf") + ".html", params=query)
        assert html.status_code == 404 and "ends in .pdf or .json" in html.text
        missing = await web.get(links.until(rid, f"{rid}.no-such-invoice", int(time.time()) + 60))
        assert missing.status_code == 404 and "No such invoice" in missing.text

    assert (await _link(archiving, invoice_id, Role.WAITER)).status_code == 403
    other = await _link(archiving, "rother.inv-1")
    assert other.status_code == 403 and other.json()["code"] == "WRONG_TENANT"
    unknown = await _link(archiving, f"{rid}.inv-nothing")
    assert unknown.status_code == 404 and unknown.json()["code"] == "NOT_FOUND"


async def test_the_store_down_is_retried_and_the_invoice_archived_once_when_it_is_back(
    archiving: RunningHub, engine: AsyncEngine, s3: S3Server
) -> None:
    """S3 not answering: the try is logged FAILED and the row waits (PENDING, backoff); S3 back: archived, once,
    and the link serves it."""
    paid = await _settled(archiving)
    await _alone(engine, archiving.rid)
    drain = _drain(archiving)
    s3.stop()
    assert await drain.drain() == 1
    (row,) = await _rows(engine, paid["invoice_id"], "archive")
    assert (row.status, row.attempts) == ("PENDING", 1)
    assert "no answer" in (row.last_error or "") and f"127.0.0.1:{s3.port}" in (row.last_error or "")
    (attempt,) = await _attempts(engine, row.id)
    assert attempt.outcome == "FAILED" and attempt.payload["pdf"].endswith(".pdf")

    s3.start()  # the same port, the same buckets
    await _due_now(engine, row.id)
    done = await _archived(drain, engine, paid["invoice_id"])
    assert (done.status, done.attempts) == ("DONE", 2)
    assert [a.outcome for a in await _attempts(engine, row.id)] == ["FAILED", "SENT"]
    listed = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"fireflow/{archiving.rid}/")["Contents"]
    assert len(listed) == 2
    link = (await _link(archiving, paid["invoice_id"])).json()
    async with httpx.AsyncClient(timeout=WAIT) as web:
        assert (await web.get(link["url"])).status_code == 200


async def test_a_missing_bucket_fails_at_once_for_a_person_to_fix(
    archiving: RunningHub, engine: AsyncEngine, s3: S3Server
) -> None:
    """No such bucket is not worth retrying: FAILED after one try, S3's words kept; the link then says 503."""
    paid = await _settled(archiving)
    await _alone(engine, archiving.rid)
    hub = archiving.hub
    store = S3Store("no-such-bucket-here", endpoint_url=s3.url)
    drain = OutboxDrain(hub.engine, [ArchiveTarget(store, hub.invoice_links, hub.store.restaurant)])
    try:
        row = await _archived(drain, engine, paid["invoice_id"])
    finally:
        await store.close()
    assert (row.status, row.attempts) == ("FAILED", 1)
    assert "404 NoSuchBucket" in (row.last_error or "")
    link = (await _link(archiving, paid["invoice_id"])).json()
    assert (link["archived"], link["status"]) == (False, "FAILED")


async def test_the_default_archive_is_a_local_directory_written_whole(
    local: RunningHub, engine: AsyncEngine, tmp_path: Path
) -> None:
    """ARCHIVE_URL unset: the JSON and PDF are files under ``<data dir>/archive/{rid}/invoices/Y/MM``, no temporary
    file left beside them, and the link serves the PDF from there."""
    assert isinstance(local.hub.archive_store, LocalStore) and local.hub.archive_store.root == tmp_path / "archive"
    paid = await _settled(local)
    await _alone(engine, local.rid)
    row = await _archived(_drain(local), engine, paid["invoice_id"])
    assert row.status == "DONE"
    folder = (tmp_path / "archive" / row.remote_id).parent
    number = (await _invoice(local, paid["invoice_id"]))["number"]
    assert sorted(p.name for p in folder.iterdir()) == [f"{number}.json", f"{number}.pdf"]
    assert json.loads((folder / f"{number}.json").read_text())["total"] == paid["total"]
    link = (await _link(local, paid["invoice_id"])).json()
    async with httpx.AsyncClient(timeout=WAIT) as web:
        served = await web.get(link["url"])
    assert served.status_code == 200 and served.content == (folder / f"{number}.pdf").read_bytes()


async def test_a_local_store_refuses_keys_that_leave_it_and_reads_none_for_what_is_not_there(tmp_path: Path) -> None:
    """``..``, absolute and empty parts are no keys; a key never written reads as None; a put replaces whole."""
    store = LocalStore(tmp_path)
    for key in ("../x.pdf", "/etc/x", "a//b", "a/./b", ""):
        with pytest.raises(ValueError, match="not an archive key"):
            await store.put(key, b"x", "text/plain")
    assert await store.get("r1/invoices/2026/01/1.pdf") is None
    await store.put("r1/invoices/2026/01/1.pdf", b"first", "application/pdf")
    await store.put("r1/invoices/2026/01/1.pdf", b"second", "application/pdf")
    assert await store.get("r1/invoices/2026/01/1.pdf") == b"second"
    assert [p.name for p in (tmp_path / "r1/invoices/2026/01").iterdir()] == ["1.pdf"]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("s3://Bad_Bucket/x", "bucket name"),
        ("s3://ab", "bucket name"),
        ("http://bucket/x", "s3://bucket"),
        ("file://host/x", "file:///"),
    ],
)
def test_an_archive_url_that_points_nowhere_is_refused_in_words(url: str, error: str) -> None:
    """A malformed ARCHIVE_URL is a ValueError saying what is accepted (config turns it into one line at start)."""
    with pytest.raises(ValueError, match=error):
        location(url, Path("/data"))


def test_the_pdf_is_the_same_bytes_for_the_same_document_and_carries_a_qr_code() -> None:
    """Drawn twice from one document and link, the PDF is byte for byte the same; without a link there is no QR."""
    doc = {
        "restaurant": {"id": "r1", "name": "Café Ő"},
        "invoice": {
            "id": "r1.inv-3",
            "number": 3,
            "business_day": "2026-01-31",
            "issued_at": "2026-01-31T21:05:00+05:30",
            "customer": None,
        },
        "currency": "JPY",
        "minor_digits": 0,
        "tax_mode": "INCLUSIVE",
        "lines": [
            {
                "name": "Ramen",
                "quantity": 2,
                "unit_price": 900,
                "gross": 1800,
                "discount": 100,
                "net": 1700,
                "tax_code": "JCT",
                "tax_rate_bp": 1000,
                "tax": 155,
                "total": 1700,
            }
        ],
        "subtotal": 1800,
        "discount": 100,
        "service_charge": 0,
        "taxes": [{"code": "JCT", "rate_bp": 1000, "taxable": 1545, "tax": 155}],
        "tax": 155,
        "total": 1700,
        "payments": [{"method": "CARD", "amount": 1700}],
    }
    link = "http://127.0.0.1:8000/invoice/r1/r1.inv-3.pdf?exp=1&sig=x"
    first, again, bare = invoice_pdf(doc, link), invoice_pdf(doc, link), invoice_pdf(doc, None)
    assert first == again and first != bare
    words = _pdf_text(first)
    assert "Invoice 3" in words and "TOTAL JPY 1,700" in words and "Café O" in words and "(included)" in words
    assert link in words and link not in _pdf_text(bare)


def test_a_receipt_with_a_link_prints_it_as_a_qr_code_the_emulator_reads() -> None:
    """render.receipt with a link sends GS ( k (model, size, level, store, print): the emulator reads the code's
    text back; without a link no code is printed."""
    job = PrintJob.model_validate(
        {
            "id": "r1.inv-1:receipt",
            "kind": "RECEIPT",
            "printer": "desk",
            "receipt": {
                "bill": {
                    "currency": "INR",
                    "tax_mode": "EXCLUSIVE",
                    "order_ids": ["r1.o-1"],
                    "lines": [],
                    "gross": 0,
                    "discount": 0,
                    "service_charge": 0,
                    "taxes": [],
                    "tax": 0,
                    "total": 0,
                },
                "invoice_id": "r1.inv-1",
                "invoice_number": 1,
                "at": 0,
                "restaurant": "R",
                "currency": "INR",
                "link": "http://hub.example/invoice/r1/r1.inv-1.pdf?exp=9&sig=abc",
            },
            "created_at": 0,
        }
    )
    (paper,) = parse(render_job(job, 42))
    assert paper.codes == ("http://hub.example/invoice/r1/r1.inv-1.pdf?exp=9&sig=abc",)
    assert "[qr code]" in paper.text and "Your invoice online:" in paper.text and not paper.unknown
    assert b"\x1d(k" in paper.raw
    assert job.receipt is not None
    plain = render.receipt(
        job.receipt.bill, restaurant="R", invoice_number=1, payments=(), currency="INR", minor_digits=2, now_text=""
    )
    (without,) = parse(plain)
    assert without.codes == () and "[qr code]" not in without.text


async def test_the_printed_receipt_carries_the_qr_code_of_a_link_that_opens_the_archived_pdf(
    local: RunningHub, engine: AsyncEngine, printer: PrinterEmulator
) -> None:
    """print.receipt of a settled order: the paper's QR code (read from the printer's bytes) is the job's link, the
    invoice's link from its issue, and opening it serves the archived PDF."""
    await _set_up(local, {"id": "desk", "name": "Front desk", "host": "127.0.0.1", "port": printer.port})
    cashier = await local.client(Role.CASHIER, device=TILL)
    paid = await _settled(local)
    async with _agent(local) as agent:
        job = (await cashier.command("print.receipt", {"order_id": paid["order_id"]}))["result"]["job"]
        assert (await agent.result(job["id"], WAIT)).outcome is Outcome.PRINTED
        (paper,) = await printer.wait_for(1, WAIT)
    link = job["receipt"]["link"]
    assert paper.codes == (link,) and link.startswith(f"{local.url}/invoice/{local.rid}/{paid['invoice_id']}.pdf")
    invoice = await _invoice(local, paid["invoice_id"])
    expires = int(parse_qs(urlsplit(link).query)["exp"][0])
    assert expires == invoice["created_at"] // 1000 + int(local.settings.invoice_link_ttl)
    await _alone(engine, local.rid)
    await _archived(_drain(local), engine, paid["invoice_id"])
    async with httpx.AsyncClient(timeout=WAIT) as web:
        opened = await web.get(link)
    assert opened.status_code == 200 and f"Invoice {invoice['number']}" in _pdf_text(opened.content)


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("ARCHIVE_URL", "s3://Invoices", "ARCHIVE_URL=s3://Invoices: must be s3://bucket[/prefix] with a bucket name"),
        ("ARCHIVE_URL", "/var/invoices", "ARCHIVE_URL=/var/invoices: must be s3://bucket[/prefix] (an S3-compatible"),
        ("S3_ENDPOINT_URL", "minio:9000", "S3_ENDPOINT_URL=minio:9000: must be http://host[:port]"),
        ("FIREFLOW_PUBLIC_URL", "hub.example", "FIREFLOW_PUBLIC_URL=hub.example: must be http://host[:port]"),
        ("FIREFLOW_INVOICE_LINK_TTL", "0", "FIREFLOW_INVOICE_LINK_TTL=0: must be a number above 0"),
    ],
)
def test_a_bad_archive_setting_stops_the_node_with_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    """Each archive setting that cannot work is refused at start in one line naming the variable and what it takes."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert len(err.value.lines) == 1 and err.value.lines[0].startswith(line), err.value.lines


def test_archive_settings_default_to_the_data_directory_and_the_nodes_own_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unset: the archive is ``<data dir>/archive`` and links start with ``http://host:port``; set, as given."""
    for name in ("ARCHIVE_URL", "S3_ENDPOINT_URL", "FIREFLOW_PUBLIC_URL", "FIREFLOW_INVOICE_LINK_TTL"):
        monkeypatch.delenv(name, raising=False)
    plain = Settings.from_env(data_dir=Path("/srv/ff"), port=8123)
    assert (plain.archive_url, plain.public_base_url, plain.invoice_link_ttl) == (
        None,
        "http://127.0.0.1:8123",
        2592000,
    )
    assert location(plain.archive_url, plain.data_dir).directory == Path("/srv/ff/archive")
    monkeypatch.setenv("ARCHIVE_URL", "s3://ff-invoices/site-1/")
    monkeypatch.setenv("FIREFLOW_PUBLIC_URL", "https://hub.example/ff/")
    given = Settings.from_env()
    assert location(given.archive_url, given.data_dir) == location("s3://ff-invoices/site-1", Path("."))
    assert location(given.archive_url, given.data_dir).prefix == "site-1"
    assert given.public_base_url == "https://hub.example/ff"
