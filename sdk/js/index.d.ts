// Type declarations for modelhooks-sdk, written by hand to match src/.

/// <reference types="node" />

import type { IncomingMessage, ServerResponse } from 'node:http';

export declare const VERSION: string;

/** Which model versions a callback hears about: regular expressions on the whole name. */
export interface Filter {
  modelName: string;
  projectName: string;
}

/** Attempts in all (first included), seconds to wait after a failure, seconds per attempt. */
export interface AttemptPolicy {
  count: number;
  interval: number;
  httpTimeout: number;
}

export interface Callback {
  id: number;
  url: string;
  filter: Filter;
  attempt: AttemptPolicy;
  enabled: boolean;
  disabledReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** The `whsec_` signing secret: only on the result of `addCallback`. */
  secret?: string;
}

export interface Attempt {
  number: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string;
  responseTruncated: boolean;
}

export interface Delivery {
  /** Sent as `webhook-id`; the same across attempts. */
  id: string;
  eventId: string;
  state: 'pending' | 'sending' | 'succeeded' | 'failed' | 'dropped' | string;
  attemptsMade: number;
  nextAttemptAt: Date | null;
  createdAt: Date;
  finishedAt: Date | null;
  oldStatus: string | null;
  newStatus: string;
  changedAt: Date;
  attempts: Attempt[];
}

export interface DeliveryPage {
  deliveries: Delivery[];
  total: number;
  limit: number;
  offset: number;
}

export interface StatusReport {
  /** null when the status did not change. */
  eventId: string | null;
  oldStatus: string | null;
  newStatus: string;
  triggered: boolean;
}

/** The body of a verified callback request, with its `webhook-id`. */
export interface ModelStatusChange {
  webhookId: string;
  name: string;
  version: number;
  active: boolean;
  predictorId: number;
  projectName: string;
  predictorCreatedAt: Date | null;
  oldStatus: string | null;
  newStatus: string;
  changedAt: Date;
}

export interface ClientOptions {
  /** Deadline of one HTTP call, connect to last byte; default 10000. */
  timeoutMs?: number;
  /** A fetch implementation; default the global fetch. */
  fetch?: typeof fetch;
  /** Retries of GET, PUT and DELETE on no answer, 502, 503 or 504; default 2. */
  maxRetries?: number;
}

export interface CallbackOptions {
  modelName?: string;
  projectName?: string;
  count?: number;
  interval?: number;
  httpTimeout?: number;
}

export interface CallbackChanges extends CallbackOptions {
  url?: string;
  enabled?: boolean;
}

export interface StatusOptions {
  predictorId?: number;
  active?: boolean;
  predictorCreatedAt?: Date | string;
  changedAt?: Date | string;
  oldStatus?: string;
}

export declare class Client {
  constructor(baseUrl: string, apiKey: string, options?: ClientOptions);
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  addCallback(url: string, options?: CallbackOptions): Promise<Callback>;
  listCallbacks(): Promise<Callback[]>;
  getCallback(id: number): Promise<Callback>;
  editCallback(id: number, changes?: CallbackChanges): Promise<Callback>;
  deleteCallback(id: number): Promise<void>;
  listDeliveries(id: number, page?: { limit?: number; offset?: number }): Promise<DeliveryPage>;
  reportStatus(
    projectName: string,
    name: string,
    version: number,
    status: string,
    options?: StatusOptions,
  ): Promise<StatusReport>;
}

export declare class ModelhooksError extends Error {
  readonly isModelhooksError: true;
}

export declare class APIError extends ModelhooksError {
  readonly statusCode: number;
  readonly code: string;
  readonly fields: Record<string, string[]>;
  readonly method: string;
  readonly url: string;
  /** The service's message, without the request in front. */
  readonly detail: string;
}

export declare class ValidationError extends APIError {}
export declare class AuthenticationError extends APIError {}
export declare class NotFoundError extends APIError {}
export declare class ServerError extends APIError {}

export declare class NetworkError extends ModelhooksError {
  readonly method: string;
  readonly url: string;
}

export declare class WebhookVerificationError extends ModelhooksError {}

export type RawBody = Uint8Array | string;
export type HeaderSource =
  | Record<string, string | string[] | undefined>
  | Headers
  | Map<string, string>;

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export declare function signWebhook(
  body: RawBody,
  secret: string,
  options?: { webhookId?: string; timestamp?: number },
): WebhookHeaders;

export declare function verifyWebhook(
  rawBody: RawBody,
  headers: HeaderSource,
  secrets: string | string[],
  options?: { tolerance?: number; now?: number },
): ModelStatusChange;

export interface VerifiedRequest extends IncomingMessage {
  modelStatusChange: ModelStatusChange;
  rawBody: Buffer;
}

export declare function webhookMiddleware(
  secrets: string | string[],
  options?: { tolerance?: number },
): (req: IncomingMessage, res: ServerResponse, next: () => void) => Promise<void>;
