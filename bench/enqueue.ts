import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createSyncClient, type SyncClient } from '../producers/client.js';
import { standardJobOptions } from '../producers/retention.js';
import { printTable } from './report.js';
import { deletePrefix, stopwatch } from './support.js';

/**
 * Enqueue throughput of the client library divided by raw BullMQ on the same Redis in
 * the same run: `userChanged` vs `queue.add`, `userChangedMany` vs `queue.addBulk`.
 * The client does more per job (validation, a version, a deduplication key), so the
 * ratio is the cost of that contract. Each contender starts from an empty prefix and the
 * order rotates per round, so neither side pays for the other's keys or always runs last.
 */
export async function benchEnqueue(options: { redisUrl: string; single?: number; bulk?: number; rounds?: number }) {
  const single = options.single ?? 10_000;
  const bulk = options.bulk ?? 50_000;
  const rounds = options.rounds ?? 5;
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  let n = 0;
  const fresh = (label: string) => `{bench-${label}-${Date.now().toString(36)}-${n++}}`;
  const user = (i: number) => ({ id: `user-${i}`, username: `user${i}`, email: `user${i}@example.com`, firstName: 'Bench', lastName: `User ${i}`, active: true, version: 1 });
  const rawData = (i: number) => ({ schemaVersion: 1, enqueuedAt: Date.now(), op: 'upsert', user: user(i) });
  const opts = standardJobOptions(8, 1000);
  const dedup = (i: number) => ({ ...opts, deduplication: { id: `push-user-user-${i}`, keepLastIfActive: true } });
  const chunks = (fn: (from: number, size: number) => Promise<unknown>) => async () => {
    for (let i = 0; i < bulk; i += 1000) await fn(i, Math.min(1000, bulk - i));
  };

  // Each measurement gets an empty prefix, deleted again before the next one starts, so no
  // contender pays for the keys another left behind; the order rotates every round.
  type Contender = 'add' | 'addDedup' | 'userChanged' | 'addBulk' | 'addBulkDedup' | 'userChangedMany';
  const runs: Record<Contender, { jobs: number; run(prefix: string): Promise<void> }> = {
    add: { jobs: single, run: (prefix) => withQueue(prefix, async (q) => { for (let i = 0; i < single; i++) await q.add('push-user', rawData(i), opts); }) },
    addDedup: { jobs: single, run: (prefix) => withQueue(prefix, async (q) => { for (let i = 0; i < single; i++) await q.add('push-user', rawData(i), dedup(i)); }) },
    addBulk: { jobs: bulk, run: (prefix) => withQueue(prefix, (q) => chunks((from, size) => q.addBulk(Array.from({ length: size }, (_, j) => ({ name: 'push-user', data: rawData(from + j), opts }))))()) },
    addBulkDedup: { jobs: bulk, run: (prefix) => withQueue(prefix, (q) => chunks((from, size) => q.addBulk(Array.from({ length: size }, (_, j) => ({ name: 'push-user', data: rawData(from + j), opts: dedup(from + j) }))))()) },
    userChanged: { jobs: single, run: (prefix) => withClient(prefix, async (c) => { for (let i = 0; i < single; i++) await c.userChanged(user(i)); }) },
    userChangedMany: { jobs: bulk, run: (prefix) => withClient(prefix, (c) => c.userChangedMany(Array.from({ length: bulk }, (_, i) => user(i))).then(() => undefined)) },
  };
  async function withQueue(prefix: string, fn: (q: Queue) => Promise<void>): Promise<void> {
    const q = new Queue('crowd', { connection: redis, prefix });
    await q.waitUntilReady();
    try { await fn(q); } finally { await q.close(); }
  }
  async function withClient(prefix: string, fn: (c: SyncClient) => Promise<void>): Promise<void> {
    const client = createSyncClient({ connection: redis, prefix, targets: ['crowd'] });
    try { await fn(client); } finally { await client.close(); }
  }

  const best = { add: 0, addDedup: 0, userChanged: 0, addBulk: 0, addBulkDedup: 0, userChangedMany: 0 };
  const order = Object.keys(runs) as Contender[];
  for (let r = 0; r < rounds; r++) {
    for (const name of [...order.slice(r % order.length), ...order.slice(0, r % order.length)]) {
      const prefix = fresh(name);
      const elapsed = stopwatch();
      await runs[name].run(prefix);
      best[name] = Math.max(best[name], runs[name].jobs / elapsed());
      await deletePrefix(redis, prefix);
    }
  }
  await redis.quit();

  printTable(`enqueue (best of ${rounds} rounds, order rotated; ${single.toLocaleString()} sequential, ${bulk.toLocaleString()} bulk in chunks of 1,000)`, [
    { name: 'client.userChanged vs queue.add', value: best.userChanged, unit: 'jobs/s', baseline: best.add, goal: 0.85 },
    { name: 'client.userChangedMany vs queue.addBulk', value: best.userChangedMany, unit: 'jobs/s', baseline: best.addBulk, goal: 0.85 },
    { name: 'client.userChanged vs queue.add + same deduplication', value: best.userChanged, unit: 'jobs/s', baseline: best.addDedup, goal: 0.95, note: 'idsync overhead alone' },
    { name: 'client.userChangedMany vs queue.addBulk + same deduplication', value: best.userChangedMany, unit: 'jobs/s', baseline: best.addBulkDedup, goal: 0.95, note: 'idsync overhead alone' },
  ]);
  return best;
}
