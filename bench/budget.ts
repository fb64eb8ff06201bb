import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { crowdEnv, type CrowdConnectionInfo, type CrowdEmulatorStats } from '../emulators/crowd/index.js';
import { createSyncClient } from '../producers/client.js';
import { QUEUES } from '../shared/jobs.js';
import { printTable } from './report.js';
import { deletePrefix, startEmulatorProcess, stopwatch, type EmulatorThread } from './support.js';

export interface BenchBudgetOptions {
  redisUrl: string;
  /** CROWD_REQUESTS_PER_SECOND of both processes, and Crowd's own limit. @defaultValue 100 */
  perSecond?: number;
  /** How long the saturated run should take at the budget. @defaultValue 20 */
  seconds?: number;
  /** Worker processes sharing the budget. @defaultValue 2 */
  processes?: number;
  /** CROWD_REQUESTS_MARGIN_MS of the processes. @defaultValue the configuration's default */
  marginMs?: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Requests per new user: the create. */
const REQUESTS_PER_USER = 1;

/**
 * The shared request budget across processes: N `idsync worker crowd` processes on one
 * CROWD_REQUESTS_PER_SECOND, against a Crowd (its own process) whose token bucket allows
 * exactly that many requests per second, saturated by a backlog of new users. Achieved
 * requests/s ÷ the budget, the busiest sliding second as Crowd saw it, 429s and failures.
 * A first run of the same processes with no budget and no limit gives this machine's
 * ceiling: below the budget, the use figure measures the machine, not the budget.
 */
export async function benchBudget(options: BenchBudgetOptions) {
  const perSecond = options.perSecond ?? 100;
  const processes = options.processes ?? 2;
  const users = Math.round((perSecond * (options.seconds ?? 20)) / REQUESTS_PER_USER);
  const em = await startEmulatorProcess<CrowdConnectionInfo>(new URL('../emulators/crowd/index.js', import.meta.url).href, 'startCrowdEmulator');
  try {
    const ceiling = await run(em, options.redisUrl, { processes, users: Math.round(users / 2), label: 'ceiling' });
    await em.admin('POST', '/reset');
    await em.admin('POST', '/faults', { rateLimitPerSecond: perSecond });
    const budgeted = await run(em, options.redisUrl, { processes, users, label: 'budget', perSecond, marginMs: options.marginMs });
    const margin = options.marginMs === undefined ? '' : `, CROWD_REQUESTS_MARGIN_MS ${options.marginMs}`;
    printTable(`Request budget shared by ${processes} worker processes (CROWD_REQUESTS_PER_SECOND ${perSecond} = Crowd's limit${margin}, ${users.toLocaleString('en-US')} new users, ${budgeted.requests.toLocaleString('en-US')} requests)`, [
      { name: 'achieved requests/s vs the budget', value: budgeted.achieved, unit: 'requests/s', baseline: perSecond, goal: 0.95, note: `the same processes with no budget: ${Math.round(ceiling.achieved)} requests/s` },
      { name: 'most requests in any sliding second at Crowd vs the budget', value: budgeted.busiestSecond, unit: 'requests', baseline: perSecond, goal: 1, goalAtMost: true },
      { name: '429 responses from Crowd', value: budgeted.throttled, unit: '', goal: 0, goalAtMost: true },
      { name: 'failed jobs', value: budgeted.failed, unit: '', goal: 0, goalAtMost: true },
    ]);
    return { budgetUse: budgeted.achieved / perSecond, ceiling: ceiling.achieved, busiestSecond: budgeted.busiestSecond, throttled: budgeted.throttled, failed: budgeted.failed };
  } finally {
    await em.close();
  }
}

interface RunResult {
  achieved: number;
  requests: number;
  busiestSecond: number;
  throttled: number;
  failed: number;
}

/** Starts the worker processes, then pushes `users` new users and times them to the last job. */
async function run(
  em: EmulatorThread<CrowdConnectionInfo>,
  redisUrl: string,
  options: { processes: number; users: number; label: string; perSecond?: number; marginMs?: number | undefined },
): Promise<RunResult> {
  const prefix = `{bench-budget-${options.label}-${Date.now().toString(36)}}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const events = new QueueEvents(QUEUES.crowd, { connection: { url: redisUrl }, prefix, lastEventId: '0-0' });
  const client = createSyncClient({ redisUrl, prefix, targets: ['crowd'], attempts: 8, backoffMs: 100 });
  const workers: (() => Promise<void>)[] = [];
  try {
    const env: Record<string, string> = { ...crowdEnv(em.info), REDIS_URL: redisUrl, IDSYNC_PREFIX: prefix, CROWD_CONCURRENCY: '20' };
    if (options.perSecond) env.CROWD_REQUESTS_PER_SECOND = String(options.perSecond);
    if (options.marginMs !== undefined) env.CROWD_REQUESTS_MARGIN_MS = String(options.marginMs);
    for (let i = 0; i < options.processes; i++) workers.push(await startCrowdWorker(env));
    await events.waitUntilReady();
    let completed = 0;
    let failed = 0;
    const settled = new Promise<void>((resolve) => {
      const settle = () => completed + failed >= options.users && resolve();
      events.on('completed', () => { completed++; settle(); });
      events.on('failed', () => { failed++; settle(); });
    });
    const elapsed = stopwatch();
    await client.userChangedMany(Array.from({ length: options.users }, (_, i) => ({
      id: `b${i}`, username: `${options.label}${i}`, email: `${options.label}${i}@example.com`, firstName: 'Budget', lastName: `User ${i}`,
    })));
    await settled;
    const seconds = elapsed();
    const stats = (await em.admin('GET', '/stats')) as CrowdEmulatorStats;
    return { achieved: stats.requests / seconds, requests: stats.requests, busiestSecond: stats.busiestSecond, throttled: stats.throttled, failed };
  } finally {
    await Promise.all(workers.map((stop) => stop()));
    await client.close();
    await events.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

/** `idsync worker crowd` from source in a process of its own; resolves with its stop (SIGTERM) once it runs. */
async function startCrowdWorker(env: Record<string, string>): Promise<() => Promise<void>> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CROWD|ENTRA|GRAPH|APP|IDSYNC|SYNC)_/.test(k)));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/idsync.ts', 'worker', 'crowd'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...inherited, IDSYNC_LOG_FORMAT: 'json', IDSYNC_LOG_LEVEL: 'info', IDSYNC_HEALTH_PORT: '0', IDSYNC_BACKOFF_MS: '100', ...env },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // Read to the end (a full pipe would stall the worker); errors are shown, the rest dropped.
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"idsync workers running"')) resolve();
      else if (/"level":(5|6)\d/.test(line)) console.error(`idsync worker: ${line}`);
    });
    void exited.then((code) => reject(new Error(`idsync worker exited with ${code} before it was running`)));
  });
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
}
