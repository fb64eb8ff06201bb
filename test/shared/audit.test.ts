// The audit log (shared/audit.ts) against the real Redis, one unique prefix per test: the exact
// stream fields an append writes (and leaves out), redaction and truncation of error texts, the
// length and age caps, newest-first listing with its filters, inclusive time bounds, paging and
// limit, the oldest-first pages export reads, and decoding of stream entries. Time-range tests
// write stream ids of their own choosing in the append format, since XADD * takes Redis' clock.
import { jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { AUDIT_STATUSES, AuditLog, auditMatcher, decodeAuditEntry, type AuditEntry } from '../../shared/audit.js';
import { collect } from '../helpers/collect.js';
import { fixDate } from '../helpers/clock.js';
import { deletePrefix, dumpPrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

const DAY = 86_400_000;

let redis: Redis;
let prefix: string;
beforeAll(() => { redis = workerRedis(); });
afterAll(() => redis.quit());
beforeEach(() => { prefix = uniquePrefix('audit'); });
afterEach(async () => {
  jest.useRealTimers();
  jest.restoreAllMocks();
  await deletePrefix(redis, prefix);
});

const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  time: 1_767_600_000_000, target: 'crowd', operation: 'update', resource: 'user', subject: 'u1',
  status: 'succeeded', attempt: 1, durationMs: 12, ...over,
});

/** Writes an entry at a chosen stream id, in the field format append uses. */
async function put(key: string, id: string, e: Partial<AuditEntry> = {}): Promise<void> {
  const full = entry(e);
  await redis.xadd(key, id, 'time', String(full.time), 'target', full.target, 'operation', full.operation, 'resource', full.resource,
    'subject', full.subject, 'status', full.status, 'attempt', String(full.attempt), 'durationMs', String(full.durationMs));
}

/** `count` entries at ids 1-0, 2-0, …, their subject the index; `make` adjusts each. */
async function seed(key: string, count: number, make: (i: number) => Partial<AuditEntry> = () => ({})): Promise<void> {
  const pipeline = redis.pipeline();
  for (let i = 1; i <= count; i++) {
    const e = entry({ subject: String(i), ...make(i) });
    pipeline.xadd(key, `${i}-0`, 'time', String(e.time), 'target', e.target, 'operation', e.operation, 'resource', e.resource,
      'subject', e.subject, 'status', e.status, 'attempt', String(e.attempt), 'durationMs', String(e.durationMs));
  }
  await pipeline.exec();
}

const ids = (entries: { id: string }[]) => entries.map((e) => e.id);

describe('append', () => {
  it('writes every field in a fixed order and returns the stream id', async () => {
    const audit = new AuditLog(redis, prefix);
    expect(audit.key).toBe(`${prefix}:audit`);
    const id = await audit.append(entry({ durationMs: 12 }));
    expect(await redis.xrange(audit.key, '-', '+')).toEqual([[id, [
      'time', '1767600000000', 'target', 'crowd', 'operation', 'update', 'resource', 'user', 'subject', 'u1',
      'status', 'succeeded', 'attempt', '1', 'durationMs', '12',
    ]]]);
  });

  it('writes the optional fields only when given: error, job id and a non-empty list of changed attribute names', async () => {
    const audit = new AuditLog(redis, prefix);
    await audit.append(entry({ error: 'boom', jobId: 'j-7', changedAttributes: ['email', 'active'] }));
    await audit.append(entry({ error: '', changedAttributes: [] }));
    await audit.append(entry({ changedAttributes: ['email'] }));
    const rows = (await redis.xrange(audit.key, '-', '+')).map(([, flat]) => flat.slice(16));
    expect(rows).toEqual([
      ['error', 'boom', 'jobId', 'j-7', 'changedAttributes', 'email,active'],
      ['error', ''],
      ['changedAttributes', 'email'],
    ]);
  });

  it('rounds the duration to whole milliseconds', async () => {
    const audit = new AuditLog(redis, prefix);
    for (const durationMs of [2.4, 2.5, 0.49]) await audit.append(entry({ durationMs }));
    expect((await audit.query()).map((e) => e.durationMs)).toEqual([0, 3, 2]);
  });

  it('redacts secrets from the error text before it reaches Redis', async () => {
    const audit = new AuditLog(redis, prefix);
    await audit.append(entry({ error: 'PUT failed: Authorization: Bearer eyJhbGciOi.abc.def password=hunter2 https://svc:s3cret@crowd.example/rest' }));
    const [stored] = await audit.query();
    expect(stored!.error).toBe('PUT failed: Authorization: Bearer [Redacted] password=[Redacted] https://svc:[Redacted]@crowd.example/rest');
    expect(await dumpPrefix(redis, prefix)).not.toMatch(/eyJhbGciOi|hunter2|s3cret/);
  });

  it('keeps at most 2000 characters of an error text', async () => {
    const audit = new AuditLog(redis, prefix);
    await audit.append(entry({ error: 'x'.repeat(2000) }));
    await audit.append(entry({ error: `${'y'.repeat(2000)}z` }));
    const [long, exact] = await audit.query();
    expect(exact!.error).toBe('x'.repeat(2000));
    expect(long!.error).toBe('y'.repeat(2000));
  });
});

describe('caps', () => {
  it('caps the stream by length, approximately, on every write; by default a million entries', async () => {
    const capped = new AuditLog(redis, `${prefix}:capped`, { maxEntries: 100 });
    const uncapped = new AuditLog(redis, prefix);
    for (let i = 0; i < 250; i++) {
      await capped.append(entry());
      await uncapped.append(entry());
    }
    // Redis trims whole nodes of 100 entries under '~': 250 written, at most 200 kept.
    expect(await capped.length()).toBeLessThanOrEqual(200);
    expect(await capped.length()).toBeGreaterThanOrEqual(100);
    expect(await uncapped.length()).toBe(250);
  });

  it('trims entries older than the age cap, keeping one exactly at the cap', async () => {
    const audit = new AuditLog(redis, prefix, { maxAgeMs: 1000 });
    for (const ms of [1000, 2000, 3000]) await put(audit.key, `${ms}-0`);
    await audit.trim(4000);
    expect(await audit.length()).toBe(3);
    await audit.trim(4001);
    expect(await audit.length()).toBe(0);
  });

  it('keeps entries for 90 days by default', async () => {
    const audit = new AuditLog(redis, prefix);
    await put(audit.key, '5000-0');
    await audit.trim(5000 + 90 * DAY);
    expect(await audit.length()).toBe(1);
    await audit.trim(5001 + 90 * DAY);
    expect(await audit.length()).toBe(0);
    // Without a time, it trims at the current one: a recent entry stays.
    await audit.append(entry());
    await audit.trim();
    expect(await audit.length()).toBe(1);
  });

  it('trims by age on every thousandth write, at the current time', async () => {
    const audit = new AuditLog(redis, prefix, { maxAgeMs: DAY });
    // Two days on, every entry written now is past the one-day cap once a trim runs.
    fixDate(Date.now() + 2 * DAY);
    for (let i = 0; i < 999; i++) await audit.append(entry());
    expect(await audit.length()).toBe(999);
    await audit.append(entry());
    expect(await audit.length()).toBe(0);
    await audit.append(entry());
    expect(await audit.length()).toBe(1);
  });
});

describe('listEntries and query', () => {
  it('lists newest first, 100 entries by default', async () => {
    const audit = new AuditLog(redis, prefix);
    await seed(audit.key, 150);
    const all = await audit.query();
    expect(all).toHaveLength(100);
    expect(all[0]!.subject).toBe('150');
    expect(all[99]!.subject).toBe('51');
    expect(await collect(audit.listEntries())).toEqual(all);
  });

  it('stops at the limit, exactly', async () => {
    const audit = new AuditLog(redis, prefix);
    await seed(audit.key, 10);
    expect(ids(await audit.query({ limit: 3 }))).toEqual(['10-0', '9-0', '8-0']);
    expect(ids(await audit.query({ limit: 1 }))).toEqual(['10-0']);
  });

  it('bounds the range by stream time, both ends inclusive to the millisecond', async () => {
    const audit = new AuditLog(redis, prefix);
    for (const id of ['1000-0', '1999-5', '2000-0', '2000-1', '3000-0', '3000-7', '3001-0', '4000-0']) await put(audit.key, id);
    expect(ids(await audit.query({ since: 2000 }))).toEqual(['4000-0', '3001-0', '3000-7', '3000-0', '2000-1', '2000-0']);
    expect(ids(await audit.query({ until: 3000 }))).toEqual(['3000-7', '3000-0', '2000-1', '2000-0', '1999-5', '1000-0']);
    expect(ids(await audit.query({ since: 2000, until: 3000 }))).toEqual(['3000-7', '3000-0', '2000-1', '2000-0']);
    expect(ids(await audit.query({ since: 3000, until: 3000 }))).toEqual(['3000-7', '3000-0']);
    expect(await audit.query({ since: 5000 })).toEqual([]);
  });

  it('filters by subject, target, status and operation, one value or several', async () => {
    const audit = new AuditLog(redis, prefix);
    await put(audit.key, '1-0', { subject: 'u1', target: 'crowd', status: 'failed', operation: 'create' });
    await put(audit.key, '2-0', { subject: 'u2', target: 'entra', status: 'succeeded', operation: 'update' });
    await put(audit.key, '3-0', { subject: 'u1', target: 'entra', status: 'skipped', operation: 'rename' });
    expect(ids(await audit.query({ subject: 'u1' }))).toEqual(['3-0', '1-0']);
    expect(ids(await audit.query({ target: 'entra' }))).toEqual(['3-0', '2-0']);
    expect(ids(await audit.query({ status: 'failed' }))).toEqual(['1-0']);
    expect(ids(await audit.query({ status: ['failed', 'skipped'] }))).toEqual(['3-0', '1-0']);
    expect(ids(await audit.query({ operation: 'update' }))).toEqual(['2-0']);
    expect(ids(await audit.query({ operation: ['create', 'rename'] }))).toEqual(['3-0', '1-0']);
    expect(ids(await audit.query({ subject: 'u1', target: 'entra' }))).toEqual(['3-0']);
    expect(await audit.query({ subject: 'nobody' })).toEqual([]);
  });

  it('pages through the stream 500 entries at a time, each entry once, until the stream ends', async () => {
    const audit = new AuditLog(redis, prefix);
    await seed(audit.key, 1000);
    const reads = jest.spyOn(redis, 'xrevrange');
    const all = await audit.query({ limit: 5000 });
    expect(all).toHaveLength(1000);
    expect(new Set(ids(all)).size).toBe(1000);
    expect([all[0]!.id, all[499]!.id, all[500]!.id, all[999]!.id]).toEqual(['1000-0', '501-0', '500-0', '1-0']);
    // Two full pages, then one read that comes back empty.
    expect(reads.mock.calls.map((c) => c.slice(1))).toEqual([['+', '-', 'COUNT', 500], ['(501-0', '-', 'COUNT', 500], ['(1-0', '-', 'COUNT', 500]]);
  });

  it('keeps reading pages for a filter until the limit is met, and no further', async () => {
    const audit = new AuditLog(redis, prefix);
    await seed(audit.key, 1200, (i) => ({ status: i % 4 === 0 ? 'failed' : 'succeeded' }));
    const reads = jest.spyOn(redis, 'xrevrange');
    const failed = await audit.query({ status: 'failed', limit: 200 });
    expect(failed).toHaveLength(200);
    expect([failed[0]!.id, failed[199]!.id]).toEqual(['1200-0', '404-0']);
    expect(reads).toHaveBeenCalledTimes(2);
    expect(await audit.query({ status: 'failed', limit: 1000 })).toHaveLength(300);
  });

  it('reads the time bounds as stream ids', async () => {
    const audit = new AuditLog(redis, prefix);
    const reads = jest.spyOn(redis, 'xrevrange');
    await audit.query({ since: 2000, until: 3000 });
    expect(reads.mock.calls.map((c) => c.slice(1))).toEqual([[`3000-${Number.MAX_SAFE_INTEGER}`, '2000-0', 'COUNT', 500]]);
  });

  it('reads nothing from an empty log', async () => {
    const audit = new AuditLog(redis, prefix);
    expect(await audit.query()).toEqual([]);
    expect(await audit.length()).toBe(0);
  });
});

describe('pages', () => {
  it('yields the range oldest first, a page at a time, with entries scanned and the last id', async () => {
    const audit = new AuditLog(redis, prefix);
    await seed(audit.key, 7, (i) => ({ status: i % 2 ? 'failed' : 'succeeded' }));
    const reads = jest.spyOn(redis, 'xrange');
    const pages = await collect(audit.pages({ status: 'failed' }, { pageSize: 3 }));
    expect(pages.map((p) => [ids(p.entries), p.scanned, p.lastId])).toEqual([
      [['1-0', '3-0'], 3, '3-0'],
      [['5-0'], 3, '6-0'],
      [['7-0'], 1, '7-0'],
    ]);
    // A short page is the last: no read after it.
    expect(reads).toHaveBeenCalledTimes(3);
  });

  it('ends without an empty page when the range fills the last page exactly, and yields nothing for an empty range', async () => {
    const audit = new AuditLog(redis, prefix);
    await seed(audit.key, 6);
    const reads = jest.spyOn(redis, 'xrange');
    const pages = await collect(audit.pages({}, { pageSize: 3 }));
    expect(pages.map((p) => p.lastId)).toEqual(['3-0', '6-0']);
    expect(reads.mock.calls.map((c) => c.slice(1))).toEqual([['-', '+', 'COUNT', 3], ['(3-0', '+', 'COUNT', 3], ['(6-0', '+', 'COUNT', 3]]);
    expect(await collect(audit.pages({ since: 100 }))).toEqual([]);
  });

  it('bounds the range inclusively and reads 500 entries a page by default', async () => {
    const audit = new AuditLog(redis, prefix);
    await seed(audit.key, 700);
    const bounded = await collect(audit.pages({ since: 200, until: 699 }));
    expect(bounded.map((p) => [p.scanned, p.entries[0]!.id, p.lastId])).toEqual([[500, '200-0', '699-0']]);
    const all = await collect(audit.pages());
    expect(all.map((p) => [p.scanned, p.entries.length, p.lastId])).toEqual([[500, 500, '500-0'], [200, 200, '700-0']]);
  });
});

describe('auditMatcher', () => {
  const e = entry({ subject: 'u1', target: 'entra', status: 'failed', operation: 'create' });

  it('matches everything without filters', () => {
    expect(auditMatcher({})(e)).toBe(true);
  });

  it('requires every given filter to match', () => {
    const cases: [Parameters<typeof auditMatcher>[0], boolean][] = [
      [{ subject: 'u1' }, true], [{ subject: 'u2' }, false],
      [{ target: 'entra' }, true], [{ target: 'crowd' }, false],
      [{ status: 'failed' }, true], [{ status: 'succeeded' }, false], [{ status: ['succeeded', 'failed'] }, true], [{ status: [] }, false],
      [{ operation: 'create' }, true], [{ operation: 'update' }, false], [{ operation: ['update', 'create'] }, true], [{ operation: [] }, false],
      [{ subject: 'u1', target: 'entra', status: 'failed', operation: 'create' }, true],
      [{ subject: 'u1', target: 'crowd' }, false], [{ subject: 'u2', target: 'entra' }, false],
      [{ status: 'failed', operation: 'update' }, false], [{ status: 'retrying', operation: 'create' }, false],
    ];
    for (const [query, matches] of cases) expect([query, auditMatcher(query)(e)]).toEqual([query, matches]);
  });
});

describe('decodeAuditEntry', () => {
  it('decodes every field, numbers as numbers and the changed attributes as a list', () => {
    const flat = ['time', '1700', 'target', 'entra', 'operation', 'delete', 'resource', 'user', 'subject', 's', 'status', 'retrying',
      'attempt', '3', 'durationMs', '45', 'error', 'e', 'jobId', 'j', 'changedAttributes', 'a,b'];
    expect(decodeAuditEntry('9-1', flat)).toStrictEqual({
      id: '9-1', time: 1700, target: 'entra', operation: 'delete', resource: 'user', subject: 's', status: 'retrying',
      attempt: 3, durationMs: 45, error: 'e', jobId: 'j', changedAttributes: ['a', 'b'],
    });
  });

  it('fills missing fields with empty values, a failed status and zero counts, and leaves optional ones out', () => {
    expect(decodeAuditEntry('1-0', ['time', '5'])).toStrictEqual({
      id: '1-0', time: 5, target: '', operation: '', resource: '', subject: '', status: 'failed', attempt: 0, durationMs: 0,
    });
    expect(decodeAuditEntry('1-0', ['error', '', 'changedAttributes', ''])).toMatchObject({ error: '', changedAttributes: [''] });
  });

  it('ignores a trailing name without a value', () => {
    expect(decodeAuditEntry('1-0', ['time', '5', 'target', 'crowd', 'target'])).toMatchObject({ target: 'crowd' });
  });
});

describe('statuses', () => {
  it('are the outcomes an attempt can have', () => {
    expect(AUDIT_STATUSES).toEqual(['succeeded', 'skipped', 'retrying', 'throttled', 'failed', 'quarantined']);
  });
});
