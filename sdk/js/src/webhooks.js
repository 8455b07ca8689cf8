// Standard Webhooks signatures: verify a callback request, or sign one for tests.
//
// A callback request carries webhook-id, webhook-timestamp (Unix seconds) and
// webhook-signature: space-separated `v1,<base64>` entries, each an HMAC-SHA256
// over `{id}.{timestamp}.{body}` keyed by the bytes that a `whsec_` secret encodes.

import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

import { WebhookVerificationError } from './errors.js';
import { toModelStatusChange } from './models.js';

export const DEFAULT_TOLERANCE = 300;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// ASCII digits only, as a sender following the standard writes them.
const TIMESTAMP = /^[0-9]{1,15}$/;
const MALFORMED = 'missing or malformed webhook headers';

// The three headers a service would send with `body`; for receivers' tests.
export function signWebhook(body, secret, { webhookId, timestamp } = {}) {
  const id = webhookId ?? `msg_${randomUUID().replaceAll('-', '')}`;
  const moment = timestamp ?? Math.floor(Date.now() / 1000);
  const digest = hmac(secretKey(secret), id, moment, asBytes(body));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(moment),
    'webhook-signature': `v1,${digest.toString('base64')}`,
  };
}

// Check a callback request and read its body; throw WebhookVerificationError.
// Pass the body exactly as received (Buffer, Uint8Array or string). The request
// is genuine if any of `secrets` matches any v1 signature it carries: list the
// old and the new secret while rotating.
export function verifyWebhook(rawBody, headers, secrets, options = {}) {
  const { tolerance = DEFAULT_TOLERANCE, now } = options;
  const keys = secretList(secrets).map(secretKey);
  const body = asBytes(rawBody);

  const lowered = lowercased(headers);
  const id = header(lowered, 'webhook-id');
  const timestamp = parseTimestamp(header(lowered, 'webhook-timestamp'));
  const offered = signatures(header(lowered, 'webhook-signature'));

  const current = now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(current - timestamp) > tolerance) {
    throw new WebhookVerificationError('webhook timestamp is outside the tolerance');
  }

  const expected = keys.map((key) => hmac(key, id, timestamp, body));
  if (!anyEqual(expected, offered)) {
    throw new WebhookVerificationError('no matching webhook signature');
  }
  return change(body, id);
}

export function secretList(secrets) {
  const listed = typeof secrets === 'string' ? [secrets] : Array.from(secrets ?? []);
  if (listed.length === 0) {
    throw new TypeError('at least one signing secret is needed; got none');
  }
  listed.forEach(secretKey);
  return listed;
}

function secretKey(secret) {
  // The secret itself is never echoed in a message.
  if (typeof secret !== 'string') {
    throw new TypeError(`a signing secret must be a string; got ${typeof secret}`);
  }
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const padded = encoded + '='.repeat((4 - (encoded.length % 4)) % 4);
  if (!BASE64.test(padded) || padded.length % 4 !== 0) {
    throw new TypeError(
      "a signing secret must be 'whsec_' followed by base64; "
        + `got a string of ${secret.length} characters that is not`,
    );
  }
  const key = Buffer.from(padded, 'base64');
  if (key.length === 0) {
    throw new TypeError('a signing secret must not be empty');
  }
  return key;
}

function asBytes(body) {
  if (typeof body === 'string') {
    return Buffer.from(body, 'utf8');
  }
  if (body instanceof Uint8Array) {
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
  throw new WebhookVerificationError('the body must be the raw bytes or text received');
}

function hmac(key, id, timestamp, body) {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

// Plain objects (node:http), fetch Headers and Maps alike.
function lowercased(headers) {
  if (headers === null || typeof headers !== 'object') {
    throw new WebhookVerificationError(MALFORMED);
  }
  const entries = typeof headers.entries === 'function' && !Array.isArray(headers)
    ? Array.from(headers.entries())
    : Object.entries(headers);
  return new Map(entries.map(([name, value]) => [String(name).toLowerCase(), value]));
}

function header(headers, name) {
  const value = headers.get(name);
  if (typeof value !== 'string' || value.trim() === '') {
    throw new WebhookVerificationError(MALFORMED);
  }
  return value.trim();
}

function parseTimestamp(value) {
  if (!TIMESTAMP.test(value)) {
    throw new WebhookVerificationError(MALFORMED);
  }
  return Number(value);
}

// Other versions and malformed entries are skipped, not fatal: another entry in the
// list may still match. No usable entry at all is a malformed header.
function signatures(value) {
  const decoded = [];
  for (const entry of value.split(/\s+/)) {
    const comma = entry.indexOf(',');
    const version = comma === -1 ? entry : entry.slice(0, comma);
    const encoded = comma === -1 ? '' : entry.slice(comma + 1);
    if (version === 'v1' && encoded !== '' && BASE64.test(encoded) && encoded.length % 4 === 0) {
      decoded.push(Buffer.from(encoded, 'base64'));
    }
  }
  if (decoded.length === 0) {
    throw new WebhookVerificationError(MALFORMED);
  }
  return decoded;
}

// Every pair is compared, so the time taken does not tell which one matched.
function anyEqual(expected, offered) {
  let found = false;
  for (const digest of expected) {
    for (const candidate of offered) {
      const sameLength = candidate.length === digest.length;
      found = (sameLength && timingSafeEqual(digest, candidate)) || found;
    }
  }
  return found;
}

function change(body, id) {
  try {
    return toModelStatusChange(JSON.parse(body.toString('utf8')), id);
  } catch {
    throw new WebhookVerificationError('the signed body is not a model status change');
  }
}
