// When a failed call is tried again, and after how long: data plus one pure function.
//
// POST is never retried. The SDK sends an Idempotency-Key with every POST, but the
// service does not yet drop repeats by that key, so a POST whose answer was lost
// may already have registered a callback or recorded a status: sending it again
// could do it twice. GET, PUT (which sets the given values) and DELETE give the
// same result when repeated.

export const RETRYABLE_METHODS = new Set(['GET', 'PUT', 'DELETE']);

// Gateway failures and "try again shortly"; a 500 is a bug that a retry won't fix.
export const RETRYABLE_STATUSES = new Set([502, 503, 504]);

export const FIRST_DELAY_MS = 250;
export const MAX_DELAY_MS = 5000;

// Milliseconds to wait before trying again, or null to give up. `statusCode` is
// undefined when no answer came (a refused, reset or timed-out connection).
export function retryDelay(method, retriesMade, maxRetries, options = {}) {
  const { statusCode, retryAfter, random = Math.random } = options;

  // Out of retries.
  if (retriesMade >= maxRetries) {
    return null;
  }
  // Not safe to repeat.
  if (!RETRYABLE_METHODS.has(method.toUpperCase())) {
    return null;
  }
  // An answer that a retry will not change.
  if (statusCode !== undefined && !RETRYABLE_STATUSES.has(statusCode)) {
    return null;
  }
  // The service said how long; we wait that long, within our cap.
  const asked = parseRetryAfter(retryAfter);
  if (asked !== null) {
    return Math.min(asked, MAX_DELAY_MS);
  }
  // Doubling backoff, with jitter so that many clients do not retry in step.
  const backoff = Math.min(FIRST_DELAY_MS * 2 ** retriesMade, MAX_DELAY_MS);
  return backoff * (0.5 + random() / 2);
}

// A Retry-After value (seconds or an HTTP date) as milliseconds from now, or null.
export function parseRetryAfter(value, now = Date.now()) {
  if (!value) {
    return null;
  }
  const text = String(value).trim();
  if (/^[0-9]+$/.test(text)) {
    return Number(text) * 1000;
  }
  const moment = Date.parse(text);
  if (Number.isNaN(moment) || !/[A-Za-z]/.test(text)) {
    return null;
  }
  return Math.max(0, moment - now);
}
