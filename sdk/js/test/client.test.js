// Every client call against a real `modelhooks dev`.

import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';

import { AuthenticationError, Client, NotFoundError, ValidationError } from '../src/index.js';
import { startDevServer } from '../test-helpers/servers.js';

const RECEIVER = 'http://127.0.0.1:9/hooks';

let dev;
let client;

before(async () => {
  dev = await startDevServer();
  client = new Client(dev.baseUrl, dev.apiKey);
});

afterEach(async () => {
  for (const callback of await client.listCallbacks()) {
    await client.deleteCallback(callback.id);
  }
});

after(async () => {
  await dev?.stop();
});

test('addCallback fills in the default filter and attempt policy', async () => {
  const callback = await client.addCallback(RECEIVER);

  assert.equal(callback.url, RECEIVER);
  assert.deepEqual(callback.filter, { modelName: '.*', projectName: '.*' });
  assert.deepEqual(callback.attempt, { count: 5, interval: 10, httpTimeout: 10 });
  assert.equal(callback.enabled, true);
  assert.equal(callback.disabledReason, null);
  assert.ok(callback.createdAt instanceof Date);
});

test('addCallback shows a whsec_ secret this once', async () => {
  const created = await client.addCallback(RECEIVER);

  assert.match(created.secret, /^whsec_/);
  assert.equal((await client.getCallback(created.id)).secret, undefined);
});

test('addCallback sends the given filter and attempt values', async () => {
  const callback = await client.addCallback(RECEIVER, {
    modelName: 'home_.*', projectName: 'mindsdb', count: 3, interval: 0.5, httpTimeout: 2.5,
  });

  assert.deepEqual(callback.filter, { modelName: 'home_.*', projectName: 'mindsdb' });
  assert.deepEqual(callback.attempt, { count: 3, interval: 0.5, httpTimeout: 2.5 });
});

test('listCallbacks gives the account\'s callbacks in id order', async () => {
  const first = await client.addCallback(`${RECEIVER}/1`);
  const second = await client.addCallback(`${RECEIVER}/2`);

  const listed = await client.listCallbacks();

  assert.deepEqual(listed.map((c) => c.id), [first.id, second.id]);
  assert.ok(listed.every((c) => c.secret === undefined));
});

test('getCallback gives the stored callback', async () => {
  const created = await client.addCallback(RECEIVER, { modelName: 'churn' });

  const fetched = await client.getCallback(created.id);

  assert.equal(fetched.id, created.id);
  assert.equal(fetched.filter.modelName, 'churn');
});

test('editCallback changes only the given fields and merges nested ones', async () => {
  const created = await client.addCallback(RECEIVER, { modelName: 'churn', count: 3, interval: 1 });

  const edited = await client.editCallback(created.id, { projectName: 'sales', interval: 2 });

  assert.equal(edited.url, RECEIVER);
  assert.deepEqual(edited.filter, { modelName: 'churn', projectName: 'sales' });
  assert.deepEqual(edited.attempt, { count: 3, interval: 2, httpTimeout: 10 });
});

test('editCallback sets the url and enabled', async () => {
  const created = await client.addCallback(RECEIVER);

  const edited = await client.editCallback(created.id, { url: `${RECEIVER}/v2`, enabled: false });

  assert.deepEqual([edited.url, edited.enabled], [`${RECEIVER}/v2`, false]);
  assert.equal((await client.editCallback(created.id, { enabled: true })).enabled, true);
});

test('deleteCallback removes it from the list', async () => {
  const kept = await client.addCallback(`${RECEIVER}/kept`);
  const removed = await client.addCallback(`${RECEIVER}/removed`);

  assert.equal(await client.deleteCallback(removed.id), undefined);

  assert.deepEqual((await client.listCallbacks()).map((c) => c.id), [kept.id]);
});

test('listDeliveries of a new callback is an empty page', async () => {
  const callback = await client.addCallback(RECEIVER);

  const page = await client.listDeliveries(callback.id, { limit: 5, offset: 0 });

  assert.deepEqual(page, { deliveries: [], total: 0, limit: 5, offset: 0 });
});

test('reportStatus of a new version gives no old status', async () => {
  const report = await client.reportStatus('sdk_js', 'fresh_model', 1, 'generating');

  assert.equal(report.oldStatus, null);
  assert.equal(report.newStatus, 'generating');
  assert.equal(report.triggered, false);
  assert.equal(typeof report.eventId, 'string');
});

test('reportStatus knows the last status and triggers on complete', async () => {
  await client.reportStatus('sdk_js', 'second_model', 1, 'training');

  const report = await client.reportStatus('sdk_js', 'second_model', 1, 'complete', {
    predictorId: 77,
    active: true,
    predictorCreatedAt: new Date('2026-01-02T03:04:05Z'),
    changedAt: '2026-01-02T03:10:00Z',
  });

  assert.deepEqual([report.oldStatus, report.newStatus, report.triggered], ['training', 'complete', true]);
});

test('reportStatus of an unchanged status has no event', async () => {
  await client.reportStatus('sdk_js', 'same_model', 1, 'complete');

  const report = await client.reportStatus('sdk_js', 'same_model', 1, 'complete');

  assert.deepEqual([report.eventId, report.triggered], [null, false]);
});

test('a bad API key raises AuthenticationError from the 401', async () => {
  const stranger = new Client(dev.baseUrl, 'mh_not_a_real_key');

  const error = await stranger.listCallbacks().catch((caught) => caught);

  assert.ok(error instanceof AuthenticationError);
  assert.equal(error.statusCode, 401);
  assert.equal(error.code, 'unauthorized');
  assert.equal(error.detail, 'the API key is unknown or revoked');
  assert.equal(
    error.message,
    `GET ${dev.baseUrl}/cloud/callback/model_status answered 401: the API key is unknown or revoked`,
  );
});

test('an unknown id raises NotFoundError from the 404 on every call', async () => {
  for (const call of [
    () => client.getCallback(987654),
    () => client.editCallback(987654, { enabled: false }),
    () => client.deleteCallback(987654),
    () => client.listDeliveries(987654),
  ]) {
    await assert.rejects(call, (error) => error instanceof NotFoundError && error.statusCode === 404);
  }
});

test('invalid input raises ValidationError with each field named', async () => {
  const error = await client.addCallback(RECEIVER, { count: 0, interval: 4000 }).catch((caught) => caught);

  assert.ok(error instanceof ValidationError);
  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'invalid_input');
  assert.deepEqual(Object.keys(error.fields).sort(), ['attempt.count', 'attempt.interval']);
  assert.deepEqual(error.fields['attempt.count'], ['Must be greater than or equal to 1 and less than or equal to 25.']);
});

test('a url the service refuses names the url field', async () => {
  const error = await client.addCallback('ftp://example.org/hooks').catch((caught) => caught);

  assert.ok(error instanceof ValidationError);
  assert.deepEqual(Object.keys(error.fields), ['url']);
});
