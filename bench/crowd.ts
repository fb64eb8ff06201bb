import { Agent } from 'node:http';
import got from 'got';
import { Redis } from 'ioredis';
import { crowdEnv, startCrowdEmulator, type CrowdConnectionInfo, type CrowdEmulatorStats, type CrowdFaults } from '../emulators/crowd/index.js';
import { loadConfig, type CrowdConfig } from '../shared/config.js';
import { createCrowdConnector } from '../workers/crowd/index.js';
import { printTable } from './report.js';
import { deletePrefix, startEmulatorThread, startPipeline, stopwatch } from './support.js';

export interface BenchCrowdOptions {
  redisUrl: string;
  /** New users pushed in the throughput run. @defaultValue 5000 */
  users?: number;
  /** Worker concurrency, and the baseline's parallel lanes. @defaultValue 50 */
  concurrency?: number;
  /** Crowd's rate limit and the connector's requestsPerSecond in the throttle run. @defaultValue 200 */
  ratePerSecond?: number;
  /** How long the throttle run should take at the rate. @defaultValue 10 */
  throttleSeconds?: number;
  /**
   * Run the emulator on its own worker thread (still in-process), as a real Crowd runs on
   * its own machine; false shares the event loop with the worker, so idsync and Crowd
   * compete for one core. @defaultValue true
   */
  emulatorThread?: boolean;
}

/** The emulator's controls, the same whether it runs on this thread or its own. */
interface Emulator {
  info: CrowdConnectionInfo;
  setFaults(f: Partial<CrowdFaults>): Promise<void>;
  reset(): Promise<void>;
  stats(): Promise<CrowdEmulatorStats>;
  close(): Promise<void>;
}

/**
 * (1) Push throughput: N new users through the client library, Redis, a real TargetWorker
 * and the Crowd connector into the in-process emulator, against a bare got loop sending
 * the same requests (POST /user) at the same concurrency; the ratio is idsync's overhead.
 * (2) Throttle utilisation: the emulator limits to R requests/s (Crowd DC's token
 * bucket), the connector's requestsPerSecond is R; achieved requests/s ÷ R, 429s, failures.
 */
export async function benchCrowd(options: BenchCrowdOptions) {
  const users = options.users ?? 5000;
  const concurrency = options.concurrency ?? 50;
  const rate = options.ratePerSecond ?? 200;
  const throttleUsers = rate * (options.throttleSeconds ?? 10);
  const em = options.emulatorThread === false ? await sameThreadEmulator() : await threadEmulator();
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const prefixes: string[] = [];
  try {
    // A short warm-up of both paths first, so neither measurement pays for JIT compilation.
    await rawThroughput(em, 1000, concurrency, 'warm');
    await pushRun(em, redis, options.redisUrl, prefixes, { users: 1000, concurrency, label: 'warm' });
    await em.reset();
    const raw = await rawThroughput(em, users, concurrency, 'raw');
    await em.reset();
    const pushed = await pushRun(em, redis, options.redisUrl, prefixes, { users, concurrency, label: 'push' });
    await em.reset();
    await em.setFaults({ rateLimitPerSecond: rate });
    const throttled = await pushRun(em, redis, options.redisUrl, prefixes, { users: throttleUsers, concurrency, label: 'throttle', requestsPerSecond: rate });
    const achieved = throttled.requests / throttled.seconds;

    const where = options.emulatorThread === false ? 'emulator on the same thread' : 'emulator on its own thread';
    printTable(`Crowd push (${users.toLocaleString('en-US')} new users, concurrency ${concurrency}; ${where})`, [
      {
        name: 'idsync push (client → Redis → TargetWorker → connector → Crowd) vs bare got POST /user loop',
        value: pushed.users / pushed.seconds,
        unit: 'users/s',
        baseline: raw,
        goal: 0.85,
        note: `${(pushed.requests / pushed.users).toFixed(2)} requests/user`,
      },
      { name: 'idsync push throughput', value: pushed.users / pushed.seconds, unit: 'users/s', goal: 2000 },
      { name: 'failed push jobs', value: pushed.failed, unit: 'jobs', goal: 0, goalAtMost: true },
    ]);
    printTable(`Crowd throttle utilisation (Crowd limit ${rate} requests/s, connector requestsPerSecond ${rate}, ${throttleUsers.toLocaleString('en-US')} users)`, [
      { name: 'achieved requests/s vs the limit', value: achieved, unit: 'requests/s', baseline: rate, goal: 0.95 },
      { name: '429 responses from Crowd', value: throttled.throttled, unit: '', goal: 0, goalAtMost: true, note: 'the budget keeps under the limit' },
      { name: 'failed jobs', value: throttled.failed, unit: 'jobs', goal: 0, goalAtMost: true },
    ]);
    return {
      rawUsersPerSecond: raw,
      pushUsersPerSecond: pushed.users / pushed.seconds,
      pushFailed: pushed.failed,
      throttleUtilisation: achieved / rate,
      throttle429s: throttled.throttled,
      throttleFailed: throttled.failed,
    };
  } finally {
    for (const p of prefixes) await deletePrefix(redis, p);
    await redis.quit();
    await em.close();
  }
}

const body = (name: string, i: number) => ({
  name,
  'first-name': 'Bench',
  'last-name': `User ${i}`,
  'display-name': `Bench User ${i}`,
  email: `${name}@example.com`,
  active: true,
  password: { value: `Pw-${i}-bench!Aa1` },
});

/** The same POST /user requests from a bare got loop, `lanes` at a time: the remote's own ceiling. */
async function rawThroughput(em: Emulator, n: number, lanes: number, label: string): Promise<number> {
  const agent = new Agent({ keepAlive: true });
  const http = got.extend({
    prefixUrl: `${em.info.baseUrl}rest/usermanagement/1/`,
    headers: {
      accept: 'application/json',
      authorization: `Basic ${Buffer.from(`${em.info.applicationName}:${em.info.applicationPassword}`).toString('base64')}`,
    },
    agent: { http: agent },
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: 'text',
  });
  let next = 0;
  const elapsed = stopwatch();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < n) {
        const i = next++;
        const res = await http.post('user', { json: body(`${label}${i}`, i) });
        if (res.statusCode !== 201) throw new Error(`baseline POST /user → ${res.statusCode}`);
      }
    }),
  );
  const seconds = elapsed();
  agent.destroy();
  return n / seconds;
}

interface RunResult {
  users: number;
  seconds: number;
  failed: number;
  requests: number;
  throttled: number;
}

async function pushRun(
  em: Emulator,
  redis: Redis,
  redisUrl: string,
  prefixes: string[],
  run: { users: number; concurrency: number; label: string; requestsPerSecond?: number },
): Promise<RunResult> {
  const prefix = `{bench-crowd-${run.label}-${Date.now().toString(36)}}`;
  prefixes.push(prefix);
  const config: CrowdConfig = { ...loadConfig(crowdEnv(em.info)).crowd!, concurrency: run.concurrency, requestsPerSecond: run.requestsPerSecond };
  const connector = await createCrowdConnector(config, { redis, prefix });
  const { client, settled, close } = await startPipeline('crowd', connector, { redis, redisUrl, prefix, concurrency: run.concurrency });
  try {
    const done = settled(run.users);
    const batch = Array.from({ length: run.users }, (_, i) => ({
      id: `${run.label}-${i}`,
      username: `${run.label}${i}`,
      email: `${run.label}${i}@example.com`,
      firstName: 'Bench',
      lastName: `User ${i}`,
    }));
    const elapsed = stopwatch();
    await client.userChangedMany(batch);
    const { failed } = await done;
    const seconds = elapsed();
    const stats = await em.stats();
    return { users: run.users, seconds, failed, requests: stats.requests, throttled: stats.throttled };
  } finally {
    await close();
  }
}

async function sameThreadEmulator(): Promise<Emulator> {
  const em = await startCrowdEmulator();
  return {
    info: em.info,
    setFaults: async (f) => em.setFaults(f),
    reset: async () => em.reset(),
    stats: async () => em.stats(),
    close: () => em.close(),
  };
}

/** The emulator on a worker thread, driven through its admin endpoint. */
async function threadEmulator(): Promise<Emulator> {
  const em = await startEmulatorThread<CrowdConnectionInfo>(new URL('../emulators/crowd/index.js', import.meta.url).href, 'startCrowdEmulator');
  return {
    info: em.info,
    setFaults: async (f) => void (await em.admin('POST', '/faults', f)),
    reset: async () => void (await em.admin('POST', '/reset')),
    stats: () => em.admin('GET', '/stats'),
    close: () => em.close(),
  };
}
