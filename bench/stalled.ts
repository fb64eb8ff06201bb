import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { crowdEnv, type CrowdConnectionInfo, type CrowdEmulatorStats } from '../emulators/crowd/index.js';
import { createSyncClient } from '../producers/client.js';
import { QUEUES } from '../shared/jobs.js';
import { printTable, type Row } from './report.js';
import { deletePrefix, startEmulatorThread, stopwatch, type EmulatorThread } from './support.js';

export interface BenchStalledOptions {
  redisUrl: string;
  /** Users pushed in each run. @defaultValue 2000 */
  users?: number;
  /** Share of the users on Crowd when the worker is killed. @defaultValue 0.25 */
  killAt?: number;
}

/** Lock and stall-check settings compared: BullMQ's own, idsync's defaults, and a short one. */
const SETTINGS = [
  { name: 'BullMQ defaults (lock 30 s, check 30 s)', lockMs: 30_000, checkMs: 30_000 },
  { name: 'idsync defaults (lock 15 s, check 5 s)', lockMs: 15_000, checkMs: 5_000 },
  { name: 'short (lock 2 s, check 0.5 s)', lockMs: 2_000, checkMs: 500 },
];

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Drain time after a `kill -9`: N users pushed to Crowd through `idsync worker crowd` in a
 * process of its own; once a quarter of them exist, the process is killed and a new one
 * started at once. The jobs the dead process held run again only when their lock has expired
 * and a stall check has seen it. Baseline: the same N users with no crash.
 */
export async function benchStalled(options: BenchStalledOptions) {
  const users = options.users ?? 2000;
  const killAt = options.killAt ?? 0.25;
  const em = await startEmulatorThread<CrowdConnectionInfo>(new URL('../emulators/crowd/index.js', import.meta.url).href, 'startCrowdEmulator');
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  try {
    // A warm-up run, so the first measurement does not pay for compiling the worker's modules.
    await run(em, redis, options.redisUrl, Math.min(users, 200), undefined);
    const baseline = await run(em, redis, options.redisUrl, users, undefined);
    const rows: Row[] = [{ name: `no crash: ${users.toLocaleString('en-US')} pushes, enqueue → drained`, value: baseline.totalS, unit: 's' }];
    for (const s of SETTINGS) {
      const r = await run(em, redis, options.redisUrl, users, { ...s, killAt });
      rows.push({
        name: `kill -9 at ${Math.round(killAt * 100)} %, restart, ${s.name}: enqueue → drained`,
        value: r.totalS,
        unit: 's',
        baseline: baseline.totalS,
        note: `kill → drained ${r.afterKillS!.toFixed(1)} s; kill → ${r.stalled} stalled jobs back in the queue ${r.requeuedS!.toFixed(1)} s (bound: lock + check ${((s.lockMs + s.checkMs) / 1000).toFixed(1)} s); new process up after ${r.restartS!.toFixed(1)} s`,
      });
    }
    printTable(`Drain time after kill -9 of a worker (Crowd, ${users.toLocaleString('en-US')} users; lower is better)`, rows);
    return rows;
  } finally {
    await redis.quit();
    await em.close();
  }
}

interface Crash {
  lockMs: number;
  checkMs: number;
  killAt: number;
}

async function run(em: EmulatorThread<CrowdConnectionInfo>, redis: Redis, redisUrl: string, users: number, crash: Crash | undefined) {
  await em.admin('POST', '/reset');
  const prefix = `{bench-stalled-${randomUUID().slice(0, 8)}}`;
  const env = {
    REDIS_URL: redisUrl,
    IDSYNC_PREFIX: prefix,
    IDSYNC_BACKOFF_MS: '100',
    ...crowdEnv(em.info),
    ...(crash && { IDSYNC_LOCK_DURATION_MS: String(crash.lockMs), IDSYNC_STALLED_INTERVAL_MS: String(crash.checkMs) }),
  };
  const queue = new Queue(QUEUES.crowd, { connection: redis, prefix });
  const events = new QueueEvents(QUEUES.crowd, { connection: { url: redisUrl }, prefix, lastEventId: '0-0' });
  let stalled = 0;
  let lastStalledAt = 0;
  events.on('stalled', () => {
    stalled++;
    lastStalledAt = Date.now();
  });
  const client = createSyncClient({ redisUrl, prefix, targets: ['crowd'], attempts: 8, backoffMs: 100 });
  const workers: WorkerProcess[] = [];
  try {
    await events.waitUntilReady();
    workers.push(await startWorker(env));
    const list = Array.from({ length: users }, (_, i) => ({ id: `u${i}`, username: `stall${i}`, email: `stall${i}@example.com`, firstName: 'F', lastName: `L${i}` }));
    const clock = stopwatch();
    await client.userChangedMany(list);
    let afterKillS: number | undefined;
    let restartS: number | undefined;
    let requeuedS: number | undefined;
    if (crash) {
      await until(async () => ((await em.admin('GET', '/stats')) as CrowdEmulatorStats).users >= users * crash.killAt);
      const killedAt = clock();
      const killedAtMs = Date.now();
      await workers[0]!.kill9();
      workers.push(await startWorker(env));
      restartS = clock() - killedAt;
      await drained(queue);
      afterKillS = clock() - killedAt;
      requeuedS = (lastStalledAt - killedAtMs) / 1000;
    } else {
      await drained(queue);
    }
    const totalS = clock();
    const created = ((await em.admin('GET', '/stats')) as CrowdEmulatorStats).users;
    const failed = await queue.getFailedCount();
    if (created !== users || failed) throw new Error(`stalled bench: ${created}/${users} users created, ${failed} jobs failed`);
    return { totalS, afterKillS, restartS, requeuedS, stalled };
  } finally {
    await client.close();
    for (const w of workers) await w.kill9();
    await events.close();
    await queue.close();
    await deletePrefix(redis, prefix);
  }
}

/** No cross-process "all done" event exists: the counts are polled (20 ms, well below the figures). */
async function drained(queue: Queue): Promise<void> {
  await until(async () => Object.values(await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized')).every((n) => n === 0));
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

interface WorkerProcess {
  kill9(): Promise<void>;
}

/** `idsync worker crowd` from source, configured by `env` only; resolves once it runs. */
async function startWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CROWD|ENTRA|GRAPH|APP|IDSYNC|SYNC|REDIS)_/.test(k)));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/idsync.ts', 'worker', 'crowd'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...inherited, IDSYNC_LOG_FORMAT: 'json', IDSYNC_LOG_LEVEL: 'info', IDSYNC_HEALTH_PORT: '0', ...env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    // Read to the end: a full pipe would stall the worker.
    createInterface({ input: child.stdout! }).on('line', (line) => line.includes('"idsync workers running"') && resolve());
    void exited.then(() => reject(new Error('idsync worker exited before it was running')));
  });
  return {
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
