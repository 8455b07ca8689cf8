// Exceptions of the SDK, all under one base so that callers can catch "anything from us".
//
//   ModelhooksError
//    +-- APIError                  the service answered with an error status
//    |    +-- ValidationError      400: the input breaks a rule; `fields` names each
//    |    +-- AuthenticationError  401: no API key, or an unknown or revoked one
//    |    +-- NotFoundError        404: unknown id, or another account's id
//    |    +-- ServerError          5xx, 503 included: try again later
//    +-- NetworkError              no answer: refused, reset, timed out
//    +-- WebhookVerificationError  a callback request is not genuine, or malformed

export class ModelhooksError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }

  // instanceof fails across realms (two copies of the package); this does not.
  get isModelhooksError() {
    return true;
  }
}

export class APIError extends ModelhooksError {
  constructor(message, { statusCode, code = 'http_error', fields = {}, method = '', url = '' }) {
    super(`${method} ${url} answered ${statusCode}: ${message}`);
    this.statusCode = statusCode;
    this.code = code;
    this.fields = fields;
    this.method = method;
    this.url = url;
    // The service's own words, without the request in front.
    this.detail = message;
  }
}

export class ValidationError extends APIError {}

export class AuthenticationError extends APIError {}

export class NotFoundError extends APIError {}

export class ServerError extends APIError {}

export class NetworkError extends ModelhooksError {
  constructor(message, { method = '', url = '', cause } = {}) {
    super(message, { cause });
    this.method = method;
    this.url = url;
  }
}

// Messages stay short and generic on purpose: they must not help a forger.
export class WebhookVerificationError extends ModelhooksError {}

const ERRORS_BY_STATUS = new Map([
  [400, ValidationError],
  [401, AuthenticationError],
  [404, NotFoundError],
]);

export function errorClassFor(statusCode) {
  if (statusCode >= 500) {
    return ServerError;
  }
  return ERRORS_BY_STATUS.get(statusCode) ?? APIError;
}
