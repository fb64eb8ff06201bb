/**
 * The one error taxonomy (design decision 5). Connectors throw these; the worker
 * runtime maps each kind to a BullMQ action in exactly one place
 * (workers/runtime/failures.ts):
 *
 * | kind            | runtime action                                                          |
 * |-----------------|-------------------------------------------------------------------------|
 * | transient       | retry with exponential backoff and jitter (consumes an attempt)          |
 * | throttled       | pause the whole target queue for `retryAfterMs` (consumes no attempt)    |
 * | permanent       | `UnrecoverableError`: straight to the failed set with a readable reason  |
 * | configuration   | quarantine the target: pause its queue and probe until it recovers       |
 *
 * Guards check `name`, not `instanceof`, so errors survive duplicate module copies
 * (jest's module registry, two installed versions of idsync).
 */

export type SyncErrorKind = 'transient' | 'throttled' | 'permanent' | 'configuration';

export interface SyncErrorOptions {
  /** Machine-readable code from the remote (e.g. Crowd `reason`, Graph `error.code`). */
  code?: string;
  /** HTTP status that produced the error, when there was one. */
  status?: number;
  cause?: unknown;
}

export abstract class SyncError extends Error {
  abstract readonly kind: SyncErrorKind;
  readonly code: string | undefined;
  readonly status: number | undefined;

  constructor(message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.status = options.status;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Might succeed if tried again later: 5xx, timeouts, connection resets. */
export class TransientError extends SyncError {
  readonly kind = 'transient' as const;
  /** Overrides the computed backoff for this retry (a per-resource Retry-After). */
  readonly nextRetryDelayMs: number | undefined;
  constructor(message: string, options: SyncErrorOptions & { nextRetryDelayMs?: number } = {}) {
    super(message, options);
    this.nextRetryDelayMs = options.nextRetryDelayMs;
  }
}

/** The remote asked the whole application to slow down (429 / 503 with Retry-After). */
export class ThrottledError extends SyncError {
  readonly kind = 'throttled' as const;
  readonly retryAfterMs: number;
  constructor(message: string, options: SyncErrorOptions & { retryAfterMs: number }) {
    super(message, options);
    this.retryAfterMs = Math.max(0, Math.ceil(options.retryAfterMs));
  }
}

/** Retrying cannot help: invalid data, a rule the remote enforces, a malformed response. */
export class PermanentError extends SyncError {
  readonly kind = 'permanent' as const;
}

/** The target itself is misconfigured (bad credentials, missing permission): stop and probe. */
export class ConfigurationError extends SyncError {
  readonly kind = 'configuration' as const;
}

const KINDS: Record<string, SyncErrorKind> = {
  TransientError: 'transient',
  ThrottledError: 'throttled',
  PermanentError: 'permanent',
  ConfigurationError: 'configuration',
};

/** The taxonomy kind of any thrown value; anything unknown counts as transient. */
export function errorKind(err: unknown): SyncErrorKind {
  const name = (err as { name?: unknown } | null)?.name;
  // Own keys only: a name such as 'constructor' must not pick up Object.prototype's members.
  return (typeof name === 'string' && Object.hasOwn(KINDS, name) && KINDS[name]) || 'transient';
}

export const isTransientError = (e: unknown): e is TransientError => nameIs(e, 'TransientError');
export const isThrottledError = (e: unknown): e is ThrottledError => nameIs(e, 'ThrottledError');
export const isPermanentError = (e: unknown): e is PermanentError => nameIs(e, 'PermanentError');
export const isConfigurationError = (e: unknown): e is ConfigurationError => nameIs(e, 'ConfigurationError');

/** One bad field in caller input. */
export interface ValidationIssue {
  /** Dotted path of the field, e.g. `email` or `users.3.groups.0`. */
  path: string;
  message: string;
}

/** Caller input was rejected before anything was enqueued. */
export class ValidationError extends Error {
  readonly issues: ValidationIssue[];
  constructor(issues: ValidationIssue[], subject = 'input') {
    super(`Invalid ${subject}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    this.name = 'ValidationError';
    this.issues = issues;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export const isValidationError = (e: unknown): e is ValidationError => nameIs(e, 'ValidationError');

/**
 * Redis could not be reached (refused, closed, not ready in time): nothing of the call was
 * enqueued and it may be tried again. The client library's calls reject with this whatever
 * ioredis said; the original error is the `cause`.
 */
export class RedisUnavailableError extends Error {
  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(`Redis is unreachable: ${reason}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RedisUnavailableError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export const isRedisUnavailableError = (e: unknown): e is RedisUnavailableError => nameIs(e, 'RedisUnavailableError');

/** An environment variable is missing or malformed; start-up stops with this message. */
export class InvalidEnvironmentError extends Error {
  readonly variables: ValidationIssue[];
  constructor(variables: ValidationIssue[]) {
    super(
      `Invalid configuration:\n${variables.map((v) => `  ${v.path}: ${v.message}`).join('\n')}`,
    );
    this.name = 'InvalidEnvironmentError';
    this.variables = variables;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

function nameIs(e: unknown, name: string): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name;
}
