// The node:http (Express-style) receiver example, end to end against `modelhooks dev`.
// Needs the delivery engine: the receiver acts only on the callbacks it receives.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { Client } from '../src/index.js';
import { REPO_ROOT, startDevServer } from '../test-helpers/servers.js';

const EXAMPLE = join(REPO_ROOT, 'examples', 'js_express_receiver', 'receiver.mjs');

let dev;

before(async () => {
  dev = await startDevServer();
});

after(async () => {
  await dev?.stop();
});

test('the receiver retrains on version 1 and predicts with version 2', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE], {
    cwd: dev.workdir,
    env: { ...process.env, MODELHOOKS_URL: dev.baseUrl, MODELHOOKS_API_KEY: dev.apiKey, RECEIVER_TIMEOUT_MS: '45000' },
    timeout: 90_000,
  });

  const lines = stdout.trim().split('\n');
  assert.match(lines[0], /^registered callback \d+ -> http:\/\/127\.0\.0\.1:\d+\/hooks\/models$/);
  assert.equal(lines[1], 'training version 1');
  assert.match(lines[2], /^received msg_\w+: home_rentals v1 training -> complete$/);
  assert.equal(lines[3], 'retraining: reporting version 2');
  assert.match(lines[4], /^received msg_\w+: home_rentals v2 training -> complete$/);
  assert.deepEqual(lines.slice(5), ['predicting with version 2: 2600', 'done']);
});

test('the receiver removes its callback when done', async () => {
  const callbacks = await new Client(dev.baseUrl, dev.apiKey).listCallbacks();

  assert.deepEqual(callbacks.filter((callback) => callback.url.endsWith('/hooks/models')), []);
});
