// The retry policy, as a pure function: no network, no waiting.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_DELAY_MS, parseRetryAfter, retryDelay } from '../src/retry.js';

const noJitter = () => 1;

test('an idempotent call that got no answer is retried after 250 ms', () => {
  for (const method of ['GET', 'PUT', 'DELETE', 'get']) {
    assert.equal(retryDelay(method, 0, 2, { random: noJitter }), 250);
  }
});

test('the backoff doubles with each retry and stops at 5000 ms', () => {
  const delays = [0, 1, 2, 3, 9].map((made) => retryDelay('GET', made, 10, { random: noJitter }));

  assert.deepEqual(delays, [250, 500, 1000, 2000, MAX_DELAY_MS]);
  assert.equal(MAX_DELAY_MS, 5000);
});

test('jitter takes the delay down to half at most', () => {
  assert.equal(retryDelay('GET', 1, 2, { random: () => 0 }), 250);
});

test('a POST is never retried', () => {
  assert.equal(retryDelay('POST', 0, 2, { statusCode: 503 }), null);
  assert.equal(retryDelay('POST', 0, 2), null);
});

test('no retry is left after maxRetries', () => {
  assert.equal(retryDelay('GET', 2, 2, { statusCode: 503 }), null);
});

test('502, 503 and 504 are retried; 400, 401, 404, 429 and 500 are not', () => {
  for (const statusCode of [502, 503, 504]) {
    assert.equal(retryDelay('GET', 0, 2, { statusCode, random: noJitter }), 250);
  }
  for (const statusCode of [400, 401, 404, 429, 500]) {
    assert.equal(retryDelay('GET', 0, 2, { statusCode }), null);
  }
});

test('Retry-After of 3 seconds is honoured and 120 seconds is cut to 5', () => {
  assert.equal(retryDelay('GET', 0, 2, { statusCode: 503, retryAfter: '3' }), 3000);
  assert.equal(retryDelay('GET', 0, 2, { statusCode: 503, retryAfter: '120' }), 5000);
});

test('Retry-After as an HTTP date counts from now', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:04 GMT', now), 4000);
});

test('an unreadable Retry-After is ignored', () => {
  for (const value of [null, '', 'soon', '-3']) {
    assert.equal(parseRetryAfter(value), null);
  }
});
