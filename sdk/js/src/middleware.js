// Express-style middleware that lets only verified callback requests through.
// It needs nothing from Express: node:http's req and res work the same way.

import { ModelhooksError, WebhookVerificationError } from './errors.js';
import { DEFAULT_TOLERANCE, secretList, verifyWebhook } from './webhooks.js';

// A callback body is a few hundred bytes; anything near this is not one.
export const MAX_BODY_BYTES = 1024 * 1024;

// `(req, res, next)`: on success `req.modelStatusChange` holds the verified change,
// `req.rawBody` the bytes, and `next()` is called; otherwise the answer is a 401
// JSON error. Mount it before any JSON body parser, or give it express.raw().
export function webhookMiddleware(secrets, { tolerance = DEFAULT_TOLERANCE } = {}) {
  const listed = secretList(secrets);

  return async function verifyModelStatusChange(req, res, next) {
    let body;
    try {
      body = await rawBody(req);
    } catch (error) {
      const status = error instanceof BodyTooLarge ? 413 : 500;
      const code = status === 413 ? 'payload_too_large' : 'raw_body_unavailable';
      answer(res, status, code, error.message);
      return;
    }

    try {
      req.modelStatusChange = verifyWebhook(body, req.headers, listed, { tolerance });
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) {
        throw error;
      }
      answer(res, 401, 'invalid_signature', error.message);
      return;
    }

    req.rawBody = body;
    next();
  };
}

class BodyTooLarge extends ModelhooksError {}

async function rawBody(req) {
  // Another middleware may have read the stream already; only raw bytes will do.
  if (Buffer.isBuffer(req.rawBody)) {
    return req.rawBody;
  }
  if (Buffer.isBuffer(req.body) || typeof req.body === 'string') {
    return Buffer.from(req.body);
  }
  if (req.body !== undefined && req.readableEnded) {
    throw new ModelhooksError(
      'the body was parsed before webhookMiddleware; '
        + 'mount it before JSON parsers or use express.raw()',
    );
  }

  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new BodyTooLarge(`a callback body must be at most ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function answer(res, status, code, message) {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ error: { code, message } }));
}
