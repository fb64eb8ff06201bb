import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { deletePrefix } from '../shared/redis.js';
import { printTable } from './report.js';
import { bareCrowd, crowdPipeline, crowdThread, percentile, writesBetween, type CrowdThread } from './push-timing.js';
import { stopwatch } from './support.js';

export interface BenchCoalescingOptions {
  redisUrl: string;
  /** Updates of the one user in the burst. @defaultValue 1000 */
  updates?: number;
  /** Updates in flight at once during the burst (the burst then takes ~0.1–1 s). @defaultValue 100 */
  lanes?: number;
  /** The coalescing window under test. @defaultValue 1000 */
  windowMs?: number;
  /** Lone events timed per setting. @defaultValue 200 */
  loneEvents?: number;
}

const WORKER_CONCURRENCY = 20;

/**
 * (1) Remote writes for a burst of updates to one existing user, with the coalescing window
 * on and off; the final remote state must be the last snapshot. (2) Event → applied latency of
 * lone events (a user with no recent event), with the window on and off: it must add none.
 */
export async function benchCoalescing(options: BenchCoalescingOptions) {
  const updates = options.updates ?? 1000;
  const lanes = options.lanes ?? 100;
  const windowMs = options.windowMs ?? 1000;
  const loneEvents = options.loneEvents ?? 200;
  const em = await crowdThread();
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const prefixes: string[] = [];
  try {
    // Warm-up of both settings, so neither pays for JIT compilation.
    await loneLatency(em, redis, options.redisUrl, prefixes, { windowMs, events: 50, label: 'co-warm' });
    const on = await burst(em, redis, options.redisUrl, prefixes, { updates, lanes, windowMs });
    const off = await burst(em, redis, options.redisUrl, prefixes, { updates, lanes, windowMs: 0 });
    const loneOn = await loneLatency(em, redis, options.redisUrl, prefixes, { windowMs, events: loneEvents, label: 'co-lone-on' });
    const loneOff = await loneLatency(em, redis, options.redisUrl, prefixes, { windowMs: 0, events: loneEvents, label: 'co-lone-off' });

    const burstNote = (b: BurstResult) => `burst took ${b.seconds.toFixed(2)} s; final remote state = last snapshot: ${b.lastWins ? 'yes' : 'NO'}`;
    printTable(`Coalescing (${updates.toLocaleString('en-US')} updates of one user, ${lanes} in flight; window ${windowMs} ms; Crowd emulator on its own thread)`, [
      { name: `remote writes, window ${windowMs} ms`, value: on.writes, unit: 'writes', goal: 3, goalAtMost: true, note: burstNote(on) },
      { name: 'remote writes, window off', value: off.writes, unit: 'writes', note: burstNote(off) },
      { name: `lone event → applied p50, window ${windowMs} ms vs off`, value: percentile(loneOn, 50), unit: 'ms', baseline: percentile(loneOff, 50), note: `${loneEvents} events each; goal: no added latency (enqueued with no delay)` },
      { name: `lone event → applied p99, window ${windowMs} ms vs off`, value: percentile(loneOn, 99), unit: 'ms', baseline: percentile(loneOff, 99) },
    ]);
    return { writesOn: on.writes, writesOff: off.writes, loneP50On: percentile(loneOn, 50), loneP50Off: percentile(loneOff, 50) };
  } finally {
    for (const p of prefixes) await deletePrefix(redis, p);
    await redis.quit();
    await em.close();
  }
}

interface BurstResult {
  writes: number;
  seconds: number;
  lastWins: boolean;
}

async function burst(
  em: CrowdThread,
  redis: Redis,
  redisUrl: string,
  prefixes: string[],
  run: { updates: number; lanes: number; windowMs: number },
): Promise<BurstResult> {
  const label = `co-burst-${run.windowMs}`;
  const p = await crowdPipeline(em, { redis, redisUrl, label, concurrency: WORKER_CONCURRENCY, coalesceWindowMs: run.windowMs });
  prefixes.push(p.prefix);
  const user = (i: number) => ({ id: label, username: label, email: `${label}@example.com`, firstName: `First ${i}`, lastName: 'Burst' });
  try {
    // The user exists and its window has passed: the burst starts as a real one would.
    const [created] = await p.client.userChanged(user(-1));
    await p.completion(created!.jobId);
    await sleep(run.windowMs + 50);

    const before = await em.stats();
    const elapsed = stopwatch();
    let next = 0;
    await Promise.all(Array.from({ length: run.lanes }, async () => {
      while (next < run.updates) await p.client.userChanged(user(next++));
    }));
    const seconds = elapsed();
    await p.idle();
    const writes = writesBetween(before, await em.stats());
    const { http, close } = bareCrowd(em.info);
    const remote = JSON.parse((await http.get(`user?username=${label}`)).body) as { 'first-name'?: string };
    close();
    return { writes, seconds, lastWins: remote['first-name'] === `First ${run.updates - 1}` };
  } finally {
    await p.close();
  }
}

/** Event → applied latency (ms) of new users pushed one at a time, each one a lone event. */
async function loneLatency(
  em: CrowdThread,
  redis: Redis,
  redisUrl: string,
  prefixes: string[],
  run: { windowMs: number; events: number; label: string },
): Promise<number[]> {
  const p = await crowdPipeline(em, { redis, redisUrl, label: run.label, concurrency: WORKER_CONCURRENCY, coalesceWindowMs: run.windowMs });
  prefixes.push(p.prefix);
  try {
    const latencies: number[] = [];
    for (let i = 0; i < run.events; i++) {
      const sent = performance.now();
      const [enqueued] = await p.client.userChanged({ id: `${run.label}-${i}`, username: `${run.label}${i}`, email: `${run.label}${i}@example.com`, firstName: 'Lone', lastName: `User ${i}` });
      latencies.push((await p.completion(enqueued!.jobId)) - sent);
    }
    return latencies;
  } finally {
    await p.close();
  }
}
