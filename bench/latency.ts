import { Redis } from 'ioredis';
import { deletePrefix } from '../shared/redis.js';
import { printTable } from './report.js';
import { atSteadyRate, bareCrowd, crowdPipeline, crowdThread, percentile, type CrowdThread } from './push-timing.js';
import { stopwatch } from './support.js';

export interface BenchLatencyOptions {
  redisUrl: string;
  /** New users pushed as fast as possible to find the maximum push rate. @defaultValue 3000 */
  maxRateUsers?: number;
  /** Seconds of steady load at half that rate, for idsync and for the bare requests. @defaultValue 5 */
  seconds?: number;
  /** Worker concurrency. @defaultValue 50 */
  concurrency?: number;
}

/**
 * Event → remote write latency at a steady 50 % of the maximum push rate measured in the same
 * run: from the `userChanged` call until the job that creates the user in Crowd has
 * completed. Baseline: the same request (POST /user) sent bare with got, at the same rate,
 * to the same emulator, its latency the response time.
 */
export async function benchLatency(options: BenchLatencyOptions) {
  const maxRateUsers = options.maxRateUsers ?? 3000;
  const seconds = options.seconds ?? 5;
  const concurrency = options.concurrency ?? 50;
  const em = await crowdThread();
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const prefixes: string[] = [];
  try {
    await maxRate(em, redis, options.redisUrl, prefixes, { users: 500, concurrency, label: 'lat-warm' });
    await bare(em, 500, 1000, 'lat-warm-bare');
    const max = await maxRate(em, redis, options.redisUrl, prefixes, { users: maxRateUsers, concurrency, label: 'lat-max' });
    const rate = max / 2;
    const n = Math.max(1, Math.round(rate * seconds));
    const pushed = await steady(em, redis, options.redisUrl, prefixes, { n, rate, concurrency, label: 'lat-steady' });
    const base = await bare(em, n, rate, 'lat-bare');

    const row = (p: number) => ({ name: `event → remote write p${p}`, value: percentile(pushed, p), unit: 'ms', baseline: percentile(base, p) });
    const p99 = row(99);
    printTable(`Latency (steady ${Math.round(rate).toLocaleString('en-US')} users/s = 50 % of the ${Math.round(max).toLocaleString('en-US')} users/s measured, ${n.toLocaleString('en-US')} new users, concurrency ${concurrency}; baseline: bare got POST /user at the same rate)`, [
      row(50),
      row(95),
      { ...p99, goal: 5, goalAtMost: true },
    ]);
    return { maxRate: max, rate, push: { p50: percentile(pushed, 50), p95: percentile(pushed, 95), p99: p99.value }, bare: { p50: percentile(base, 50), p95: percentile(base, 95), p99: p99.baseline } };
  } finally {
    for (const p of prefixes) await deletePrefix(redis, p);
    await redis.quit();
    await em.close();
  }
}

const user = (label: string, i: number) => ({ id: `${label}-${i}`, username: `${label}${i}`, email: `${label}${i}@example.com`, firstName: 'Bench', lastName: `User ${i}` });

/** Users per second through the whole pipeline, new users enqueued at once. */
async function maxRate(em: CrowdThread, redis: Redis, redisUrl: string, prefixes: string[], run: { users: number; concurrency: number; label: string }): Promise<number> {
  const p = await crowdPipeline(em, { redis, redisUrl, label: run.label, concurrency: run.concurrency });
  prefixes.push(p.prefix);
  try {
    const done = p.settled(run.users);
    const elapsed = stopwatch();
    await p.client.userChangedMany(Array.from({ length: run.users }, (_, i) => user(run.label, i)));
    const { failed } = await done;
    if (failed) throw new Error(`${failed} jobs failed while measuring the maximum push rate`);
    return run.users / elapsed();
  } finally {
    await p.close();
  }
}

/** Latencies (ms) of `n` lone events sent at a steady rate. */
async function steady(em: CrowdThread, redis: Redis, redisUrl: string, prefixes: string[], run: { n: number; rate: number; concurrency: number; label: string }): Promise<number[]> {
  const p = await crowdPipeline(em, { redis, redisUrl, label: run.label, concurrency: run.concurrency });
  prefixes.push(p.prefix);
  try {
    return await atSteadyRate(run.n, run.rate, async (i) => {
      const sent = performance.now();
      const [enqueued] = await p.client.userChanged(user(run.label, i));
      return (await p.completion(enqueued!.jobId)) - sent;
    });
  } finally {
    await p.close();
  }
}

/** Latencies (ms) of the same POST /user requests sent bare at a steady rate. */
async function bare(em: CrowdThread, n: number, rate: number, label: string): Promise<number[]> {
  const { http, close } = bareCrowd(em.info);
  try {
    return await atSteadyRate(n, rate, async (i) => {
      const u = user(label, i);
      const sent = performance.now();
      const res = await http.post('user', {
        json: { name: u.username, 'first-name': u.firstName, 'last-name': u.lastName, 'display-name': `${u.firstName} ${u.lastName}`, email: u.email, active: true, password: { value: `Pw-${i}-bench!Aa1` } },
      });
      if (res.statusCode !== 201) throw new Error(`bare POST /user → ${res.statusCode}`);
      return performance.now() - sent;
    });
  } finally {
    close();
  }
}
