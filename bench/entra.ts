import { Redis } from 'ioredis';
import { entraEnv, type EntraConnectionInfo, type EntraStatsSnapshot, type SeedInput } from '../emulators/entra/index.js';
import { loadConfig, type EntraConfig } from '../shared/config.js';
import { createEntraConnector, type EntraConnector } from '../workers/entra/index.js';
import { printTable } from './report.js';
import { deletePrefix, startEmulatorThread, startPipeline, stopwatch } from './support.js';

export interface BenchEntraOptions {
  redisUrl: string;
  /**
   * The emulator's time scale: Graph's real quota of 3,000 writes per 150 s per app+tenant
   * becomes 3,000 / (150 × timeScale) writes/s. @defaultValue 0.05 (400 writes/s)
   */
  timeScale?: number;
  /** How long the write run should take at the allowed rate. @defaultValue 20 */
  writeSeconds?: number;
  /** Worker concurrency in the write run. @defaultValue 50 */
  concurrency?: number;
  /** Users in the full-pull run. @defaultValue 100000 */
  pullUsers?: number;
}

/** The emulator's controls, driven through its admin endpoint on its own thread. */
interface Emulator {
  info: EntraConnectionInfo;
  seed(input: SeedInput): Promise<void>;
  reset(): Promise<void>;
  stats(): Promise<EntraStatsSnapshot>;
  close(): Promise<void>;
}

const GRAPH_WRITES = 3000;
const GRAPH_WINDOW_SECONDS = 150;

/**
 * (1) Write throughput against the emulator's real write quota, time-scaled: a backlog of new
 * users enqueued through the client library, then released to a real TargetWorker and the
 * Entra connector (each user one `POST /users` item in a `$batch`, under the Redis write
 * budget set to the allowed rate); achieved writes/s ÷ allowed from release to the last
 * completion, 429s as a share of Graph operations, failed jobs.
 * (2) A full pull of a large tenant: `listUsers()` (`$select`, `$top=999`) and a delta
 * round 1 (the full re-sync), requests issued and seconds.
 */
export async function benchEntra(options: BenchEntraOptions) {
  const scale = options.timeScale ?? 0.05;
  const allowed = GRAPH_WRITES / (GRAPH_WINDOW_SECONDS * scale);
  const writeUsers = Math.round(allowed * (options.writeSeconds ?? 20));
  const concurrency = options.concurrency ?? 50;
  const pullUsers = options.pullUsers ?? 100_000;
  const em = await threadEmulator(scale);
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const prefixes: string[] = [];
  try {
    const write = await writeRun(em, redis, options.redisUrl, prefixes, { users: writeUsers, concurrency, writesPerSecond: allowed });
    await em.reset();
    await em.seed({ generateUsers: { count: pullUsers } });
    const pull = await pullRun(em, redis, prefixes, allowed);

    const operations = write.stats.graphRequests - write.stats.batchRequests + write.stats.batchItems;
    const pct429 = (100 * write.stats.throttled) / Math.max(1, operations);
    printTable(
      `Entra write throughput (Graph's ${GRAPH_WRITES.toLocaleString('en-US')} writes / ${GRAPH_WINDOW_SECONDS} s at timeScale ${scale} = ${allowed} writes/s allowed; ${writeUsers.toLocaleString('en-US')} new users, concurrency ${concurrency}, writesPerSecond ${allowed})`,
      [
        { name: 'achieved writes/s vs the allowed rate', value: write.stats.writes / write.seconds, unit: 'writes/s', baseline: allowed, goal: 0.95 },
        { name: '429 responses, % of Graph operations', value: pct429, unit: '%', goal: 1, goalAtMost: true, note: `${write.stats.throttled} of ${operations.toLocaleString('en-US')}` },
        { name: 'failed jobs', value: write.failed, unit: 'jobs', goal: 0, goalAtMost: true },
        { name: 'writes per $batch request', value: write.stats.batchItems / Math.max(1, write.stats.batchRequests), unit: 'items', note: `${write.stats.batchRequests.toLocaleString('en-US')} batches for ${write.stats.batchItems.toLocaleString('en-US')} items` },
      ],
    );
    printTable(`Entra full pull (${pullUsers.toLocaleString('en-US')} users)`, [
      { name: 'listUsers ($select, $top=999): Graph requests', value: pull.list.requests, unit: 'requests', note: `${pull.list.users.toLocaleString('en-US')} users` },
      { name: 'listUsers: time', value: pull.list.seconds, unit: 's', note: `${Math.round(pull.list.users / pull.list.seconds).toLocaleString('en-US')} users/s` },
      { name: 'delta round 1 (full re-sync, Prefer: odata.maxpagesize=999): Graph requests', value: pull.delta.requests, unit: 'requests', note: `${pull.delta.users.toLocaleString('en-US')} users` },
      { name: 'delta round 1: time', value: pull.delta.seconds, unit: 's', note: `${Math.round(pull.delta.users / pull.delta.seconds).toLocaleString('en-US')} users/s` },
    ]);
    return {
      allowedWritesPerSecond: allowed,
      achievedWritesPerSecond: write.stats.writes / write.seconds,
      throttledPercent: pct429,
      failedJobs: write.failed,
      pull: pull.list,
      deltaPull: pull.delta,
    };
  } finally {
    for (const p of prefixes) await deletePrefix(redis, p);
    await redis.quit();
    await em.close();
  }
}

function entraConfig(em: Emulator, writesPerSecond: number): EntraConfig {
  return { ...loadConfig(entraEnv(em.info)).entra!, concurrency: 50, writesPerSecond };
}

async function writeRun(
  em: Emulator,
  redis: Redis,
  redisUrl: string,
  prefixes: string[],
  run: { users: number; concurrency: number; writesPerSecond: number },
): Promise<{ seconds: number; failed: number; stats: EntraStatsSnapshot }> {
  const prefix = `{bench-entra-write-${Date.now().toString(36)}}`;
  prefixes.push(prefix);
  const connector = await createEntraConnector(entraConfig(em, run.writesPerSecond), { redis, prefix });
  const { worker, client, settled, close } = await startPipeline('entra', connector, { redis, redisUrl, prefix, concurrency: run.concurrency });
  try {
    // One token and the tenant's domain before the clock starts, as a running worker has them.
    await connector.probe({});
    const done = settled(run.users);
    const users = Array.from({ length: run.users }, (_, i) => ({
      id: `bench-${i}`,
      username: `bench${i}`,
      email: `bench${i}@example.com`,
      firstName: 'Bench',
      lastName: `User ${i}`,
    }));
    // A backlog first, then the clock: this measures how much of the quota the worker uses
    // while there is work, not how fast the client enqueues (bench/enqueue.ts does that).
    await worker.queue.pause();
    await client.userChangedMany(users);
    const before = await em.stats();
    const elapsed = stopwatch();
    await worker.queue.resume();
    const { failed } = await done;
    const seconds = elapsed();
    const after = await em.stats();
    return { seconds, failed, stats: diffStats(after, before) };
  } finally {
    await close();
  }
}

async function pullRun(em: Emulator, redis: Redis, prefixes: string[], writesPerSecond: number) {
  const prefix = `{bench-entra-pull-${Date.now().toString(36)}}`;
  prefixes.push(prefix);
  const connector = await createEntraConnector(entraConfig(em, writesPerSecond), { redis, prefix });
  try {
    await connector.probe({});
    const measure = async (pull: (c: EntraConnector) => AsyncIterable<unknown>, count: (item: unknown) => boolean) => {
      const before = await em.stats();
      const elapsed = stopwatch();
      let users = 0;
      for await (const item of pull(connector)) if (count(item)) users++;
      const seconds = elapsed();
      return { users, seconds, requests: (await em.stats()).graphRequests - before.graphRequests };
    };
    const list = await measure((c) => c.listUsers(), () => true);
    const delta = await measure((c) => c.listUsersDelta(), (item) => (item as { type: string }).type === 'upsert');
    return { list, delta };
  } finally {
    await connector.close();
  }
}

function diffStats(after: EntraStatsSnapshot, before: EntraStatsSnapshot): EntraStatsSnapshot {
  const out = { ...after };
  for (const k of ['requests', 'graphRequests', 'batchRequests', 'batchItems', 'throttled', 'writes', 'resourceUnits', 'faultsInjected', 'tokenRequests', 'tokensIssued'] as const) {
    out[k] = after[k] - before[k];
  }
  return out;
}

/** The emulator on a worker thread, driven through its admin endpoint. */
async function threadEmulator(timeScale: number): Promise<Emulator> {
  const em = await startEmulatorThread<EntraConnectionInfo>(new URL('../emulators/entra/index.js', import.meta.url).href, 'startEntraEmulator', { port: 0, timeScale });
  return {
    info: em.info,
    seed: async (input) => void (await em.admin('POST', '/seed', input)),
    reset: async () => void (await em.admin('POST', '/reset')),
    stats: () => em.admin('GET', '/stats'),
    close: () => em.close(),
  };
}
