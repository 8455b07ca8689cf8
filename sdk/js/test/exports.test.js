// The package's public surface: what index.js exports and index.d.ts declares.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as sdk from '../src/index.js';

const EXPECTED = [
  'APIError', 'AuthenticationError', 'Client', 'ModelhooksError', 'NetworkError', 'NotFoundError',
  'ServerError', 'VERSION', 'ValidationError', 'WebhookVerificationError', 'signWebhook',
  'verifyWebhook', 'webhookMiddleware',
];

test('index.js exports exactly the public names', () => {
  assert.deepEqual(Object.keys(sdk).sort(), EXPECTED);
});

test('index.d.ts declares every export', () => {
  const declarations = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');

  for (const name of EXPECTED) {
    assert.match(declarations, new RegExp(`export (declare )?(class|function|const) ${name}\\b`), name);
  }
});

test('package.json points at index.js and index.d.ts and has no dependencies', () => {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

  assert.equal(manifest.name, 'modelhooks-sdk');
  assert.equal(manifest.type, 'module');
  assert.deepEqual(manifest.exports['.'], { types: './index.d.ts', default: './src/index.js' });
  assert.equal(manifest.dependencies, undefined);
});

test('the version is the same in package.json and VERSION', () => {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

  assert.equal(sdk.VERSION, manifest.version);
});
