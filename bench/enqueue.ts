import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createSyncClient } from '../producers/client.js';
import { standardJobOptions } from '../producers/retention.js';
import { printTable } from './report.js';

/**
 * Enqueue throughput of the client library divided by raw BullMQ on the same Redis in
 * the same run: `userChanged` vs `queue.add`, `userChangedMany` vs `queue.addBulk`.
 * The client does more per job (validation, a version, a deduplication key), so the
 * ratio is the cost of that contract. Rounds alternate to spread machine noise evenly.
 */
export async function benchEnqueue(options: { redisUrl: string; single?: number; bulk?: number; rounds?: number }) {
  const single = options.single ?? 10_000;
  const bulk = options.bulk ?? 50_000;
  const rounds = options.rounds ?? 3;
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const prefixes: string[] = [];
  const fresh = (label: string) => {
    const p = `{bench-${label}-${Date.now().toString(36)}-${prefixes.length}}`;
    prefixes.push(p);
    return p;
  };
  const user = (i: number) => ({ id: `user-${i}`, username: `user${i}`, email: `user${i}@example.com`, firstName: 'Bench', lastName: `User ${i}`, active: true, version: 1 });
  const rawData = (i: number) => ({ schemaVersion: 1, enqueuedAt: Date.now(), op: 'upsert', user: user(i) });
  const opts = standardJobOptions(8, 1000);

  const best = { add: 0, addDedup: 0, userChanged: 0, addBulk: 0, addBulkDedup: 0, userChangedMany: 0 };
  const dedup = (i: number) => ({ ...opts, deduplication: { id: `push-user-user-${i}`, keepLastIfActive: true } });
  const time = async (fn: () => Promise<void>, n: number) => {
    const t = process.hrtime.bigint();
    await fn();
    return n / (Number(process.hrtime.bigint() - t) / 1e9);
  };

  for (let r = 0; r < rounds; r++) {
    const q = new Queue('crowd', { connection: redis, prefix: fresh('raw') });
    best.add = Math.max(best.add, await time(async () => { for (let i = 0; i < single; i++) await q.add('push-user', rawData(i), opts); }, single));
    best.addBulk = Math.max(best.addBulk, await time(async () => {
      for (let i = 0; i < bulk; i += 1000) await q.addBulk(Array.from({ length: Math.min(1000, bulk - i) }, (_, j) => ({ name: 'push-user', data: rawData(i + j), opts })));
    }, bulk));
    await q.close();
    const qd = new Queue('crowd', { connection: redis, prefix: fresh('raw-dedup') });
    best.addDedup = Math.max(best.addDedup, await time(async () => { for (let i = 0; i < single; i++) await qd.add('push-user', rawData(i), dedup(i)); }, single));
    best.addBulkDedup = Math.max(best.addBulkDedup, await time(async () => {
      for (let i = 0; i < bulk; i += 1000) await qd.addBulk(Array.from({ length: Math.min(1000, bulk - i) }, (_, j) => ({ name: 'push-user', data: rawData(i + j), opts: dedup(i + j) })));
    }, bulk));
    await qd.close();

    const client = createSyncClient({ connection: redis, prefix: fresh('client'), targets: ['crowd'] });
    best.userChanged = Math.max(best.userChanged, await time(async () => { for (let i = 0; i < single; i++) await client.userChanged(user(i)); }, single));
    const users = Array.from({ length: bulk }, (_, i) => user(i + single));
    best.userChangedMany = Math.max(best.userChangedMany, await time(() => client.userChangedMany(users).then(() => undefined), bulk));
    await client.close();
  }

  for (const p of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  await redis.quit();

  printTable(`enqueue (best of ${rounds} rounds; ${single.toLocaleString()} sequential, ${bulk.toLocaleString()} bulk in chunks of 1,000)`, [
    { name: 'client.userChanged vs queue.add', value: best.userChanged, unit: 'jobs/s', baseline: best.add, goal: 0.85 },
    { name: 'client.userChangedMany vs queue.addBulk', value: best.userChangedMany, unit: 'jobs/s', baseline: best.addBulk, goal: 0.85 },
    { name: 'client.userChanged vs queue.add + same deduplication', value: best.userChanged, unit: 'jobs/s', baseline: best.addDedup, note: 'idsync overhead alone' },
    { name: 'client.userChangedMany vs queue.addBulk + same deduplication', value: best.userChangedMany, unit: 'jobs/s', baseline: best.addBulkDedup, note: 'idsync overhead alone' },
  ]);
  return best;
}
