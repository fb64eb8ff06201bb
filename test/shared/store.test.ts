import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { LinkStore } from '../../shared/links.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

let redis: Redis;
let prefix: string;
beforeAll(() => { redis = workerRedis(); });
afterAll(() => redis.quit());
beforeEach(() => { prefix = uniquePrefix('store'); });
afterEach(() => deletePrefix(redis, prefix));

const entry = (over: Partial<Parameters<AuditLog['append']>[0]> = {}) => ({
  time: Date.now(), target: 'crowd', operation: 'update', resource: 'user', subject: 'u1',
  status: 'succeeded' as const, attempt: 1, durationMs: 3, ...over,
});

describe('audit log', () => {
  it('queries by subject, target, status and time range, newest first', async () => {
    const audit = new AuditLog(redis, prefix);
    await audit.append(entry({ subject: 'u1', status: 'failed', error: 'boom', changedAttributes: ['email', 'active'] }));
    await audit.append(entry({ subject: 'u2', target: 'entra' }));
    await audit.append(entry({ subject: 'u1', operation: 'rename' }));
    const all = await audit.query();
    expect(all.map((e) => e.operation)).toEqual(['rename', 'update', 'update']);
    expect((await audit.query({ subject: 'u1' })).length).toBe(2);
    expect((await audit.query({ target: 'entra' })).map((e) => e.subject)).toEqual(['u2']);
    const failed = await audit.query({ status: ['failed'] });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ error: 'boom', changedAttributes: ['email', 'active'], attempt: 1 });
    expect(await audit.query({ until: Date.now() - 60_000 })).toEqual([]);
    expect((await audit.query({ since: Date.now() - 60_000, limit: 2 })).length).toBe(2);
  });

  it('pages past one read and stops at the limit', async () => {
    const audit = new AuditLog(redis, prefix);
    for (let i = 0; i < 1200; i++) await audit.append(entry({ subject: i % 2 ? 'odd' : 'even' }));
    expect((await audit.query({ subject: 'odd', limit: 10_000 })).length).toBe(600);
  });

  it('never stores a secret in an error text', async () => {
    const audit = new AuditLog(redis, prefix);
    await audit.append(entry({ error: 'PUT failed: Authorization: Basic aWRzeW5jOnNlY3JldA== password=hunter2' }));
    const [e] = await audit.query();
    expect(e!.error).not.toMatch(/aWRzeW5j|hunter2/);
  });

  it('is capped by length and by age', async () => {
    const audit = new AuditLog(redis, prefix, { maxEntries: 100, maxAgeMs: 1000 });
    for (let i = 0; i < 400; i++) await audit.append(entry());
    expect(await redis.xlen(audit.key)).toBeLessThan(300);
    await audit.trim(Date.now() + 10_000);
    expect(await redis.xlen(audit.key)).toBeLessThan(150);
  });
});

describe('link store', () => {
  it('keeps versions monotonic and the reverse index in step across renames', async () => {
    const links = new LinkStore(redis, prefix);
    await links.update('crowd', 'u1', { remoteId: 'k1', remoteName: 'alice', version: 5, writtenHash: 'h1' });
    await links.update('crowd', 'u1', { version: 3 });
    expect(await links.get('crowd', 'u1')).toMatchObject({ remoteId: 'k1', remoteName: 'alice', version: 5, writtenHash: 'h1' });
    await links.update('crowd', 'u1', { remoteName: 'alice2', version: 6 });
    expect(await links.get('crowd', 'u1')).toMatchObject({ remoteId: 'k1', remoteName: 'alice2', version: 6 });
    await links.update('crowd', 'u1', { remoteId: 'k2' });
    expect(await links.findByRemoteId('crowd', 'k1')).toBeUndefined();
    expect(await links.findByRemoteId('crowd', 'k2')).toBe('u1');
    expect(await links.get('entra', 'u1')).toBeUndefined();
  });

  it('lists and removes links', async () => {
    const links = new LinkStore(redis, prefix);
    for (let i = 0; i < 30; i++) await links.update('entra', `u${i}`, { remoteId: `r${i}` });
    const listed = [];
    for await (const l of links.listLinks('entra')) listed.push(l.appUserId);
    expect(listed.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `u${i}`).sort());
    await links.remove('entra', 'u3');
    expect(await links.get('entra', 'u3')).toBeUndefined();
    expect(await links.findByRemoteId('entra', 'r3')).toBeUndefined();
  });
});
