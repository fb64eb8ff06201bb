import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import pg from 'pg';
import type { Redis } from 'ioredis';
import { JOB_NAMES, QUEUES, SCHEMA_VERSION, type ProvisionResult, type Target } from '../shared/jobs.js';
import type { PlanMeta } from '../workers/sync/plan-store.js';

/** Plumbing for the benchmarks that run `idsync worker` in its own process (bench/reconcile.ts, bench/provision.ts): PostgreSQL, links, the worker. */

const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database of the bench's own on the real PostgreSQL, so nothing else's tables are touched. */
export async function createBenchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `idsync_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface BenchAppRow {
  id: string;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  displayName: string;
}

/** Replaces the default users table's rows; unnest() batches keep 100k rows to a few statements. */
export async function loadAppUsers(databaseUrl: string, rows: readonly BenchAppRow[]): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query('TRUNCATE idsync_users');
    for (let i = 0; i < rows.length; i += 10_000) {
      const chunk = rows.slice(i, i + 10_000);
      const col = (k: keyof BenchAppRow) => chunk.map((r) => r[k]);
      await c.query(
        `INSERT INTO idsync_users (id, username, email, first_name, last_name, display_name, active)
         SELECT *, true FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
        [col('id'), col('username'), col('email'), col('firstName'), col('lastName'), col('displayName')],
      );
    }
  } finally {
    await c.end();
  }
}

/** Writes links as LinkStore.update lays them out, pipelined: 100k EVALSHAs would dominate the setup. */
export async function seedLinks(redis: Redis, prefix: string, target: Target, links: readonly { appId: string; remoteId: string; remoteName: string }[]): Promise<void> {
  const now = String(Date.now());
  for (let i = 0; i < links.length; i += 5000) {
    const p = redis.pipeline();
    const rev: string[] = [];
    for (const l of links.slice(i, i + 5000)) {
      p.hset(`${prefix}:link:${target}:${l.appId}`, 'remoteId', l.remoteId, 'remoteName', l.remoteName, 'updatedAt', now);
      rev.push(l.remoteId, l.appId);
    }
    if (rev.length) p.hset(`${prefix}:link-remote:${target}`, ...rev);
    await p.exec();
  }
}

/**
 * App writes, counted in the table itself since idsync writes from another process: rows
 * stamped since `mark()` (the default table sets updated_at on every insert and real
 * update, and a no-op change touches nothing) plus rows gone. A row written twice counts
 * once; each drifted row is written once.
 */
export async function appWriteCounter(databaseUrl: string): Promise<{ mark(): Promise<void>; writes(): Promise<number>; close(): Promise<void> }> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  const rows = async () => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM idsync_users')).rows[0]!.n);
  let since: Date | undefined;
  let before = 0;
  return {
    async mark() {
      before = await rows();
      // The database's clock, the one now() stamps rows with.
      since = (await c.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t;
    },
    async writes() {
      const { rows: [r] } = await c.query<{ written: string; inserted: string; total: string }>(
        'SELECT count(*) FILTER (WHERE updated_at >= $1) AS written, count(*) FILTER (WHERE created_at >= $1) AS inserted, count(*) AS total FROM idsync_users',
        [since],
      );
      return Number(r!.written) + before + Number(r!.inserted) - Number(r!.total);
    },
    close: () => c.end(),
  };
}

export interface WorkerProcess {
  pid: number;
  /** Runs one full sync of `target` through the sync queue; resolves with its plan. */
  fullSync(target: Target, mode: 'apply' | 'plan'): Promise<PlanMeta>;
  /** Provisions every application user to `target` through the sync queue; resolves with its result. */
  provision(target: Target): Promise<ProvisionResult>;
  /** Current and peak resident set of the worker process, in bytes (VmRSS, VmHWM). */
  memory(): { rss: number; peak: number };
  /** Resets VmHWM to the current RSS; false where the kernel refuses it. */
  resetPeak(): boolean;
  /** SIGTERM, as an orchestrator stops it; resolves on exit. */
  close(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * `idsync worker` from source in a process of its own, as deployed: its memory is idsync's
 * alone, not the bench's population and seeding. Configured by `env` only; every inherited
 * idsync setting is dropped first so none leaks in from the shell.
 */
export async function startWorkerProcess(env: Record<string, string>, options: { redis: Redis; redisUrl: string; prefix: string }): Promise<WorkerProcess> {
  const { redis, redisUrl, prefix } = options;
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CROWD|ENTRA|GRAPH|APP|IDSYNC|SYNC)_/.test(k)));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/idsync.ts', 'worker'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...inherited,
      IDSYNC_SECRET_KEY: randomBytes(32).toString('base64'),
      IDSYNC_BACKOFF_MS: '100',
      IDSYNC_LOG_FORMAT: 'json',
      IDSYNC_LOG_LEVEL: 'info',
      IDSYNC_HEALTH_PORT: '0',
      ...env,
      REDIS_URL: redisUrl,
      IDSYNC_PREFIX: prefix,
    },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // Logs are read to the end (a full pipe would stall the worker); errors are shown, the rest dropped.
  const lines = createInterface({ input: child.stdout! });
  const running = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      let entry: { level?: number; msg?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === 'idsync workers running') resolve();
      else if ((entry.level ?? 0) >= 50) console.error(`idsync worker: ${line}`);
    });
    void exited.then((code) => reject(new Error(`idsync worker exited with ${code} before it was running`)));
  });
  const queue = new Queue(QUEUES.sync, { connection: redis, prefix });
  const events = new QueueEvents(QUEUES.sync, { connection: { url: redisUrl }, prefix, lastEventId: '0-0' });
  const stop = async () => {
    await events.close();
    await queue.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  try {
    await Promise.all([running, events.waitUntilReady()]);
  } catch (err) {
    await stop();
    throw err;
  }
  const pid = child.pid!;
  const status = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  return {
    pid,
    async fullSync(target, mode) {
      const job = await queue.add(JOB_NAMES.fullSync, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), targets: [target], mode });
      const result = (await job.waitUntilFinished(events, 30 * 60_000)) as { plans: PlanMeta[] };
      return result.plans[0]!;
    },
    async provision(target) {
      const job = await queue.add(JOB_NAMES.provision, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), scope: 'all', targets: [target], direction: 'to-target' });
      return (await job.waitUntilFinished(events, 30 * 60_000)) as ProvisionResult;
    },
    memory: () => ({ rss: status('VmRSS'), peak: status('VmHWM') }),
    resetPeak() {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      const code = await stop();
      if (code !== 0) console.error(`idsync worker exited with ${code} on SIGTERM`);
    },
  };
}
