// Which ioredis/BullMQ failures count as "Redis unreachable", and how callers see them.
import { isRedisUnavailableError, RedisUnavailableError } from '../../shared/errors.js';
import { asRedisUnavailable, isRedisConnectionError, withRedisErrors } from '../../shared/redis-errors.js';

const MESSAGES = [
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Connection is closed.',
  'Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details.',
  'None of startup nodes is available',
  'Failed to refresh slots cache.',
  'Cluster is disconnected.',
  'Redis did not become ready within 5000 ms',
  'Redis connection closed before it became ready',
];
const NAMES = ['MaxRetriesPerRequestError', 'ClusterAllFailedError'];
const CODES = ['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOENT'];

function withCode(code: string, message = 'boom'): Error {
  return Object.assign(new Error(message), { code });
}

describe('isRedisConnectionError', () => {
  it('recognises each connection message, each error name and each errno code on its own', () => {
    for (const m of MESSAGES) expect([m, isRedisConnectionError(new Error(m))]).toEqual([m, true]);
    for (const n of NAMES) expect([n, isRedisConnectionError(Object.assign(new Error('boom'), { name: n }))]).toEqual([n, true]);
    for (const c of CODES) expect([c, isRedisConnectionError(withCode(c))]).toEqual([c, true]);
  });

  it('recognises a RedisUnavailableError and its lookalikes whatever their message', () => {
    expect(isRedisConnectionError(new RedisUnavailableError('something else'))).toBe(true);
    expect(isRedisConnectionError({ name: 'RedisUnavailableError', message: 'x' })).toBe(true);
  });

  it('refuses errors from a command Redis answered', () => {
    expect(isRedisConnectionError(new Error('ERR unknown command'))).toBe(false);
    expect(isRedisConnectionError(withCode('ERR', 'WRONGTYPE Operation against a key'))).toBe(false);
    expect(isRedisConnectionError(Object.assign(new Error('x'), { name: 'ReplyError' }))).toBe(false);
    expect(isRedisConnectionError({})).toBe(false);
  });

  it('refuses null, primitives and fields of the wrong type', () => {
    expect([null, undefined, 'Connection is closed', 'ECONNREFUSED', 0].map(isRedisConnectionError)).toEqual(Array(5).fill(false));
    // A function is not an error even when its name is a connection error's name.
    class MaxRetriesPerRequestError {}
    expect(isRedisConnectionError(MaxRetriesPerRequestError)).toBe(false);
    // Arrays have `includes` too; only a string message is searched.
    expect(isRedisConnectionError({ message: ['Connection is closed'] })).toBe(false);
    expect(isRedisConnectionError({ code: ['ECONNREFUSED'], name: ['ClusterAllFailedError'] })).toBe(false);
  });
});

describe('asRedisUnavailable', () => {
  it('wraps a connection failure, keeping its message and the original as cause', () => {
    const original = withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6379');
    const wrapped = asRedisUnavailable(original) as RedisUnavailableError;
    expect(isRedisUnavailableError(wrapped)).toBe(true);
    expect(wrapped.message).toBe('Redis is unreachable: connect ECONNREFUSED 127.0.0.1:6379');
    expect(wrapped.cause).toBe(original);
  });

  it('returns a RedisUnavailableError and anything that is not a connection failure as it is', () => {
    const already = new RedisUnavailableError('x');
    expect(asRedisUnavailable(already)).toBe(already);
    const reply = new Error('ERR wrong number of arguments');
    expect(asRedisUnavailable(reply)).toBe(reply);
    expect(asRedisUnavailable(null)).toBeNull();
  });
});

describe('withRedisErrors', () => {
  it('turns connection failures of each method into RedisUnavailableError and passes the rest through', async () => {
    const reply = new Error('ERR no such key');
    const target = {
      factor: 2,
      double(this: { factor: number }, n: number) { return n * this.factor; },
      async down() { throw new Error('Connection is closed.'); },
      async refused() { throw reply; },
    };
    const wrapped = withRedisErrors(target);
    expect(wrapped.factor).toBe(2);
    await expect(wrapped.double(21)).resolves.toBe(42);
    await expect(wrapped.down()).rejects.toMatchObject({ name: 'RedisUnavailableError', message: 'Redis is unreachable: Connection is closed.' });
    await expect(wrapped.refused()).rejects.toBe(reply);
  });
});
