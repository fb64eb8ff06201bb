import { Redis, type RedisOptions } from 'ioredis';

/**
 * ioredis connections for the two roles BullMQ distinguishes:
 * - `producer` (client library, HTTP ingest): fail fast when Redis is down, so a
 *   caller hears "not enqueued" instead of waiting on an offline queue;
 * - `worker`: `maxRetriesPerRequest: null`, as BullMQ's blocking commands require.
 */
export type RedisRole = 'producer' | 'worker';

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    ...(role === 'producer'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 }
      : { maxRetriesPerRequest: null }),
    ...extra,
  });
}

export interface WhenReadyOptions {
  /** @defaultValue 10000 */
  timeoutMs?: number;
  /** Reject on the first connection error instead of waiting for a reconnect. @defaultValue false */
  failOnError?: boolean;
}

/** Resolves once the connection is ready (producers have no offline queue to hide a slow connect). */
export async function whenReady(redis: Redis, options: WhenReadyOptions = {}): Promise<void> {
  if (redis.status === 'ready') return;
  const timeoutMs = options.timeoutMs ?? 10_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`Redis did not become ready within ${timeoutMs} ms`)), timeoutMs);
    const onReady = () => finish();
    const onEnd = () => finish(new Error('Redis connection closed before it became ready'));
    const onError = (err: Error) => options.failOnError && finish(new Error(`Redis is unreachable: ${err.message}`));
    function finish(err?: Error) {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      redis.off('error', onError);
      if (err) reject(err);
      else resolve();
    }
    redis.on('ready', onReady);
    redis.on('end', onEnd);
    redis.on('error', onError);
  });
}

/** Every key under the prefix, a SCAN page at a time (never KEYS: it blocks Redis). */
export async function* scanPrefix(redis: Redis, prefix: string): AsyncIterableIterator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) yield keys;
  } while (cursor !== '0');
}

/** Deletes every key under the prefix (UNLINK: freed in the background). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of scanPrefix(redis, prefix)) await redis.unlink(...keys);
}
