// The merge script on its own, on keys laid out as BullMQ leaves them, for the states a live
// queue reaches only by timing: the job made from the next-job slot before our merge ran, and
// password changes, of which no copy is kept.
import { MERGE_PUSH_LUA, type MergeOutcome } from '../../producers/push-merge.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

type Merge = (...args: string[]) => Promise<[MergeOutcome, number]>;

describe('the push merge script', () => {
  const redis = workerRedis();
  redis.defineCommand('testMergePush', { numberOfKeys: 6, lua: MERGE_PUSH_LUA });
  const merge = (redis as unknown as { testMergePush: Merge }).testMergePush.bind(redis);
  let prefix: string;
  const key = (k: string) => `${prefix}:crowd:${k}`;
  const snapshot = (version: number, extra: Record<string, unknown> = {}) => JSON.stringify({ op: 'upsert', user: { id: 'u', version }, ...extra });
  const run = (existingId: string, ownId: string, version: number, data: string, keepCopy = '1') =>
    merge(key('active'), key(existingId), key(ownId), key('de:push-user-u'), key('dn:push-user-u'), key('dn:push-user-u:last'), existingId, ownId, String(version), '0', data, '0', keepCopy);

  beforeEach(() => {
    prefix = uniquePrefix('merge');
  });
  afterEach(() => deletePrefix(redis, prefix));
  afterAll(() => redis.quit());

  it('puts the newer copy into the job made from the slot, while that job has not started', async () => {
    await redis.hset(key('dn:push-user-u:last'), 'data', snapshot(5), 'opts', '{}');
    await redis.hset(key('own'), 'data', snapshot(4));
    expect(await run('running', 'own', 4, snapshot(4))).toEqual(['own', 0]);
    expect(await redis.hget(key('own'), 'data')).toBe(snapshot(5));
  });

  it('leaves the job made from the slot alone once it runs or finished, or when the copy is older', async () => {
    await redis.hset(key('dn:push-user-u:last'), 'data', snapshot(5), 'opts', '{}');
    await redis.hset(key('own'), 'data', snapshot(4));
    await redis.lpush(key('active'), 'own');
    expect(await run('running', 'own', 4, snapshot(4))).toEqual(['own', 0]);
    expect(await redis.hget(key('own'), 'data')).toBe(snapshot(4));
    await redis.lrem(key('active'), 0, 'own');
    await redis.hset(key('own'), 'finishedOn', '1');
    await run('running', 'own', 4, snapshot(4));
    expect(await redis.hget(key('own'), 'data')).toBe(snapshot(4));
    await redis.hdel(key('own'), 'finishedOn');
    await redis.hset(key('own'), 'data', snapshot(6));
    await run('running', 'own', 6, snapshot(6));
    expect(await redis.hget(key('own'), 'data')).toBe(snapshot(6));
  });

  it('keeps a copy of the newest snapshot in the slot, restores it over an older one, and keeps none of a password change', async () => {
    await redis.lpush(key('active'), 'running');
    await redis.hset(key('dn:push-user-u'), 'jid', 'a', 'data', snapshot(5), 'opts', '{"priority":0}');
    expect(await run('running', 'a', 5, snapshot(5))).toEqual(['next', 0]);
    expect(await redis.hgetall(key('dn:push-user-u:last'))).toEqual({ data: snapshot(5), opts: '{"priority":0}' });
    expect(await redis.pttl(key('dn:push-user-u:last'))).toBeGreaterThan(0);
    // BullMQ overwrote the slot with an older add: the newer snapshot and its options go back.
    await redis.hset(key('dn:push-user-u'), 'jid', 'b', 'data', snapshot(4), 'opts', '{"priority":2097152}');
    expect(await run('running', 'b', 4, snapshot(4))).toEqual(['kept', 0]);
    expect(await redis.hgetall(key('dn:push-user-u'))).toEqual({ jid: 'b', data: snapshot(5), opts: '{"priority":0}' });

    await deletePrefix(redis, prefix);
    await redis.lpush(key('active'), 'running');
    const password = JSON.stringify({ user: { id: 'u' }, password: { v: 1, iv: 'x', data: 'sealed', tag: 't' }, enqueuedAt: 7 });
    await redis.hset(key('dn:push-user-u'), 'jid', 'p', 'data', password, 'opts', '{}');
    expect(await run('running', 'p', 7, password, '0')).toEqual(['next', 0]);
    expect(await redis.exists(key('dn:push-user-u:last'))).toBe(0);
  });
});
