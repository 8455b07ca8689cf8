// JavaScript SDK for modelhooks: manage callbacks and verify the requests they bring.

export { Client, VERSION } from './client.js';
export {
  APIError,
  AuthenticationError,
  ModelhooksError,
  NetworkError,
  NotFoundError,
  ServerError,
  ValidationError,
  WebhookVerificationError,
} from './errors.js';
export { webhookMiddleware } from './middleware.js';
export { signWebhook, verifyWebhook } from './webhooks.js';
