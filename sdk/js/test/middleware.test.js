// webhookMiddleware on a plain node:http server: 401 JSON, or next() with the change.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { signWebhook, webhookMiddleware } from '../src/index.js';

const SECRET = 'whsec_bW9kZWxob29rcyBzZGsgZ29sZGVuIHRlc3Qga2V5ISE=';
const BODY = '{"name":"home_rentals","version":2,"active":true,"predictor_id":9,'
  + '"project_name":"mindsdb","predictor_created_at":null,"old_status":"training",'
  + '"new_status":"complete","changed_at":"Fri, 09 Sep 2023 11:59:00 GMT"}';

const received = [];
let server;
let url;

before(async () => {
  const verify = webhookMiddleware(SECRET);
  server = createServer((req, res) => verify(req, res, () => {
    received.push(req.modelStatusChange);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ took: req.modelStatusChange.webhookId, bytes: req.rawBody.length }));
  }));
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${server.address().port}/hooks`;
});

after(() => new Promise((done) => server.close(done)));

const post = (headers, body = BODY) => fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body,
});

test('a signed request reaches the handler with req.modelStatusChange set', async () => {
  received.length = 0;

  const answer = await post(signWebhook(BODY, SECRET, { webhookId: 'msg_mw1' }));

  assert.equal(answer.status, 200);
  assert.deepEqual(await answer.json(), { took: 'msg_mw1', bytes: Buffer.byteLength(BODY) });
  assert.deepEqual(received.map((c) => [c.name, c.version, c.predictorCreatedAt]), [['home_rentals', 2, null]]);
});

test('a request under another secret gets 401 JSON and skips the handler', async () => {
  received.length = 0;
  const headers = signWebhook(BODY, 'whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ==');

  const answer = await post(headers);

  assert.equal(answer.status, 401);
  assert.deepEqual(await answer.json(), { error: { code: 'invalid_signature', message: 'no matching webhook signature' } });
  assert.deepEqual(received, []);
});

test('a request without webhook headers gets 401', async () => {
  const answer = await post({});

  assert.equal(answer.status, 401);
  assert.equal((await answer.json()).error.message, 'missing or malformed webhook headers');
});

test('a stale request gets 401', async () => {
  const answer = await post(signWebhook(BODY, SECRET, { timestamp: Math.floor(Date.now() / 1000) - 301 }));

  assert.equal(answer.status, 401);
  assert.equal((await answer.json()).error.message, 'webhook timestamp is outside the tolerance');
});

test('a body already read as a Buffer (express.raw) is verified as is', async () => {
  const verify = webhookMiddleware(SECRET);
  const req = { headers: signWebhook(BODY, SECRET), body: Buffer.from(BODY) };
  let nextCalled = false;

  await verify(req, {}, () => { nextCalled = true; });

  assert.equal(nextCalled, true);
  assert.equal(req.modelStatusChange.version, 2);
});

test('a body already parsed into an object gets a 500 that says to mount the middleware first', async () => {
  const verify = webhookMiddleware(SECRET);
  const req = { headers: signWebhook(BODY, SECRET), body: JSON.parse(BODY), readableEnded: true };
  const res = { headers: {}, setHeader(name, value) { this.headers[name] = value; }, end(text) { this.text = text; } };

  await verify(req, res, () => assert.fail('next must not be called'));

  assert.equal(res.statusCode, 500);
  assert.match(JSON.parse(res.text).error.message, /mount it before JSON parsers/);
});

test('a bad secret is reported when the middleware is made, not per request', () => {
  assert.throws(() => webhookMiddleware('whsec_???'), /'whsec_' followed by base64/);
});
