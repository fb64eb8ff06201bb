import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { createSyncClient, type SyncClient } from '../producers/client.js';
import { AuditLog } from '../shared/audit.js';
import type { Target } from '../shared/jobs.js';
import { LinkStore } from '../shared/links.js';
import { silentLogger } from '../shared/logger.js';
import type { TargetConnector } from '../workers/runtime/connector.js';
import { RuntimeMetrics } from '../workers/runtime/metrics.js';
import { TargetWorker } from '../workers/runtime/target-worker.js';

/** Plumbing shared by the connector benchmarks (bench/crowd.ts, bench/entra.ts). */

export { deletePrefix } from '../shared/redis.js';

/** Starts a clock; the returned function reads the seconds since. */
export function stopwatch(): () => number {
  const started = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - started) / 1e9;
}

/** An emulator on its own worker thread: its connection info and its admin endpoint. */
export interface EmulatorThread<Info> {
  info: Info;
  /** Calls the emulator's admin endpoint; resolves with the parsed JSON reply, if any. */
  admin(method: string, path: string, body?: unknown): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

/**
 * Runs `start(options)` of the emulator module at `moduleUrl` on a worker thread (still
 * in-process), as a real remote runs on its own machine: idsync and the emulator do not
 * compete for one event loop.
 */
export async function startEmulatorThread<Info>(moduleUrl: string, start: string, options: object = {}): Promise<EmulatorThread<Info>> {
  // Worker threads do not inherit tsx's loader: register it when running from source.
  const register = import.meta.url.endsWith('.ts') ? "await (await import('tsx/esm/api')).register();" : '';
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
    (async () => {
      ${register}
      const em = await (await import(${JSON.stringify(moduleUrl)})).${start}(${JSON.stringify(options)});
      parentPort.postMessage({ info: em.info, adminUrl: em.adminUrl });
      parentPort.once('message', () => em.close().then(() => parentPort.close()));
    })().catch((err) => { throw err; });`,
    { eval: true },
  );
  const { info, adminUrl } = await new Promise<{ info: Info; adminUrl: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    info,
    admin: adminClient(adminUrl),
    async close() {
      worker.postMessage('close');
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

/** A real TargetWorker around a connector, the client that feeds it and the events that count its jobs. */
export interface Pipeline {
  worker: TargetWorker;
  client: SyncClient;
  /**
   * Resolves once `jobs` jobs have completed or failed, with the number that failed. Call it
   * before enqueueing, so no job can finish before it counts.
   */
  settled(jobs: number): Promise<{ failed: number }>;
  /** Closes the client, the worker, the events and the connector. */
  close(): Promise<void>;
}

export async function startPipeline(
  target: Target,
  connector: TargetConnector,
  options: { redis: Redis; redisUrl: string; prefix: string; concurrency: number; /** The client's; default from the environment. */ coalesceWindowMs?: number },
): Promise<Pipeline> {
  const { redis, redisUrl, prefix } = options;
  const worker = new TargetWorker({
    connector,
    connection: redis,
    prefix,
    links: new LinkStore(redis, prefix),
    audit: new AuditLog(redis, prefix),
    keyring: undefined,
    logger: silentLogger,
    metrics: new RuntimeMetrics(),
    concurrency: options.concurrency,
    backoffMs: 100,
  });
  // From the stream's start (the prefix is fresh): a reader is ready before its first blocking read.
  const events = new QueueEvents(target, { connection: { url: redisUrl }, prefix, lastEventId: '0-0' });
  const client = createSyncClient({ redisUrl, prefix, targets: [target], attempts: 8, backoffMs: 100, ...(options.coalesceWindowMs !== undefined && { coalesceWindowMs: options.coalesceWindowMs }) });
  const close = async () => {
    await client.close();
    await worker.close(5000);
    await events.close();
    await connector.close?.();
  };
  try {
    await Promise.all([worker.start(), events.waitUntilReady()]);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    worker,
    client,
    settled(jobs) {
      let completed = 0;
      let failed = 0;
      return new Promise((resolve) => {
        const settle = () => completed + failed >= jobs && resolve({ failed });
        events.on('completed', () => { completed++; settle(); });
        events.on('failed', () => { failed++; settle(); });
      });
    },
    close,
  };
}

/**
 * The same, in a child process: for measurements of idsync's own memory (the reconcile
 * benchmark), since a 100k-user emulator on a thread would count in idsync's RSS.
 */
export async function startEmulatorProcess<Info>(moduleUrl: string, start: string, options: object = {}): Promise<EmulatorThread<Info>> {
  const script = `(async () => {
    const em = await (await import(${JSON.stringify(moduleUrl)})).${start}(${JSON.stringify(options)});
    process.stdout.write(JSON.stringify({ info: em.info, adminUrl: em.adminUrl }) + '\\n');
    process.once('SIGTERM', () => em.close().then(() => process.exit(0)));
  })().catch((err) => { console.error(err); process.exit(1); });`;
  const loader = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  const { info, adminUrl } = await new Promise<{ info: Info; adminUrl: string }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line)));
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)));
  });
  return {
    info,
    admin: adminClient(adminUrl),
    async close() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** Calls an emulator's admin endpoint; resolves with the parsed JSON reply, if any. */
function adminClient(adminUrl: string): EmulatorThread<unknown>['admin'] {
  return async (method, path, body) => {
    const res = await fetch(`${adminUrl}${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator admin ${method} ${path} → ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}
