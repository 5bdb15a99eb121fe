// A merchant's whole journey through the TypeScript client that @hey-api/openapi-ts generates
// from openapi.yaml, unedited, against `local` on loopback (scripts/clients compiles and runs it):
// the seed's create request; the payer's approval on the sandbox's au screen; get and track; a
// partial capture; a partial then a full cancel of another payment; a refund after moving the
// sandbox clock into the next month; listing by reference and by status across pages; the
// ledger and both months' statements (totals, and the CSV pages as text); an
// idempotent replay; an error parsed into the error model; an answer carrying values the
// document does not list yet; and a webhook endpoint on a loopback receiver whose every delivery
// is verified with the `standardwebhooks` library. Every step asserts what it saw.
//
// Usage: node dist/journey.js BASE_URL

import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { Webhook } from 'standardwebhooks';

import { createClient, createConfig } from './client/client';
import * as api from './client/sdk.gen';
import type { CreatePaymentRequest, Operation, Payment, WebhookEvent } from './client/types.gen';

const base = process.argv[2];
const client = createClient(createConfig({ baseUrl: base, auth: 'sk_local_demo' }));
const seedRequest: CreatePaymentRequest = {
  processingAccountId: '2HdN2jq6XWmlkhqRC2gDTNYCvNH',
  merchantReference: 'c5211d6b-0178-49f8-a06b-69df097a712f',
  amount: { value: 200, currency: 'jpy' },
  paymentMethod: { type: 'au_kantan_kessai', auKantanKessai: { returnUrl: 'https://merchant.site/complete-payment' } },
};
const seedParams = [
  'pay_method', 'merchant_id', 'service_id', 'cust_code', 'order_id', 'item_id', 'amount', 'pay_type',
  'service_type', 'success_url', 'cancel_url', 'error_url', 'pagecon_url', 'request_date', 'limit_second',
  'sps_hashcode',
];

let steps = 0;
function step(text: string): void {
  steps += 1;
  console.log(`ok  ${String(steps).padStart(2)} ${text}`);
}

function expectStatus(response: Response, status: number, what: unknown): void {
  assert.equal(response.status, status, `${response.status}, expected ${status}: ${JSON.stringify(what)}`);
}

/** The payer's browser posts the redirect to the au screen and approves (plain HTTP). */
async function approve(payment: Payment): Promise<void> {
  const redirect = payment.nextStep?.redirect;
  assert.ok(redirect, 'a pending payment has its redirect');
  const form = new URLSearchParams(redirect.params.map((p) => [p.name, p.value] as [string, string]));
  form.append('decision', 'approve');
  const page = await fetch(redirect.url, { method: 'POST', body: form, redirect: 'manual' });
  assert.ok(page.status < 400, `the au screen answered ${page.status}`);
}

async function created(reference: string, value: number, metadata?: Record<string, string>): Promise<Payment> {
  const body: CreatePaymentRequest = { ...seedRequest, merchantReference: reference, amount: { value, currency: 'jpy' }, ...(metadata ? { metadata } : {}) };
  const r = await api.createPayment({ client, body });
  expectStatus(r.response, 201, r.error);
  assert.ok(r.data);
  await approve(r.data);
  return r.data;
}

async function main(): Promise<void> {
  // The merchant's webhook endpoint on loopback: every delivery recorded with its headers.
  const arrivals: { headers: Record<string, string>; body: string }[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => { body += chunk.toString('utf8'); });
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      arrivals.push({ headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  const endpoint = await api.createWebhookEndpoint({ client, body: { url: hookUrl } });
  expectStatus(endpoint.response, 201, endpoint.error);
  const hook = endpoint.data;
  assert.ok(hook && hook.secret.startsWith('whsec_'));
  step(`webhook endpoint ${hook.id} on ${hookUrl}`);

  // The seed's request, verbatim: the seed's answer, field by field.
  const created0 = await api.createPayment({ client, body: seedRequest });
  expectStatus(created0.response, 201, created0.error);
  const seed = created0.data;
  assert.ok(seed);
  assert.deepEqual(Object.keys(seed).slice(0, 6), ['id', 'merchantReference', 'status', 'trackingUrl', 'reason', 'nextStep']);
  assert.equal(seed.status, 'pending');
  assert.equal(seed.reason?.code, 'required_next_step');
  assert.equal(seed.trackingUrl, `/v1/tracks/payments/${seed.trackId}`);
  assert.deepEqual(seed.nextStep?.redirect.params.map((p) => p.name), seedParams);
  assert.deepEqual(seed.metadata, {});
  step(`create (the seed's request): ${seed.id}, pending, 16 params in the seed's order`);

  await approve(seed);
  const got = await api.getPayment({ client, path: { id: seed.id } });
  expectStatus(got.response, 200, got.error);
  assert.equal(got.data?.status, 'authorized');
  assert.equal(got.data?.nextStep, undefined);
  const tracked = await api.trackPayment({ client: createClient(createConfig({ baseUrl: base })), path: { trackId: seed.trackId } });
  expectStatus(tracked.response, 200, tracked.error);
  assert.equal(tracked.data?.status, 'authorized');
  step('approved on the au screen; get and track show it authorized');

  const capture = await api.capturePayment({
    client, path: { id: seed.id }, body: { amount: { value: 150, currency: 'jpy' } }, headers: { 'Idempotency-Key': 'ts-capture-1' },
  });
  expectStatus(capture.response, 201, capture.error);
  const op: Operation | undefined = capture.data;
  assert.equal(op?.status, 'succeeded');
  assert.equal(op?.paymentStatus, 'captured');
  step('partial capture of 150');

  const other = await created('ts-journey-2', 1000, { orderNumber: 'B-2002' });
  const part = await api.cancelPayment({ client, path: { id: other.id }, body: { amount: { value: 300, currency: 'jpy' } } });
  expectStatus(part.response, 201, part.error);
  assert.equal(part.data?.paymentStatus, 'authorized');
  const rest = await api.cancelPayment({ client, path: { id: other.id } });
  expectStatus(rest.response, 201, rest.error);
  assert.equal(rest.data?.paymentStatus, 'cancelled');
  assert.equal(rest.data?.amount.value, 700);
  const shown = await api.getPayment({ client, path: { id: other.id } });
  assert.equal(shown.data?.cancelledAmount.value, 1000);
  assert.deepEqual(shown.data?.metadata, { orderNumber: 'B-2002' });
  step('another payment: partial cancel of 300, then the rest; metadata echoed');

  // Partial refunds open in the month after the sale (Japan time): move the sandbox's clock.
  const now = new Date();
  const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 5, 3, 0, 0));
  const moved = await fetch(`${base}/sandbox/sbps/control/clock`, {
    method: 'POST', body: JSON.stringify({ now: nextMonth.toISOString().replace(/\.\d+Z$/, 'Z') }),
  });
  assert.equal(moved.status, 200, await moved.text());
  const refund = await api.refundPayment({ client, path: { id: seed.id }, body: { amount: { value: 50, currency: 'jpy' } } });
  expectStatus(refund.response, 201, refund.error);
  assert.equal(refund.data?.paymentStatus, 'partially_refunded');
  step('clock moved to next month; partial refund of 50');

  const byReference = await api.listPayments({ client, query: { merchantReference: seedRequest.merchantReference } });
  expectStatus(byReference.response, 200, byReference.error);
  assert.deepEqual(byReference.data?.data.map((p) => p.id), [seed.id]);
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await api.listPayments({ client, query: { status: ['partially_refunded', 'cancelled'], limit: 1, ...(cursor ? { cursor } : {}) } });
    expectStatus(page.response, 200, page.error);
    pages += 1;
    seen.push(...(page.data?.data ?? []).map((p) => p.id));
    if (typeof page.data?.nextCursor !== 'string') break;
    cursor = page.data.nextCursor;
  }
  assert.deepEqual(seen.sort(), [seed.id, other.id].sort());
  assert.ok(pages >= 2);
  step(`listing by reference, and by status over ${pages} pages`);

  // The money that moved: the capture in its month, the refund (a later month) in the next.
  const japanMonth = (d: Date) => new Date(d.getTime() + 9 * 3600 * 1000).toISOString().slice(0, 7);
  const [saleMonth, refundMonth] = [japanMonth(now), japanMonth(nextMonth)];
  const entries: string[] = [];
  let ledgerCursor: string | undefined;
  for (;;) {
    const page = await api.listLedgerEntries({ client, query: { limit: 1, ...(ledgerCursor ? { cursor: ledgerCursor } : {}) } });
    expectStatus(page.response, 200, page.error);
    entries.push(...(page.data?.data ?? []).map((e) => `${e.paymentId} ${e.type} ${e.amount.value} ${e.month}`));
    if (typeof page.data?.nextCursor !== 'string') break;
    ledgerCursor = page.data.nextCursor;
  }
  assert.deepEqual(entries, [`${seed.id} refund -50 ${refundMonth}`, `${seed.id} capture 150 ${saleMonth}`]);
  const sold = await api.getStatement({ client, path: { month: saleMonth } });
  expectStatus(sold.response, 200, sold.error);
  assert.ok(sold.data?.complete);
  assert.deepEqual([sold.data.captures.count, sold.data.captures.amount.value, sold.data.net.value], [1, 150, 150]);
  const later = await api.getStatement({ client, path: { month: refundMonth } });
  expectStatus(later.response, 200, later.error);
  assert.deepEqual([later.data?.complete, later.data?.refunds.amount.value, later.data?.net.value], [false, -50, -50]);
  // The CSV, a page at a time: the same call asking for text/csv, read as text.
  const rows: string[] = [];
  let csvCursor: string | undefined;
  for (;;) {
    const page = await api.getStatement({
      client, path: { month: saleMonth }, query: { limit: 1, ...(csvCursor ? { cursor: csvCursor } : {}) },
      headers: { Accept: 'text/csv' }, parseAs: 'text',
    });
    expectStatus(page.response, 200, page.error);
    assert.ok(page.response.headers.get('content-type')?.startsWith('text/csv'));
    const lines = (page.data as unknown as string).split('\r\n');
    assert.ok(lines[0].startsWith('entry_id,type,amount,currency,') && lines[lines.length - 1] === '', lines.join('|'));
    rows.push(...lines.slice(1, -1));
    const link = page.response.headers.get('link');
    if (!link) break;
    csvCursor = new URL(link.slice(1, link.indexOf('>')), base).searchParams.get('cursor') ?? undefined;
  }
  assert.equal(rows.length, 1);
  assert.ok(rows[0].includes(',capture,150,jpy,') && rows[0].includes(seed.id), rows[0]);
  step(`ledger of ${entries.length} entries; ${saleMonth} and ${refundMonth} statements, JSON and CSV`);

  const body: CreatePaymentRequest = { ...seedRequest, merchantReference: 'ts-replay' };
  const first = await api.createPayment({ client, body, headers: { 'Idempotency-Key': 'ts-create-once' } });
  const again = await api.createPayment({ client, body, headers: { 'Idempotency-Key': 'ts-create-once' } });
  expectStatus(again.response, 201, again.error);
  assert.deepEqual(again.data, first.data);
  assert.equal(again.response.headers.get('idempotent-replayed'), 'true');
  assert.equal(first.response.headers.get('idempotent-replayed'), null);
  step('idempotent replay: the same answer, Idempotent-Replayed: true');

  const refused = await api.capturePayment({ client, path: { id: other.id } });
  expectStatus(refused.response, 409, refused.data);
  assert.ok(refused.error && 'reason' in refused.error && refused.error.reason);
  assert.equal(refused.error.reason.code, 'operation_not_allowed');
  assert.match(refused.error.reason.description, /cancelled/);
  step(`an error in the error model: ${refused.error.reason.code}`);

  // Values the document does not list yet: the client hands them over as they came.
  const future = { ...(got.data as Payment), status: 'on_hold' };
  const fake = createClient(createConfig({
    baseUrl: base,
    auth: 'sk_local_demo',
    fetch: async () => new Response(JSON.stringify(future), { status: 200, headers: { 'content-type': 'application/json' } }),
  }));
  const parsed = await api.getPayment({ client: fake, path: { id: seed.id } });
  assert.equal(parsed.data?.status, 'on_hold');
  const unknownEvent: WebhookEvent = { id: 'evt_x_1', type: 'payment.disputed', timestamp: '2030-01-01T00:00:00Z', data: { sequence: 1, payment: future, operation: null } };
  assert.equal(unknownEvent.type, 'payment.disputed');
  step('an unknown status and event type pass through the client');

  // Every delivery verified by the Standard Webhooks library.
  const wanted = ['payment.authorized', 'payment.captured', 'payment.partially_cancelled', 'payment.cancelled', 'payment.partially_refunded'];
  const verifier = new Webhook(hook.secret);
  const deadline = Date.now() + 30_000;
  let events: WebhookEvent[] = [];
  for (;;) {
    events = arrivals.map((a) => verifier.verify(a.body, a.headers) as WebhookEvent);
    const types = new Set(events.map((e) => e.type));
    if (wanted.every((t) => types.has(t)) || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const types = new Set(events.map((e) => e.type));
  assert.deepEqual(wanted.filter((t) => !types.has(t)), [], 'every expected event arrived');
  const cancelled = events.find((e) => e.type === 'payment.cancelled');
  assert.deepEqual(cancelled?.data.payment.metadata, { orderNumber: 'B-2002' });
  step(`${arrivals.length} deliveries, each verified by standardwebhooks: ${[...types].sort().join(', ')}`);

  receiver.close();
  console.log(`typescript client: all ${steps} steps passed`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
