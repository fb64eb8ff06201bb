import { Redis, type RedisOptions } from 'ioredis';
import { createSyncClient, isRedisUnavailableError, RedisUnavailableError, type SyncClient } from '../../producers/index.js';
import { asRedisUnavailable } from '../../shared/redis-errors.js';
import { freePort, hasRedisServer, startPrivateRedis, type PrivateRedis } from '../chaos/support/private-redis.js';
import { TEST_KEY } from '../helpers/harness.js';
import { uniquePrefix } from '../helpers/redis.js';

/**
 * However ioredis words a lost connection, a client call rejects with RedisUnavailableError
 * ("Redis is unreachable: …"). The shared Redis is never touched: the client points at a port
 * where nothing listens, or at a private redis-server this test kills.
 */

const alice = { id: 'u-1', username: 'alice', email: 'alice@example.com' };

/** Every public call that talks to Redis, each with valid input. */
const everyCall = (client: SyncClient): [string, () => Promise<unknown>][] => [
  ['userChanged', () => client.userChanged(alice)],
  ['userChangedMany', () => client.userChangedMany([alice, { ...alice, id: 'u-2', username: 'bob' }])],
  ['userDeleted', () => client.userDeleted({ id: 'u-1' })],
  ['passwordChanged', () => client.passwordChanged({ id: 'u-1' }, 'Unsent-Secret-1')],
  ['provision', () => client.provision({ ids: ['u-1'] })],
  ['pull', () => client.pull({ id: 'u-1' })],
  ['refresh', () => client.refresh({ id: 'u-1' }, { target: 'crowd', timeoutMs: 1000 })],
];

async function expectEveryCallUnavailable(client: SyncClient): Promise<void> {
  for (const [name, call] of everyCall(client)) {
    const err = await call().then(() => undefined, (e: unknown) => e);
    expect([name, err]).toEqual([name, expect.any(RedisUnavailableError)]);
    expect((err as Error).message).toMatch(/^Redis is unreachable: /);
    expect((err as Error).message).not.toContain('Unsent-Secret');
  }
}

/** A real ioredis rejection, produced by `fn` on a connection built from `options`. */
async function ioredisError(options: RedisOptions, fn: (r: Redis) => Promise<unknown>): Promise<unknown> {
  const redis = new Redis(options);
  redis.on('error', () => undefined);
  try {
    return await fn(redis).then(() => undefined, (e: unknown) => e);
  } finally {
    redis.disconnect();
  }
}

describe('client library when Redis is unreachable', () => {
  it('maps each of ioredis connection errors, and leaves Redis refusals alone', async () => {
    const port = await freePort();
    const notWriteable = await ioredisError({ port, lazyConnect: true, enableOfflineQueue: false }, (r) => r.get('k'));
    const maxRetries = await ioredisError({ port, maxRetriesPerRequest: 0, retryStrategy: () => 100 }, (r) => r.get('k'));
    const closed = await ioredisError({ port, lazyConnect: true }, async (r) => {
      r.disconnect();
      return r.get('k');
    });
    expect([notWriteable, maxRetries, closed].map((e) => (e as Error).message)).toEqual([
      expect.stringContaining("Stream isn't writeable"),
      expect.stringContaining('max retries per request'),
      'Connection is closed.',
    ]);
    expect((maxRetries as Error).name).toBe('MaxRetriesPerRequestError');
    for (const err of [notWriteable, maxRetries, closed]) {
      const mapped = asRedisUnavailable(err);
      expect(isRedisUnavailableError(mapped)).toBe(true);
      expect((mapped as Error).cause).toBe(err);
    }
    // A command Redis answered with an error is not a connection problem.
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), { name: 'ReplyError' });
    expect(asRedisUnavailable(reply)).toBe(reply);
  });

  it('rejects every call with RedisUnavailableError where nothing listens', async () => {
    const client = createSyncClient({ redisUrl: `redis://127.0.0.1:${await freePort()}`, prefix: uniquePrefix('unreach'), targets: ['crowd', 'entra'], secretKey: TEST_KEY });
    try {
      await expectEveryCallUnavailable(client);
    } finally {
      await client.close();
    }
  });

  it('rejects every call on a connection the application already closed', async () => {
    const connection = new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, enableOfflineQueue: false });
    connection.disconnect();
    const client = createSyncClient({ connection, prefix: uniquePrefix('closed'), targets: ['crowd'], secretKey: TEST_KEY });
    try {
      await expectEveryCallUnavailable(client);
    } finally {
      await client.close();
    }
  });

  (hasRedisServer ? describe : describe.skip)('on a private redis-server that is killed', () => {
    let redis: PrivateRedis;
    beforeAll(async () => { redis = await startPrivateRedis(); });
    afterAll(() => redis.stop());

    it('rejects calls in flight and after the kill with RedisUnavailableError, and works again after a restart', async () => {
      const client = createSyncClient({ redisUrl: redis.url, prefix: uniquePrefix('killed'), targets: ['crowd', 'entra'], secretKey: TEST_KEY });
      try {
        await client.userChanged(alice);
        // Calls racing the kill: each either went in or failed as unreachable, never otherwise.
        const inFlight = Array.from({ length: 200 }, (_, i) => client.userChanged({ ...alice, id: `f-${i}` }).then(() => 'ok', (e: unknown) => e));
        await redis.kill();
        for (const outcome of await Promise.all(inFlight)) if (outcome !== 'ok') expect(outcome).toBeInstanceOf(RedisUnavailableError);
        await expectEveryCallUnavailable(client);
        await redis.start();
        expect(await client.userChanged(alice)).toHaveLength(2);
      } finally {
        await client.close();
      }
    });
  });
});
