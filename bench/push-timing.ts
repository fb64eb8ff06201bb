import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import got, { type Got } from 'got';
import type { Redis } from 'ioredis';
import { crowdEnv, type CrowdConnectionInfo, type CrowdEmulatorStats } from '../emulators/crowd/index.js';
import { loadConfig } from '../shared/config.js';
import { createCrowdConnector } from '../workers/crowd/index.js';
import { startEmulatorThread, startPipeline, type Pipeline } from './support.js';

/** Plumbing of the timing benchmarks (bench/coalescing.ts, bench/latency.ts): the Crowd emulator, a pipeline, completion times. */

export interface CrowdThread {
  info: CrowdConnectionInfo;
  stats(): Promise<CrowdEmulatorStats>;
  close(): Promise<void>;
}

/** The Crowd emulator on its own worker thread, as a real Crowd runs on its own machine. */
export async function crowdThread(): Promise<CrowdThread> {
  const em = await startEmulatorThread<CrowdConnectionInfo>(new URL('../emulators/crowd/index.js', import.meta.url).href, 'startCrowdEmulator');
  return { info: em.info, stats: () => em.admin('GET', '/stats'), close: () => em.close() };
}

export interface TimedPipeline extends Pipeline {
  prefix: string;
  /** When each finished job completed (performance.now()), by job id. */
  completedAt: Map<string, number>;
  /** Resolves once this job has completed, with the time it did. */
  completion(jobId: string): Promise<number>;
  /** Resolves once no job is waiting, delayed, prioritized or active. */
  idle(): Promise<void>;
}

/** The client, a real TargetWorker and the Crowd connector on a prefix of their own. */
export async function crowdPipeline(
  em: CrowdThread,
  options: { redis: Redis; redisUrl: string; label: string; concurrency: number; coalesceWindowMs?: number },
): Promise<TimedPipeline> {
  const prefix = `{bench-${options.label}-${Date.now().toString(36)}}`;
  const connector = await createCrowdConnector({ ...loadConfig(crowdEnv(em.info)).crowd!, concurrency: options.concurrency }, { redis: options.redis, prefix });
  const pipeline = await startPipeline('crowd', connector, { ...options, prefix });
  const completedAt = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  // The worker's own event, in this process: no event-stream hop between the write and the clock.
  pipeline.worker.worker.on('completed', (job) => {
    const at = performance.now();
    completedAt.set(job.id!, at);
    waiting.get(job.id!)?.(at);
  });
  const queue = pipeline.worker.queue;
  return {
    ...pipeline,
    prefix,
    completedAt,
    completion: (jobId) => new Promise((resolve) => (completedAt.has(jobId) ? resolve(completedAt.get(jobId)!) : waiting.set(jobId, resolve))),
    async idle() {
      for (;;) {
        const counts = await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
        if (Object.values(counts).every((n) => n === 0)) return;
        await sleep(20);
      }
    },
    close: () => pipeline.close(),
  };
}

/** Requests per route that change Crowd (anything but GET) between two stats snapshots. */
export function writesBetween(before: CrowdEmulatorStats, after: CrowdEmulatorStats): number {
  let writes = 0;
  for (const [route, n] of Object.entries(after.byRoute)) if (!route.startsWith('GET ')) writes += n - (before.byRoute[route] ?? 0);
  return writes;
}

/** The p-th percentile (0–100) of the samples, nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (!samples.length) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A bare got client for Crowd's REST API: keep-alive, no retries, the application's Basic auth. */
export function bareCrowd(info: CrowdConnectionInfo): { http: Got; close(): void } {
  const agent = new Agent({ keepAlive: true });
  const http = got.extend({
    prefixUrl: `${info.baseUrl}rest/usermanagement/1/`,
    headers: {
      accept: 'application/json',
      authorization: `Basic ${Buffer.from(`${info.applicationName}:${info.applicationPassword}`).toString('base64')}`,
    },
    agent: { http: agent },
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: 'text',
  });
  return { http, close: () => agent.destroy() };
}

/**
 * Starts `send(i)` for i = 0 … n-1 at a steady `perSecond`, each on its schedule whether
 * or not earlier ones have finished (an open loop: a slow system is not given a slower
 * arrival rate), and resolves with every result.
 */
export async function atSteadyRate<T>(n: number, perSecond: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const started = performance.now();
  const all: Promise<T>[] = [];
  while (all.length < n) {
    const due = Math.min(n, Math.floor(((performance.now() - started) / 1000) * perSecond) + 1);
    while (all.length < due) all.push(send(all.length));
    await sleep(1);
  }
  return Promise.all(all);
}
