"""A merchant's whole journey through the Python client that openapi-python-client generates from
openapi.yaml, unedited, against `local` on loopback (scripts/clients runs it):

the seed's create request; the payer's approval on the sandbox's au screen; get and track; a
partial capture; a partial then a full cancel of another payment; a refund after moving the
sandbox clock into the next month; listing by reference and by status across pages; the
ledger and both months' statements (totals, and the CSV pages through the client's HTTP client); an
idempotent replay; an error parsed into the error model; answers carrying values the document
does not list yet; and a webhook endpoint on a loopback receiver whose every delivery is
verified with the `standardwebhooks` library. Every step asserts what it saw.

Usage: python journey.py BASE_URL
"""

import datetime
import http.server
import json
import sys
import threading
import time
import urllib.parse

import httpx
from standardwebhooks import Webhook

from kantan_client import AuthenticatedClient, Client
from kantan_client.api.ledger import get_statement, list_ledger_entries
from kantan_client.api.operations import cancel_payment, capture_payment, refund_payment
from kantan_client.api.payments import create_payment, get_payment, list_payments
from kantan_client.api.tracking import track_payment
from kantan_client.api.webhooks import create_webhook_endpoint, list_payment_events
from kantan_client.models import (
    AmountInput,
    CancelPaymentBody,
    CapturePaymentBody,
    CreatePaymentRequest,
    Error,
    KnownEntryType,
    KnownErrorCode,
    KnownOperationStatus,
    KnownPaymentStatus,
    LedgerPage,
    Operation,
    Payment,
    PaymentPage,
    RefundPaymentBody,
    Statement,
    Track,
    WebhookEndpointRequest,
    WebhookEndpointWithSecret,
    WebhookEvent,
)
from kantan_client.types import Unset

BASE = sys.argv[1]
KEY = "sk_local_demo"
SEED = {
    "processingAccountId": "2HdN2jq6XWmlkhqRC2gDTNYCvNH",
    "merchantReference": "c5211d6b-0178-49f8-a06b-69df097a712f",
    "amount": {"value": 200, "currency": "jpy"},
    "paymentMethod": {
        "type": "au_kantan_kessai",
        "auKantanKessai": {"returnUrl": "https://merchant.site/complete-payment"},
    },
}
SEED_PARAMS = [
    "pay_method", "merchant_id", "service_id", "cust_code", "order_id", "item_id", "amount",
    "pay_type", "service_type", "success_url", "cancel_url", "error_url", "pagecon_url",
    "request_date", "limit_second", "sps_hashcode",
]

steps = 0


def step(text):
    global steps
    steps += 1
    print(f"ok  {steps:2} {text}", flush=True)


def expect(response, status, model):
    assert response.status_code == status, f"{response.status_code}, expected {status}: {response.content!r}"
    assert isinstance(response.parsed, model), f"{type(response.parsed).__name__}, expected {model.__name__}"
    return response.parsed


class Receiver(http.server.BaseHTTPRequestHandler):
    """The merchant's webhook endpoint: records every delivery with its headers, answers 204."""

    arrivals = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with self.lock:
            self.arrivals.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def approve(payment):
    """The payer's browser posts the redirect to the au screen and approves (plain HTTP)."""
    redirect = payment.next_step.redirect
    form = [(p.name, p.value) for p in redirect.params] + [("decision", "approve")]
    page = httpx.post(
        redirect.url,
        content=urllib.parse.urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
        timeout=10,
    )
    assert page.status_code < 400, page.text


def created(client, reference, value, metadata=None):
    body = dict(SEED, merchantReference=reference, amount={"value": value, "currency": "jpy"})
    if metadata is not None:
        body["metadata"] = metadata
    payment = expect(create_payment.sync_detailed(client=client, body=CreatePaymentRequest.from_dict(body)), 201, Payment)
    approve(payment)
    return payment


def main():
    client = AuthenticatedClient(base_url=BASE, token=KEY, raise_on_unexpected_status=True)
    public = Client(base_url=BASE)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    endpoint = expect(
        create_webhook_endpoint.sync_detailed(client=client, body=WebhookEndpointRequest(url=hook_url)),
        201,
        WebhookEndpointWithSecret,
    )
    assert endpoint.secret.startswith("whsec_")
    step(f"webhook endpoint {endpoint.id} on {hook_url}")

    # The seed's request, verbatim: the seed's answer, field by field.
    answer = create_payment.sync_detailed(client=client, body=CreatePaymentRequest.from_dict(SEED))
    seed = expect(answer, 201, Payment)
    assert list(json.loads(answer.content))[:6] == [
        "id", "merchantReference", "status", "trackingUrl", "reason", "nextStep"
    ], "the seed's fields in the seed's order"
    assert seed.merchant_reference == SEED["merchantReference"]
    assert seed.status == KnownPaymentStatus.PENDING
    assert seed.reason.code == "required_next_step"
    assert seed.tracking_url == f"/v1/tracks/payments/{seed.track_id}"
    assert [p.name for p in seed.next_step.redirect.params] == SEED_PARAMS
    assert seed.metadata.to_dict() == {}
    step(f"create (the seed's request): {seed.id}, pending, 16 params in the seed's order")

    approve(seed)
    got = expect(get_payment.sync_detailed(seed.id, client=client), 200, Payment)
    assert got.status == KnownPaymentStatus.AUTHORIZED and got.authorized_amount.value == 200
    assert isinstance(got.next_step, Unset)
    tracked = expect(track_payment.sync_detailed(seed.track_id, client=public), 200, Track)
    assert tracked.status == KnownPaymentStatus.AUTHORIZED
    step("approved on the au screen; get and track show it authorized")

    op = expect(
        capture_payment.sync_detailed(
            seed.id, client=client, body=CapturePaymentBody(amount=AmountInput(value=150, currency="jpy")),
            idempotency_key="py-capture-1",
        ),
        201,
        Operation,
    )
    assert op.status == KnownOperationStatus.SUCCEEDED and op.payment_status == KnownPaymentStatus.CAPTURED
    assert op.amount.value == 150
    step("partial capture of 150")

    other = created(client, "py-journey-2", 1000, {"orderNumber": "A-1002", "channel": "app"})
    cancel = expect(
        cancel_payment.sync_detailed(
            other.id, client=client, body=CancelPaymentBody(amount=AmountInput(value=300, currency="jpy"))
        ),
        201,
        Operation,
    )
    assert cancel.payment_status == KnownPaymentStatus.AUTHORIZED
    cancelled = expect(cancel_payment.sync_detailed(other.id, client=client), 201, Operation)
    assert cancelled.payment_status == KnownPaymentStatus.CANCELLED and cancelled.amount.value == 700
    shown = expect(get_payment.sync_detailed(other.id, client=client), 200, Payment)
    assert shown.cancelled_amount.value == 1000 and shown.metadata.to_dict() == {"orderNumber": "A-1002", "channel": "app"}
    step("another payment: partial cancel of 300, then the rest; metadata echoed")

    # Partial refunds open in the month after the sale (Japan time): move the sandbox's clock.
    now = datetime.datetime.now(datetime.timezone.utc)
    next_month = (now.replace(day=1) + datetime.timedelta(days=32)).replace(day=5, hour=3, minute=0, second=0)
    moved = httpx.post(f"{BASE}/sandbox/sbps/control/clock", json={"now": next_month.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert moved.status_code == 200, moved.text
    refund = expect(
        refund_payment.sync_detailed(
            seed.id, client=client, body=RefundPaymentBody(amount=AmountInput(value=50, currency="jpy"))
        ),
        201,
        Operation,
    )
    assert refund.payment_status == KnownPaymentStatus.PARTIALLY_REFUNDED
    step("clock moved to next month; partial refund of 50")

    by_reference = expect(
        list_payments.sync_detailed(client=client, merchant_reference=SEED["merchantReference"]), 200, PaymentPage
    )
    assert [p.id for p in by_reference.data] == [seed.id]
    seen, cursor, pages = [], None, 0
    while True:
        page = expect(
            list_payments.sync_detailed(
                client=client,
                status=[KnownPaymentStatus.PARTIALLY_REFUNDED, KnownPaymentStatus.CANCELLED],
                limit=1,
                **({"cursor": cursor} if cursor else {}),
            ),
            200,
            PaymentPage,
        )
        pages += 1
        seen += [p.id for p in page.data]
        if not isinstance(page.next_cursor, str):
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted([seed.id, other.id]) and pages >= 2, (seen, pages)
    step(f"listing by reference, and by status over {pages} pages")

    # The money that moved: the capture in its month, the refund (a later month) in the next.
    entries, cursor = [], None
    while True:
        page = expect(
            list_ledger_entries.sync_detailed(client=client, limit=1, **({"cursor": cursor} if cursor else {})),
            200,
            LedgerPage,
        )
        entries += page.data
        if not isinstance(page.next_cursor, str):
            break
        cursor = page.next_cursor
    sale_month = now.astimezone(datetime.timezone(datetime.timedelta(hours=9))).strftime("%Y-%m")
    refund_month = next_month.astimezone(datetime.timezone(datetime.timedelta(hours=9))).strftime("%Y-%m")
    seen = [(e.payment_id, e.type_, e.amount.value, e.month) for e in entries]
    assert seen == [
        (seed.id, KnownEntryType.REFUND, -50, refund_month),
        (seed.id, KnownEntryType.CAPTURE, 150, sale_month),
    ], seen
    sold = expect(get_statement.sync_detailed(sale_month, client=client), 200, Statement)
    assert sold.complete and sold.captures.count == 1 and sold.captures.amount.value == 150 and sold.net.value == 150
    later = expect(get_statement.sync_detailed(refund_month, client=client), 200, Statement)
    assert not later.complete and later.refunds.amount.value == -50 and later.net.value == -50
    # The CSV: the generated call reads JSON, so the client's own HTTP client asks for text/csv.
    raw = client.get_httpx_client()
    rows, url = [], f"/v1/statements/{sale_month}?limit=1"
    while url:
        csv_page = raw.get(url, headers={"Accept": "text/csv"})
        assert csv_page.status_code == 200 and csv_page.headers["content-type"].startswith("text/csv"), csv_page.text
        lines = csv_page.text.split("\r\n")
        assert lines[0].startswith("entry_id,type,amount,currency,") and lines[-1] == "", lines
        rows += lines[1:-1]
        link = csv_page.headers.get("link")
        url = link[1:link.index(">")] if link else None
    assert len(rows) == 1 and f",capture,150,jpy," in rows[0] and seed.id in rows[0], rows
    step(f"ledger of {len(entries)} entries; {sale_month} and {refund_month} statements, JSON and CSV")

    body = CreatePaymentRequest.from_dict(dict(SEED, merchantReference="py-replay"))
    first = create_payment.sync_detailed(client=client, body=body, idempotency_key="py-create-once")
    again = create_payment.sync_detailed(client=client, body=body, idempotency_key="py-create-once")
    assert first.status_code == again.status_code == 201 and first.content == again.content
    assert again.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers
    step("idempotent replay: the same bytes, Idempotent-Replayed: true")

    refused = capture_payment.sync_detailed(other.id, client=client)
    error = expect(refused, 409, Error)
    assert error.reason.code == KnownErrorCode.OPERATION_NOT_ALLOWED, error.reason.code
    assert "cancelled" in error.reason.description
    step(f"an error in the error model: {error.reason.code.value}")

    # Values the document does not list yet parse, through the client's own calls: statuses,
    # codes and event types are open sets.
    future = expect(get_payment.sync_detailed(seed.id, client=client), 200, Payment).to_dict()
    future["status"] = "on_hold"
    future["operations"] = [dict(o, status="reversed") for o in future["operations"]]

    def answer(request):
        if request.url.path.startswith("/v1/payments/"):
            return httpx.Response(200, json=future)
        return httpx.Response(429, json={"reason": {"code": "rate_limited", "description": "Later."}})

    mocked = AuthenticatedClient(base_url=BASE, token=KEY, httpx_args={"transport": httpx.MockTransport(answer)})
    parsed = expect(get_payment.sync_detailed(seed.id, client=mocked), 200, Payment)
    assert parsed.status == "on_hold" and parsed.operations[0].status == "reversed"
    assert Error.from_dict({"reason": {"code": "rate_limited", "description": "Later."}}).reason.code == "rate_limited"
    event = {"id": "evt_x_1", "type": "payment.disputed", "timestamp": "2030-01-01T00:00:00Z",
             "data": {"sequence": 1, "payment": future, "operation": None}}
    assert WebhookEvent.from_dict(event).type_ == "payment.disputed"
    step("an unknown status, operation status, error code and event type parse")

    # Every delivery verified by the Standard Webhooks library, and parsed.
    wanted = {"payment.authorized", "payment.captured", "payment.partially_cancelled", "payment.cancelled",
              "payment.partially_refunded"}
    verifier = Webhook(endpoint.secret)
    deadline = time.monotonic() + 30
    while True:
        with Receiver.lock:
            arrivals = list(Receiver.arrivals)
        events = [WebhookEvent.from_dict(verifier.verify(body, headers)) for headers, body in arrivals]
        types = {e.type_ for e in events}
        if wanted <= types or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert wanted <= types, f"missing {wanted - types}"
    cancelled_event = next(e for e in events if e.type_ == "payment.cancelled")
    assert cancelled_event.data.payment.metadata.to_dict() == {"orderNumber": "A-1002", "channel": "app"}
    listed = list_payment_events.sync_detailed(seed.id, client=client)
    assert listed.status_code == 200, listed.content
    step(f"{len(arrivals)} deliveries, each verified by standardwebhooks: {', '.join(sorted(types))}")

    server.shutdown()
    print(f"python client: all {steps} steps passed")


if __name__ == "__main__":
    main()
