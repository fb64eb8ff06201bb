// The per-target sync lock on real Redis: one holder at a time, renewed while its run lasts,
// released only by its own holder. Only the renewal interval runs on a fake clock, so each
// renewal is one timer step and the test awaits the very command it sent.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { withTargetLock } from '../../../workers/sync/lock.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

let redis: Redis;
let prefix: string;
let key: string;
let evals: jest.SpiedFunction<Redis['eval']>;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix('lock');
  key = `${prefix}:lock:sync:crowd`;
  jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout'] });
  evals = jest.spyOn(redis, 'eval');
});
afterEach(async () => {
  evals.mockRestore();
  jest.useRealTimers();
  await deletePrefix(redis, prefix);
});

/** The commands the lock sent with EVAL so far: renewals and the release. */
const scripts = () => evals.mock.calls.map((c) => (String(c[0]).includes('PEXPIRE') ? 'renew' : 'release'));
const lastEval = () => evals.mock.results.at(-1)!.value as Promise<unknown>;

describe('withTargetLock', () => {
  it('holds the key for 60 s by default while the run lasts, returns its value and frees the key', async () => {
    let seen: { token: string | null; ttl: number } | undefined;
    const result = await withTargetLock(redis, key, async () => {
      seen = { token: await redis.get(key), ttl: await redis.pttl(key) };
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen!.token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(seen!.ttl).toBeGreaterThan(59_000);
    expect(seen!.ttl).toBeLessThanOrEqual(60_000);
    expect(await redis.exists(key)).toBe(0);
    expect(scripts()).toStrictEqual(['release']);
  });

  it('takes its time to live from the options', async () => {
    let ttl = 0;
    await withTargetLock(redis, key, async () => {
      ttl = await redis.pttl(key);
    }, { ttlMs: 5000 });
    expect(ttl).toBeGreaterThan(4000);
    expect(ttl).toBeLessThanOrEqual(5000);
  });

  it('does not run while another holder has the key, and leaves that holder alone', async () => {
    await redis.set(key, 'other', 'PX', 30_000);
    const run = jest.fn(async () => 'ran');
    await expect(withTargetLock(redis, key, run)).resolves.toStrictEqual({ locked: true });
    expect(run).not.toHaveBeenCalled();
    expect(await redis.get(key)).toBe('other');
    expect(await redis.pttl(key)).toBeLessThanOrEqual(30_000);
    expect(evals).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a second holder is refused while the first runs, and gets the key once it is freed', async () => {
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const first = withTargetLock(redis, key, () => {
      started();
      return new Promise<string>((r) => (release = () => r('first')));
    });
    await running;
    await expect(withTargetLock(redis, key, async () => 'second')).resolves.toStrictEqual({ locked: true });
    release();
    await expect(first).resolves.toBe('first');
    await expect(withTargetLock(redis, key, async () => 'second')).resolves.toBe('second');
  });

  it('keeps the key until the run has finished, not merely started', async () => {
    let during: string | null = null;
    await withTargetLock(redis, key, async () => {
      await redis.ping();
      during = await redis.get(key);
    });
    expect(during).not.toBeNull();
    expect(await redis.exists(key)).toBe(0);
  });

  it('frees the key when the run throws, and passes the error on', async () => {
    const boom = new Error('listing failed');
    await expect(withTargetLock(redis, key, async () => {
      throw boom;
    })).rejects.toBe(boom);
    expect(await redis.exists(key)).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('never frees a key that has passed to another holder', async () => {
    await withTargetLock(redis, key, async () => {
      await redis.set(key, 'other', 'PX', 30_000);
    });
    expect(await redis.get(key)).toBe('other');
    expect(scripts()).toStrictEqual(['release']);
    await expect(lastEval()).resolves.toBe(0);
  });

  it('renews the key every third of its time to live while the run lasts', async () => {
    await withTargetLock(redis, key, async () => {
      const token = await redis.get(key);
      await redis.pexpire(key, 200);
      await jest.advanceTimersByTimeAsync(999);
      expect(evals).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);
      expect(scripts()).toStrictEqual(['renew']);
      expect(evals.mock.calls[0]!.slice(1)).toStrictEqual([1, key, token, '3001']);
      await expect(lastEval()).resolves.toBe(1);
      expect(await redis.pttl(key)).toBeGreaterThan(2500);
      await redis.pexpire(key, 200);
      await jest.advanceTimersByTimeAsync(1000);
      expect(scripts()).toStrictEqual(['renew', 'renew']);
      await lastEval();
      expect(await redis.pttl(key)).toBeGreaterThan(2500);
    }, { ttlMs: 3001 });
    expect(scripts()).toStrictEqual(['renew', 'renew', 'release']);
  });

  it('renews every 20 s by default', async () => {
    await withTargetLock(redis, key, async () => {
      await jest.advanceTimersByTimeAsync(19_999);
      expect(evals).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);
      expect(scripts()).toStrictEqual(['renew']);
      expect(evals.mock.calls[0]![4]).toBe('60000');
      await lastEval();
    });
  });

  it('does not extend a key that has passed to another holder', async () => {
    await withTargetLock(redis, key, async () => {
      await redis.set(key, 'other', 'PX', 500);
      await jest.advanceTimersByTimeAsync(1000);
      await expect(lastEval()).resolves.toBe(0);
      expect(await redis.pttl(key)).toBeLessThanOrEqual(500);
    }, { ttlMs: 3000 });
    expect(await redis.get(key)).toBe('other');
  });

  it('stops renewing once the run is over', async () => {
    await withTargetLock(redis, key, async () => 1, { ttlMs: 3000 });
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(scripts()).toStrictEqual(['release']);
  });

  it('a failed renewal or release does not fail the run', async () => {
    const result = await withTargetLock(redis, key, async () => {
      evals.mockRejectedValueOnce(new Error('connection lost'));
      await jest.advanceTimersByTimeAsync(1000);
      await expect(lastEval()).rejects.toThrow('connection lost');
      evals.mockRejectedValueOnce(new Error('connection lost'));
      return 'kept';
    }, { ttlMs: 3000 });
    expect(result).toBe('kept');
    expect(scripts()).toStrictEqual(['renew', 'release']);
  });
});
