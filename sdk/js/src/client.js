// The API client: callbacks, their deliveries log, and status reports.

import { randomUUID } from 'node:crypto';

import { APIError, ModelhooksError, NetworkError, errorClassFor } from './errors.js';
import { toCallback, toDeliveryPage, toStatusReport } from './models.js';
import { retryDelay } from './retry.js';

export const VERSION = '0.1.0';

const CALLBACKS_PATH = '/cloud/callback/model_status';
const STATUS_PATH = '/cloud/model_status';

export class Client {
  // GET, PUT and DELETE are tried again up to `maxRetries` times when no answer
  // comes or the answer is 502, 503 or 504; POST never is (see retry.js). Pass
  // `fetch` to route calls through your own implementation, in tests for example.
  constructor(baseUrl, apiKey, options = {}) {
    const { timeoutMs = 10_000, fetch = globalThis.fetch, maxRetries = 2 } = options;
    let parsed;
    try {
      parsed = new URL(baseUrl);
    } catch {
      parsed = null;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || !parsed.hostname) {
      throw new TypeError(
        `baseUrl must be an http or https URL with a host; got ${JSON.stringify(baseUrl)}`,
      );
    }
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new TypeError(`maxRetries must be a whole number, 0 or more; got ${maxRetries}`);
    }

    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    this.maxRetries = maxRetries;
    this._apiKey = apiKey;
    this._fetch = fetch;
  }

  // Register `url`; the result's `secret` is shown this once, keep it.
  async addCallback(url, options = {}) {
    const body = { url, ...nested(options) };
    return parsed(toCallback, await this._request('POST', CALLBACKS_PATH, { body }));
  }

  async listCallbacks() {
    const answer = await this._request('GET', CALLBACKS_PATH);
    if (!Array.isArray(answer)) {
      throw new ModelhooksError('the answer does not have the documented shape: not a list');
    }
    return answer.map((item) => parsed(toCallback, item));
  }

  async getCallback(id) {
    return parsed(toCallback, await this._request('GET', callbackPath(id)));
  }

  // Change the given fields only; the service merges `filter` and `attempt`.
  async editCallback(id, changes = {}) {
    const body = { ...nested(changes) };
    if (changes.url !== undefined) {
      body.url = changes.url;
    }
    if (changes.enabled !== undefined) {
      body.enabled = changes.enabled;
    }
    return parsed(toCallback, await this._request('PUT', callbackPath(id), { body }));
  }

  async deleteCallback(id) {
    await this._request('DELETE', callbackPath(id));
  }

  // The callback's deliveries, newest first, each with every attempt.
  async listDeliveries(id, { limit = 20, offset = 0 } = {}) {
    const query = `?limit=${encodeURIComponent(limit)}&offset=${encodeURIComponent(offset)}`;
    const answer = await this._request('GET', `${callbackPath(id)}/deliveries${query}`);
    return parsed(toDeliveryPage, answer);
  }

  // Tell the service a model version has a new status (producer side).
  async reportStatus(projectName, name, version, status, options = {}) {
    const body = { project_name: projectName, name, version, status };
    const optional = {
      predictor_id: options.predictorId,
      active: options.active,
      old_status: options.oldStatus,
      predictor_created_at: toWire(options.predictorCreatedAt),
      changed_at: toWire(options.changedAt),
    };
    for (const [key, value] of Object.entries(optional)) {
      if (value !== undefined && value !== null) {
        body[key] = value;
      }
    }
    return parsed(toStatusReport, await this._request('POST', STATUS_PATH, { body }));
  }

  async _request(method, path, { body } = {}) {
    const url = this.baseUrl + path;
    const init = { method, headers: this._headers(method, body), redirect: 'manual' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }

    for (let retriesMade = 0; ; retriesMade += 1) {
      let delay;
      try {
        const response = await this._send(url, init);
        if (response.status >= 200 && response.status < 300) {
          return readJson(response, method, url);
        }
        delay = retryDelay(method, retriesMade, this.maxRetries, {
          statusCode: response.status,
          retryAfter: response.headers.get('retry-after'),
        });
        if (delay === null) {
          throw await apiError(response, method, url);
        }
      } catch (error) {
        if (!(error instanceof NetworkError)) {
          throw error;
        }
        delay = retryDelay(method, retriesMade, this.maxRetries);
        if (delay === null) {
          throw error;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  _headers(method, body) {
    const headers = {
      authorization: `Bearer ${this._apiKey}`,
      accept: 'application/json',
      'user-agent': `modelhooks-sdk-js/${VERSION}`,
    };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    // See retry.js for why POSTs are not retried until the service honours this key.
    if (method === 'POST') {
      headers['idempotency-key'] = randomUUID();
    }
    return headers;
  }

  async _send(url, init) {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response;
    try {
      response = await this._fetch(url, { ...init, signal });
      // The body is read here, under the same deadline, so that a stalled answer
      // is a NetworkError too.
      const text = await response.text();
      return { status: response.status, headers: response.headers, text };
    } catch (error) {
      throw networkError(error, init.method, url, this.timeoutMs);
    }
  }
}

function networkError(error, method, url, timeoutMs) {
  if (error?.name === 'TimeoutError' || error?.name === 'AbortError') {
    const message = `${method} ${url} timed out after ${timeoutMs} ms`;
    return new NetworkError(message, { method, url, cause: error });
  }
  const reason = error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(error);
  return new NetworkError(`${method} ${url} failed: ${reason}`, { method, url, cause: error });
}

// Only the given values are sent: the service fills in (or keeps) the rest.
function nested(options) {
  const groups = {
    filter: { model_name: options.modelName, project_name: options.projectName },
    attempt: {
      count: options.count,
      interval: options.interval,
      http_timeout: options.httpTimeout,
    },
  };
  const body = {};
  for (const [group, values] of Object.entries(groups)) {
    const given = Object.entries(values).filter(([, value]) => value != null);
    if (given.length > 0) {
      body[group] = Object.fromEntries(given);
    }
  }
  return body;
}

function callbackPath(id) {
  if (!Number.isInteger(id)) {
    throw new TypeError(`a callback id must be an integer; got ${JSON.stringify(id)}`);
  }
  return `${CALLBACKS_PATH}/${id}`;
}

function toWire(moment) {
  return moment instanceof Date ? moment.toISOString() : moment;
}

function readJson(response, method, url) {
  try {
    return JSON.parse(response.text);
  } catch {
    const contentType = JSON.stringify(response.headers.get('content-type'));
    throw new APIError(`the answer is not JSON (Content-Type ${contentType})`, {
      statusCode: response.status,
      code: 'invalid_answer',
      method,
      url,
    });
  }
}

// The error envelope {"error": {code, message, fields}} as an exception.
async function apiError(response, method, url) {
  let envelope = null;
  try {
    envelope = JSON.parse(response.text);
  } catch {
    // Not our envelope (a proxy's page, say): the status alone tells the class.
  }
  const found = envelope?.error;
  const error = typeof found === 'object' && found !== null ? found : {};
  const ErrorClass = errorClassFor(response.status);
  return new ErrorClass(String(error.message ?? `HTTP ${response.status}`), {
    statusCode: response.status,
    code: String(error.code ?? 'http_error'),
    fields: error.fields ?? {},
    method,
    url,
  });
}

function parsed(convert, data) {
  try {
    return convert(data);
  } catch (error) {
    throw new ModelhooksError(`the answer does not have the documented shape: ${error.message}`);
  }
}
