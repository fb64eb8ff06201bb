import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

/**
 * One sync run per target at a time, across every process (`<prefix>:lock:sync:<target>`): two
 * full syncs, or a full sync and an incremental pull, of one target never overlap. The lock is
 * renewed while held, so a crashed holder frees it within `ttlMs`.
 */
export async function withTargetLock<T>(redis: Redis, key: string, run: () => Promise<T>, options: { ttlMs?: number } = {}): Promise<T | { locked: true }> {
  const ttlMs = options.ttlMs ?? 60_000;
  const token = randomUUID();
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return { locked: true };
  const timer = setInterval(() => void redis.eval(RENEW, 1, key, token, String(ttlMs)).catch(() => undefined), Math.floor(ttlMs / 3));
  try {
    return await run();
  } finally {
    clearInterval(timer);
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}
