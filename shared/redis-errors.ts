import { isRedisUnavailableError, RedisUnavailableError } from './errors.js';

/**
 * What ioredis (and BullMQ on top of it) throws when the connection, not the command, failed.
 * A producer connection has no offline queue, so a call while Redis is away fails with one of
 * these texts rather than waiting; callers should hear one error for all of them.
 */
const CONNECTION_MESSAGES = [
  "Stream isn't writeable", // enableOfflineQueue: false while disconnected
  'Connection is closed', // the socket closed under a pending command
  'Reached the max retries per request limit', // MaxRetriesPerRequestError
  'None of startup nodes is available', // cluster
  'Failed to refresh slots cache', // cluster
  'Cluster is disconnected',
  'Redis did not become ready',
  'Redis connection closed before it became ready',
];
const CONNECTION_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOENT']);

/** True when `err` says Redis could not be reached (as opposed to a command Redis refused). */
export function isRedisConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (isRedisUnavailableError(err)) return true;
  const { name, message, code } = err as { name?: unknown; message?: unknown; code?: unknown };
  if (typeof name === 'string' && CONNECTION_NAMES.has(name)) return true;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  return typeof message === 'string' && CONNECTION_MESSAGES.some((m) => message.includes(m));
}

/** `err` as a `RedisUnavailableError` when it is a connection failure; anything else as it is. */
export function asRedisUnavailable(err: unknown): unknown {
  if (isRedisUnavailableError(err) || !isRedisConnectionError(err)) return err;
  return new RedisUnavailableError(String((err as Error).message ?? err), { cause: err });
}

/** Each method of `target`, with connection failures turned into `RedisUnavailableError`. */
export function withRedisErrors<T extends object>(target: T): T {
  const out = { ...target };
  for (const [key, value] of Object.entries(target)) {
    if (typeof value !== 'function') continue;
    (out as Record<string, unknown>)[key] = async (...args: unknown[]) => {
      try {
        return await (value as (...a: unknown[]) => unknown).apply(target, args);
      } catch (err) {
        throw asRedisUnavailable(err);
      }
    };
  }
  return out;
}
