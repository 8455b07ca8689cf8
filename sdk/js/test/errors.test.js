// Errors from loopback servers and closed ports, retries, and the injectable fetch.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { APIError, Client, ModelhooksError, NetworkError, ServerError } from '../src/index.js';
import { freePort, startStub } from '../test-helpers/servers.js';

const UNAVAILABLE = JSON.stringify({
  error: { code: 'service_unavailable', message: 'a dependency is down', fields: {} },
});
const stubs = [];

async function stub(respond) {
  const started = await startStub(respond);
  stubs.push(started);
  return started;
}

after(async () => {
  await Promise.all(stubs.map((started) => started.close()));
});

test('a 503 raises ServerError after two retries of a GET', async () => {
  const server = await stub(() => ({ status: 503, headers: { 'content-type': 'application/json' }, body: UNAVAILABLE }));
  const client = new Client(server.url, 'mh_test');

  const error = await client.listCallbacks().catch((caught) => caught);

  assert.ok(error instanceof ServerError);
  assert.equal(error.statusCode, 503);
  assert.equal(error.detail, 'a dependency is down');
  assert.deepEqual(server.requests.map((r) => r.method), ['GET', 'GET', 'GET']);
});

test('a GET that meets a 503 then a 200 succeeds', async () => {
  const answers = [{ status: 503 }, { status: 200, body: '[]' }];
  const server = await stub(() => answers.shift());
  const client = new Client(server.url, 'mh_test');

  assert.deepEqual(await client.listCallbacks(), []);
  assert.equal(server.requests.length, 2);
});

test('PUT and DELETE are retried on 502 and 504', async () => {
  const server = await stub(({ method }) => ({ status: method === 'PUT' ? 502 : 504, body: 'bad gateway' }));
  const client = new Client(server.url, 'mh_test', { maxRetries: 1 });

  await assert.rejects(client.editCallback(1, { enabled: true }), ServerError);
  await assert.rejects(client.deleteCallback(1), ServerError);

  assert.deepEqual(server.requests.map((r) => r.method), ['PUT', 'PUT', 'DELETE', 'DELETE']);
});

test('a POST is sent once with an idempotency key and never retried', async () => {
  const server = await stub(() => ({ status: 503, body: UNAVAILABLE }));
  const client = new Client(server.url, 'mh_test');

  await assert.rejects(client.addCallback('http://127.0.0.1:9/hooks'), ServerError);

  assert.equal(server.requests.length, 1);
  assert.match(server.requests[0].headers['idempotency-key'], /^[0-9a-f-]{36}$/);
});

test('each POST gets its own idempotency key', async () => {
  const answer = JSON.stringify({ event_id: 'evt_1', old_status: null, new_status: 'complete', triggered: true });
  const server = await stub(() => ({ status: 202, body: answer }));
  const client = new Client(server.url, 'mh_test');

  await client.reportStatus('p', 'm', 1, 'complete');
  await client.reportStatus('p', 'm', 2, 'complete');

  assert.equal(new Set(server.requests.map((r) => r.headers['idempotency-key'])).size, 2);
});

test('a 500 is not retried', async () => {
  const server = await stub(() => ({ status: 500, body: 'oops' }));
  const client = new Client(server.url, 'mh_test');

  await assert.rejects(client.listCallbacks(), ServerError);
  assert.equal(server.requests.length, 1);
});

test('a closed port raises NetworkError after the retries', async () => {
  const calls = [];
  const client = new Client(`http://127.0.0.1:${await freePort()}`, 'mh_test', {
    fetch: (url, init) => {
      calls.push(init.method);
      return fetch(url, init);
    },
  });

  const error = await client.listCallbacks().catch((caught) => caught);

  assert.ok(error instanceof NetworkError);
  assert.equal(error.method, 'GET');
  assert.match(error.message, /failed: ECONNREFUSED/);
  assert.deepEqual(calls, ['GET', 'GET', 'GET']);
});

test('a closed port raises NetworkError for a POST at once', async () => {
  const client = new Client(`http://127.0.0.1:${await freePort()}`, 'mh_test');

  await assert.rejects(client.reportStatus('p', 'm', 1, 'complete'), NetworkError);
});

test('an answer slower than the timeout raises NetworkError', async () => {
  const server = await stub(() => new Promise((done) => setTimeout(() => done({ status: 200, body: '[]' }), 500)));
  const client = new Client(server.url, 'mh_test', { timeoutMs: 100, maxRetries: 0 });

  await assert.rejects(client.listCallbacks(), (error) => error instanceof NetworkError
    && error.message.endsWith('timed out after 100 ms'));
});

test('an answer that is not JSON raises APIError', async () => {
  const server = await stub(() => ({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html>' }));
  const client = new Client(server.url, 'mh_test');

  await assert.rejects(client.listCallbacks(), (error) => error instanceof APIError && error.code === 'invalid_answer');
});

test('a redirect is not followed but raised', async () => {
  const server = await stub(() => ({ status: 301, headers: { location: 'https://elsewhere.invalid/' } }));
  const client = new Client(server.url, 'mh_test');

  await assert.rejects(client.listCallbacks(), (error) => error instanceof APIError && error.statusCode === 301);
  assert.equal(server.requests.length, 1);
});

test('an answer of the wrong shape raises ModelhooksError', async () => {
  const server = await stub(() => ({ status: 200, body: '{"id": 1}' }));
  const client = new Client(server.url, 'mh_test');

  await assert.rejects(client.getCallback(1), /documented shape/);
});

test('an injected fetch receives the method, bearer key and JSON body', async () => {
  const seen = [];
  const fakeFetch = async (url, init) => {
    seen.push({ url, ...init });
    return new Response(JSON.stringify({ event_id: null, old_status: 'complete', new_status: 'complete', triggered: false }),
      { status: 202 });
  };
  const client = new Client('http://127.0.0.1:1', 'mh_key', { fetch: fakeFetch });

  const report = await client.reportStatus('p', 'm', 3, 'complete', { predictorId: 5 });

  assert.deepEqual(report, { eventId: null, oldStatus: 'complete', newStatus: 'complete', triggered: false });
  assert.equal(seen[0].url, 'http://127.0.0.1:1/cloud/model_status');
  assert.equal(seen[0].method, 'POST');
  assert.equal(seen[0].headers.authorization, 'Bearer mh_key');
  assert.deepEqual(JSON.parse(seen[0].body), { project_name: 'p', name: 'm', version: 3, status: 'complete', predictor_id: 5 });
});

test('every error class derives from ModelhooksError', async () => {
  const errors = await import('../src/errors.js');
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value === 'function' && name.endsWith('Error')) {
      assert.ok(value === ModelhooksError || value.prototype instanceof ModelhooksError, name);
    }
  }
});

test('a baseUrl without http scheme and host is a TypeError', () => {
  for (const baseUrl of ['127.0.0.1:5000', 'ftp://host', 'http://']) {
    assert.throws(() => new Client(baseUrl, 'mh_test'), /baseUrl must be an http or https URL/);
  }
});

test('a callback id that is not an integer is a TypeError', async () => {
  const client = new Client('http://127.0.0.1:1', 'mh_test');

  await assert.rejects(client.getCallback('1/x'), /a callback id must be an integer; got "1\/x"/);
});
