import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { auditTailCommand } from '../../cli/audit.js';
import { compareIds, tailAudit } from '../../operators/audit-tail.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { captureIO, entry } from './audit-seed.js';

describe('audit tail', () => {
  let redis: Redis;
  let prefix: string;
  let audit: AuditLog;

  beforeEach(() => {
    redis = workerRedis();
    prefix = uniquePrefix('tail');
    audit = new AuditLog(redis, prefix);
  });

  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('yields the latest entries oldest first, then follows an entry appended after it started, until aborted', async () => {
    for (const subject of ['a', 'b', 'c']) await audit.append(entry({ subject }));
    const stop = new AbortController();
    const tail = tailAudit(audit, redis, { count: 2, follow: true, signal: stop.signal, blockMs: 60_000 });
    expect((await tail.next()).value).toMatchObject({ subject: 'b' });
    expect((await tail.next()).value).toMatchObject({ subject: 'c' });

    // The tail is now between its listing and its first XREAD (or blocked in it): either way it sees d.
    const next = tail.next();
    const id = await audit.append(entry({ subject: 'd', status: 'failed', error: 'boom' }));
    expect((await next).value).toMatchObject({ id, subject: 'd', status: 'failed', error: 'boom' });

    // Aborting ends a read blocked for a minute at once.
    const end = tail.next();
    stop.abort();
    expect(await end).toEqual({ done: true, value: undefined });
  });

  it('applies the filters to the latest entries and to followed ones; an empty log follows from the start', async () => {
    const stop = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of tailAudit(audit, redis, { follow: true, signal: stop.signal, filters: { status: 'failed' } })) {
        seen.push(e.subject);
        if (e.subject === 'wanted') stop.abort();
      }
    })();
    await audit.append(entry({ subject: 'ignored', status: 'succeeded' }));
    await audit.append(entry({ subject: 'wanted', status: 'failed' }));
    await done;
    expect(seen).toEqual(['wanted']);
  });

  it('idsync audit tail -f --json prints one object per line, and exits 0 on Ctrl-C', async () => {
    await audit.append(entry({ subject: 'old' }));
    const io = captureIO();
    const stop = new AbortController();
    const run = auditTailCommand({ follow: true, json: true, signal: stop.signal }, { REDIS_URL, IDSYNC_PREFIX: prefix }, io);
    await io.until(/"subject":"old"/);
    await audit.append(entry({ subject: 'new', operation: 'rename' }));
    await io.until(/"subject":"new"/);
    stop.abort();
    expect(await run).toBe(0);
    expect(io.out().trim().split('\n').map((l) => JSON.parse(l).subject)).toEqual(['old', 'new']);
  });

  it('orders stream ids numerically, not as text', () => {
    expect(compareIds('999-5', '1000-0')).toBeLessThan(0);
    expect(compareIds('1000-10', '1000-9')).toBeGreaterThan(0);
    expect(compareIds('1000-1', '1000-1')).toBe(0);
  });
});
