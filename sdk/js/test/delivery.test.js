// What the service really sends: one delivery from `modelhooks dev`, verified.
// Needs the delivery engine that `modelhooks dev` runs in its process.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Client, WebhookVerificationError, verifyWebhook } from '../src/index.js';
import { startDevServer, startStub } from '../test-helpers/servers.js';

const DELIVERY_WAIT_MS = 20_000;
const OTHER_SECRET = 'whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ==';

let dev;
let receiver;
let client;
let callback;
let request;

before(async () => {
  dev = await startDevServer();
  receiver = await startStub(() => ({ status: 204 }));
  client = new Client(dev.baseUrl, dev.apiKey);
  callback = await client.addCallback(`${receiver.url}/hooks`, { modelName: 'delivered_js' });
  await client.reportStatus('sdk_js_delivery', 'delivered_js', 1, 'training', { predictorId: 4343 });
  await client.reportStatus('sdk_js_delivery', 'delivered_js', 1, 'complete', { changedAt: '2026-03-01T12:00:00Z' });

  [request] = await receiver.waitFor(1, DELIVERY_WAIT_MS);
  if (!request) {
    throw new Error(`no callback request within ${DELIVERY_WAIT_MS} ms; modelhooks dev log:\n${dev.log().slice(-3000)}`);
  }
});

after(async () => {
  await receiver?.close();
  await dev?.stop();
});

const rejects = (pattern, ...args) => assert.throws(
  () => verifyWebhook(...args),
  (error) => error instanceof WebhookVerificationError && pattern.test(error.message),
);

test('the service posts JSON with the three webhook headers', () => {
  assert.deepEqual([request.method, request.path], ['POST', '/hooks']);
  assert.equal(request.headers['content-type'], 'application/json');
  assert.match(request.headers['webhook-id'], /^msg_/);
  assert.match(request.headers['webhook-signature'], /^v1,/);
});

test('verifyWebhook accepts the real request', () => {
  const change = verifyWebhook(request.body, request.headers, callback.secret);

  assert.equal(change.webhookId, request.headers['webhook-id']);
  assert.deepEqual([change.projectName, change.name, change.version], ['sdk_js_delivery', 'delivered_js', 1]);
  assert.deepEqual([change.oldStatus, change.newStatus, change.predictorId], ['training', 'complete', 4343]);
  assert.equal(change.changedAt.toISOString(), '2026-03-01T12:00:00.000Z');
});

test('the real request is rejected when its body changes', () => {
  const changed = Buffer.from(request.body.toString().replace('"complete"', '"error"'));

  rejects(/^no matching webhook signature$/, changed, request.headers, callback.secret);
});

test('the real request is rejected when its id header changes', () => {
  rejects(/^no matching webhook signature$/, request.body, { ...request.headers, 'webhook-id': 'msg_replayed' }, callback.secret);
});

test('the real request is rejected under a wrong secret', () => {
  rejects(/^no matching webhook signature$/, request.body, request.headers, OTHER_SECRET);
});

test('the real request is rejected ten minutes later', () => {
  const now = Number(request.headers['webhook-timestamp']) + 600;

  rejects(/outside the tolerance/, request.body, request.headers, callback.secret, { now });
});

test('the real request with a malformed signature header is rejected', () => {
  rejects(/^missing or malformed/, request.body, { ...request.headers, 'webhook-signature': 'v1;garbage' }, callback.secret);
});

test('the real request verifies with the old secret while a new one is listed', () => {
  assert.equal(verifyWebhook(request.body, request.headers, [OTHER_SECRET, callback.secret]).newStatus, 'complete');
});

test('the deliveries log shows the delivery and its 204 attempt', async () => {
  let page;
  for (let tries = 0; tries < 100; tries += 1) {
    page = await client.listDeliveries(callback.id);
    if (page.deliveries[0]?.state === 'succeeded') {
      break;
    }
    await new Promise((done) => setTimeout(done, 100));
  }

  const [delivery] = page.deliveries;
  assert.equal(page.total, 1);
  assert.equal(delivery.id, request.headers['webhook-id']);
  assert.deepEqual([delivery.state, delivery.attemptsMade], ['succeeded', 1]);
  assert.deepEqual(delivery.attempts.map((a) => [a.number, a.statusCode]), [[1, 204]]);
});
