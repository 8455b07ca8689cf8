// Signing and verifying callback requests, from one valid baseline with one defect each.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { WebhookVerificationError, signWebhook, verifyWebhook } from '../src/index.js';

const SECRET = 'whsec_bW9kZWxob29rcyBzZGsgZ29sZGVuIHRlc3Qga2V5ISE=';
const OTHER_SECRET = 'whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ==';
const WEBHOOK_ID = 'msg_2mXpGolden';
const TIMESTAMP = 1694260740; // 2023-09-09T11:59:00Z
const BODY = Buffer.from(
  '{"name":"home_rentals","version":1,"active":true,"predictor_id":123,'
  + '"project_name":"mindsdb","predictor_created_at":"Fri, 09 Sep 2023 11:50:27 GMT",'
  + '"old_status":"training","new_status":"complete",'
  + '"changed_at":"Fri, 09 Sep 2023 11:59:00 GMT"}',
);
// Computed once with the standardwebhooks Python package, independently of this SDK;
// the Python SDK's tests pin the same value.
const GOLDEN_SIGNATURE = 'v1,zBvONN6CTpfNnG9Qdb/EsKLc2lsVJF8FyyoiREtEfg8=';

const signed = () => signWebhook(BODY, SECRET, { webhookId: WEBHOOK_ID, timestamp: TIMESTAMP });
const rejects = (pattern, ...args) => assert.throws(
  () => verifyWebhook(...args),
  (error) => error instanceof WebhookVerificationError && pattern.test(error.message),
);

test('signWebhook gives the golden signature for a fixed message', () => {
  assert.deepEqual(signed(), {
    'webhook-id': WEBHOOK_ID,
    'webhook-timestamp': '1694260740',
    'webhook-signature': GOLDEN_SIGNATURE,
  });
});

test('signWebhook defaults to a fresh msg_ id and the current time', () => {
  const headers = signWebhook(BODY, SECRET);

  assert.match(headers['webhook-id'], /^msg_[0-9a-f]{32}$/);
  assert.ok(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000) < 5);
});

test('a valid request verifies into a typed model status change', () => {
  const change = verifyWebhook(BODY, signed(), SECRET, { now: TIMESTAMP });

  assert.deepEqual(change, {
    webhookId: 'msg_2mXpGolden',
    name: 'home_rentals',
    version: 1,
    active: true,
    predictorId: 123,
    projectName: 'mindsdb',
    predictorCreatedAt: new Date('2023-09-09T11:50:27Z'),
    oldStatus: 'training',
    newStatus: 'complete',
    changedAt: new Date('2023-09-09T11:59:00Z'),
  });
});

test('the body may be given as a string or a Uint8Array, and headers as fetch Headers', () => {
  const headers = new Headers(signed());

  assert.equal(verifyWebhook(BODY.toString('utf8'), headers, SECRET, { now: TIMESTAMP }).version, 1);
  assert.equal(verifyWebhook(new Uint8Array(BODY), headers, SECRET, { now: TIMESTAMP }).version, 1);
});

test('header names are matched whatever their case', () => {
  const headers = Object.fromEntries(Object.entries(signed()).map(([name, value]) => [name.toUpperCase(), value]));

  assert.equal(verifyWebhook(BODY, headers, SECRET, { now: TIMESTAMP }).version, 1);
});

test('a changed body is rejected', () => {
  const changed = Buffer.from(BODY.toString().replace('"version":1', '"version":2'));

  rejects(/^no matching webhook signature$/, changed, signed(), SECRET, { now: TIMESTAMP });
});

test('a changed webhook-id or webhook-timestamp is rejected', () => {
  rejects(/^no matching/, BODY, { ...signed(), 'webhook-id': 'msg_someoneElse' }, SECRET, { now: TIMESTAMP });
  rejects(/^no matching/, BODY, { ...signed(), 'webhook-timestamp': '1694260741' }, SECRET, { now: TIMESTAMP });
});

test('a request signed with another secret is rejected', () => {
  rejects(/^no matching webhook signature$/, BODY, signed(), OTHER_SECRET, { now: TIMESTAMP });
});

test('a timestamp 301 seconds away either way is outside the default tolerance', () => {
  rejects(/outside the tolerance/, BODY, signed(), SECRET, { now: TIMESTAMP + 301 });
  rejects(/outside the tolerance/, BODY, signed(), SECRET, { now: TIMESTAMP - 301 });
  assert.equal(verifyWebhook(BODY, signed(), SECRET, { now: TIMESTAMP + 300 }).version, 1);
});

test('a tolerance of 10 seconds rejects a request 11 seconds old', () => {
  rejects(/outside the tolerance/, BODY, signed(), SECRET, { tolerance: 10, now: TIMESTAMP + 11 });
});

test('the old secret still verifies while the new one is also listed', () => {
  assert.equal(verifyWebhook(BODY, signed(), [OTHER_SECRET, SECRET], { now: TIMESTAMP }).webhookId, WEBHOOK_ID);
});

test('one matching entry among several signatures is enough', () => {
  const headers = signed();
  headers['webhook-signature'] = `v2,Zm9v v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ${headers['webhook-signature']}`;

  assert.equal(verifyWebhook(BODY, headers, SECRET, { now: TIMESTAMP }).version, 1);
});

test('a malformed header raises a clean WebhookVerificationError', () => {
  const broken = [
    ['webhook-signature', 'v1'],
    ['webhook-signature', 'v1,'],
    ['webhook-signature', 'nocomma'],
    ['webhook-signature', 'v1,***not base64***'],
    ['webhook-signature', ''],
    ['webhook-timestamp', '12ab'],
    ['webhook-timestamp', ' +12'],
    ['webhook-timestamp', '١٢٣'],
    ['webhook-id', ''],
    ['webhook-id', ['a', 'b']],
  ];
  for (const [name, value] of broken) {
    rejects(/^missing or malformed webhook headers$/, BODY, { ...signed(), [name]: value }, SECRET, { now: TIMESTAMP });
  }
});

test('a missing header raises a clean WebhookVerificationError', () => {
  for (const missing of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const headers = signed();
    delete headers[missing];
    rejects(/^missing or malformed webhook headers$/, BODY, headers, SECRET, { now: TIMESTAMP });
  }
});

test('headers or a body of the wrong type raise WebhookVerificationError', () => {
  rejects(/malformed/, BODY, null, SECRET, { now: TIMESTAMP });
  rejects(/raw bytes/, { parsed: true }, signed(), SECRET, { now: TIMESTAMP });
});

test('a genuine body that is not a status change raises WebhookVerificationError', () => {
  const body = Buffer.from('{"hello": "world"}');
  const headers = signWebhook(body, SECRET, { webhookId: WEBHOOK_ID, timestamp: TIMESTAMP });

  rejects(/not a model status change/, body, headers, SECRET, { now: TIMESTAMP });
});

test('a secret that is not base64, or no secret at all, is a TypeError', () => {
  assert.throws(() => verifyWebhook(BODY, signed(), 'whsec_!!!'), /'whsec_' followed by base64/);
  assert.throws(() => verifyWebhook(BODY, signed(), []), /at least one signing secret/);
});
