// Typed results: the service's snake_case JSON as camelCase objects with Dates.
//
// Each converter throws a TypeError when a documented key is missing or has the
// wrong type; the caller turns it into its own error.

export function parseTime(value) {
  const moment = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(moment.getTime())) {
    throw new TypeError(`a time must be an HTTP date or ISO 8601; got ${JSON.stringify(value)}`);
  }
  return moment;
}

export function parseOptionalTime(value) {
  return value === null || value === undefined ? null : parseTime(value);
}

function required(data, key, type) {
  const value = data?.[key];
  if (typeof value !== type) {
    throw new TypeError(`${key} must be a ${type}; got ${JSON.stringify(value)}`);
  }
  return value;
}

function integer(data, key) {
  const value = required(data, key, 'number');
  if (!Number.isInteger(value)) {
    throw new TypeError(`${key} must be an integer; got ${value}`);
  }
  return value;
}

export function toCallback(data) {
  const callback = {
    id: integer(data, 'id'),
    url: required(data, 'url', 'string'),
    filter: {
      modelName: required(data.filter, 'model_name', 'string'),
      projectName: required(data.filter, 'project_name', 'string'),
    },
    attempt: {
      count: integer(data.attempt, 'count'),
      interval: required(data.attempt, 'interval', 'number'),
      httpTimeout: required(data.attempt, 'http_timeout', 'number'),
    },
    enabled: required(data, 'enabled', 'boolean'),
    disabledReason: data.disabled_reason ?? null,
    createdAt: parseTime(data.created_at),
    updatedAt: parseTime(data.updated_at),
  };
  // The secret is shown once, in the answer to addCallback.
  if (typeof data.secret === 'string') {
    callback.secret = data.secret;
  }
  return callback;
}

export function toAttempt(data) {
  return {
    number: integer(data, 'number'),
    startedAt: parseTime(data.started_at),
    durationMs: required(data, 'duration_ms', 'number'),
    statusCode: data.status_code ?? null,
    error: data.error ?? null,
    responseExcerpt: data.response_excerpt ?? '',
    responseTruncated: Boolean(data.response_truncated),
  };
}

export function toDelivery(data) {
  return {
    id: required(data, 'id', 'string'),
    eventId: required(data, 'event_id', 'string'),
    state: required(data, 'state', 'string'),
    attemptsMade: integer(data, 'attempts_made'),
    nextAttemptAt: parseOptionalTime(data.next_attempt_at),
    createdAt: parseTime(data.created_at),
    finishedAt: parseOptionalTime(data.finished_at),
    oldStatus: data.old_status ?? null,
    newStatus: required(data, 'new_status', 'string'),
    changedAt: parseTime(data.changed_at),
    attempts: (data.attempts ?? []).map(toAttempt),
  };
}

export function toDeliveryPage(data) {
  if (!Array.isArray(data?.deliveries)) {
    throw new TypeError('deliveries must be a list');
  }
  return {
    deliveries: data.deliveries.map(toDelivery),
    total: integer(data, 'total'),
    limit: integer(data, 'limit'),
    offset: integer(data, 'offset'),
  };
}

export function toStatusReport(data) {
  return {
    eventId: data?.event_id ?? null,
    oldStatus: data?.old_status ?? null,
    newStatus: required(data, 'new_status', 'string'),
    triggered: required(data, 'triggered', 'boolean'),
  };
}

// The body of a verified callback request, with its webhook-id. Receivers may get
// one change twice (at-least-once): drop repeats by webhookId, order by changedAt.
export function toModelStatusChange(data, webhookId) {
  return {
    webhookId,
    name: required(data, 'name', 'string'),
    version: integer(data, 'version'),
    active: required(data, 'active', 'boolean'),
    predictorId: integer(data, 'predictor_id'),
    projectName: required(data, 'project_name', 'string'),
    predictorCreatedAt: parseOptionalTime(data.predictor_created_at),
    oldStatus: data.old_status ?? null,
    newStatus: required(data, 'new_status', 'string'),
    changedAt: parseTime(data.changed_at),
  };
}
