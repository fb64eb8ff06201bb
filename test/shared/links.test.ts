import type { Redis } from 'ioredis';
import { LinkStore, remoteHash } from '../../shared/links.js';
import type { RemoteUser } from '../../shared/jobs.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

let redis: Redis;
let prefix: string;
beforeAll(() => { redis = workerRedis(); });
afterAll(() => redis.quit());
beforeEach(() => { prefix = uniquePrefix('links'); });
afterEach(() => deletePrefix(redis, prefix));

const collect = async (links: AsyncIterable<unknown>) => {
  const out: unknown[] = [];
  for await (const link of links) out.push(link);
  return out;
};

describe('link store', () => {
  it('reads back exactly the fields written, with updatedAt from the given clock', async () => {
    const store = new LinkStore(redis, prefix);
    await store.update('crowd', 'u1', { remoteId: 'r1', remoteName: 'alice', writtenHash: 'w', readHash: 'h', version: 7 }, 1234);
    expect(await store.get('crowd', 'u1')).toStrictEqual({ appUserId: 'u1', target: 'crowd', remoteId: 'r1', remoteName: 'alice', writtenHash: 'w', readHash: 'h', version: 7, updatedAt: 1234 });
    expect(await redis.hgetall(`${prefix}:link:crowd:u1`)).toStrictEqual({ remoteId: 'r1', remoteName: 'alice', writtenHash: 'w', readHash: 'h', version: '7', updatedAt: '1234' });
  });

  it('leaves out fields that were never written', async () => {
    const store = new LinkStore(redis, prefix);
    await store.update('entra', 'u1', { remoteId: 'r1' }, 99);
    expect(await store.get('entra', 'u1')).toStrictEqual({ appUserId: 'u1', target: 'entra', remoteId: 'r1', updatedAt: 99 });
    // A hash written by an older version, without updatedAt.
    await redis.hset(`${prefix}:link:entra:u2`, 'remoteId', 'r2');
    expect(await store.get('entra', 'u2')).toStrictEqual({ appUserId: 'u2', target: 'entra', remoteId: 'r2' });
    expect(await store.get('entra', 'nobody')).toBeUndefined();
  });

  it('works through two stores sharing one connection', async () => {
    const first = new LinkStore(redis, prefix);
    const second = new LinkStore(redis, prefix);
    await first.update('crowd', 'u1', { remoteId: 'r1' }, 1);
    await second.update('crowd', 'u2', { remoteId: 'r2' }, 2);
    expect(await first.findByRemoteId('crowd', 'r2')).toBe('u2');
    await second.remove('crowd', 'u1');
    expect(await first.get('crowd', 'u1')).toBeUndefined();
  });

  it('lists every link across several HSCAN pages and skips reverse entries whose link is gone', async () => {
    const store = new LinkStore(redis, prefix);
    const count = 1200;
    const pipeline = redis.pipeline();
    for (let i = 0; i < count; i++) {
      pipeline.hset(`${prefix}:link:crowd:u${i}`, { remoteId: `r${i}`, updatedAt: String(i) });
      pipeline.hset(`${prefix}:link-remote:crowd`, `r${i}`, `u${i}`);
    }
    pipeline.hset(`${prefix}:link-remote:crowd`, 'r-dangling', 'u-gone');
    await pipeline.exec();
    const links = (await collect(store.listLinks('crowd'))) as Array<{ appUserId: string }>;
    expect(links).toHaveLength(count);
    expect(new Set(links.map((l) => l.appUserId)).size).toBe(count);
    expect(links.every((l) => l !== undefined)).toBe(true);
    expect(await collect(store.listLinks('entra'))).toEqual([]);
  });
});

describe('remoteHash', () => {
  const base = { target: 'crowd', remoteId: 'r1', username: 'alice', email: 'alice@example.com', active: true, groups: ['a', 'b'] } as RemoteUser;

  it('is 32 base64url characters, the same whatever the key order or the target', () => {
    const h = remoteHash(base);
    expect(h).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const reordered = { groups: ['a', 'b'], active: true, email: 'alice@example.com', username: 'alice', remoteId: 'r1', target: 'entra' } as RemoteUser;
    expect(remoteHash(reordered)).toBe(h);
  });

  it('changes with any field, and with the photo only through its hash', () => {
    const h = remoteHash(base);
    for (const changed of [{ email: 'b@example.com' }, { active: false }, { groups: ['b', 'a'] }, { firstName: 'Al' }, { remoteId: 'r2' }]) {
      expect([changed, remoteHash({ ...base, ...changed } as RemoteUser)]).not.toEqual([changed, h]);
    }
    const none = remoteHash({ ...base, photo: null } as RemoteUser);
    const withPhoto = remoteHash({ ...base, photo: { hash: 'p1', contentType: 'image/png', data: 'AAAA' } } as unknown as RemoteUser);
    expect(new Set([h, none, withPhoto]).size).toBe(3);
    expect(remoteHash({ ...base, photo: { hash: 'p1', contentType: 'image/jpeg', data: 'BBBB' } } as unknown as RemoteUser)).toBe(withPhoto);
    expect(remoteHash({ ...base, photo: { hash: 'p2', contentType: 'image/png', data: 'AAAA' } } as unknown as RemoteUser)).not.toBe(withPhoto);
  });
});
