import { Job, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { Keyring, parseKey } from '../../shared/crypto.js';
import type { Target, UserSnapshotInput } from '../../shared/jobs.js';
import { LinkStore } from '../../shared/links.js';
import { createLogger, silentLogger } from '../../shared/logger.js';
import { createSyncClient, type SyncClient } from '../../producers/client.js';
import type { Enqueued, SyncClientOptions } from '../../producers/client-options.js';
import type { TargetConnector } from '../../workers/runtime/connector.js';
import { RuntimeMetrics } from '../../workers/runtime/metrics.js';
import { TargetWorker, type TargetWorkerOptions } from '../../workers/runtime/target-worker.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from './redis.js';

export const TEST_KEY = Buffer.alloc(32, 42).toString('base64');

export interface Harness {
  prefix: string;
  redis: Redis;
  audit: AuditLog;
  links: LinkStore;
  worker: TargetWorker;
  client: SyncClient;
  events: QueueEvents;
  /** Resolves with the job's return value, rejects with its failed reason. */
  finished(jobId: string, timeoutMs?: number): Promise<unknown>;
  /** Enqueues one user through the client and resolves with its job's result. */
  push(user: UserSnapshotInput): Promise<unknown>;
  /** Enqueues the users in one call and resolves with every job's result (rejects with the first failure). */
  pushAll(users: UserSnapshotInput[]): Promise<unknown[]>;
  job(jobId: string): Promise<Job>;
  close(): Promise<void>;
}

/**
 * One target worker (real BullMQ, real Redis) around the given connector, plus a client
 * and QueueEvents, all under a unique prefix that is deleted on close. Given a factory, the
 * connector is built on the harness's connection and prefix, as the runtime does it, so its
 * own keys (request budget, delta link) go with the rest.
 */
export async function startHarness(options: {
  connector: TargetConnector | ((deps: { redis: Redis; prefix: string }) => Promise<TargetConnector>);
  worker?: Partial<TargetWorkerOptions>;
  client?: SyncClientOptions;
}): Promise<Harness> {
  const prefix = uniquePrefix('h');
  const redis = workerRedis();
  const connector = typeof options.connector === 'function' ? await options.connector({ redis, prefix }) : options.connector;
  const target: Target = connector.target;
  const audit = new AuditLog(redis, prefix);
  const links = new LinkStore(redis, prefix);
  const logger = process.env.IDSYNC_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger;
  const worker = new TargetWorker({
    connector,
    connection: redis,
    prefix,
    links,
    audit,
    keyring: new Keyring(parseKey(TEST_KEY)),
    logger,
    metrics: new RuntimeMetrics(),
    concurrency: 4,
    backoffMs: 20,
    quarantineProbeMs: 100,
    ...options.worker,
  });
  // From the stream's start: a reader is ready before its first XREAD, and the prefix is fresh.
  const events = new QueueEvents(target, { connection: { url: REDIS_URL }, prefix, lastEventId: '0-0' });
  await Promise.all([worker.start(), events.waitUntilReady()]);
  // No coalescing window by default: suites push one user many times in a row and wait on each job.
  const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: [target], secretKey: TEST_KEY, backoffMs: 20, attempts: 5, coalesceWindowMs: 0, ...options.client });
  const job = async (jobId: string) => {
    const found = await Job.fromId(worker.queue, jobId);
    if (!found) throw new Error(`job ${jobId} not found`);
    return found;
  };
  const finished = async (jobId: string, timeoutMs = 15_000) => (await job(jobId)).waitUntilFinished(events, timeoutMs);
  return {
    prefix, redis, audit, links, worker, client, events, job,
    finished,
    async push(user) {
      const [enqueued] = await client.userChanged(user);
      return finished(enqueued!.jobId);
    },
    async pushAll(users) {
      const enqueued = await client.userChangedMany(users);
      return Promise.all(enqueued.map((e) => finished(e.jobId)));
    },
    async close() {
      await client.close();
      await worker.close(1000);
      await events.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}

export type Settled = { ok: true; value: unknown } | { ok: false; error: Error };

/**
 * Enqueues with the queue paused and starts waiting on each job before it can run, so
 * jobs removed on completion (password jobs) are still observed; then resumes.
 */
export async function runJobs(h: Harness, ...enqueue: (() => Promise<Enqueued[]>)[]): Promise<Settled[]> {
  await h.worker.queue.pause();
  const waits: Promise<Settled>[] = [];
  for (const e of enqueue) {
    for (const { jobId } of await e()) {
      const job = await h.job(jobId);
      waits.push(job.waitUntilFinished(h.events, 15_000).then((value) => ({ ok: true as const, value }), (error: Error) => ({ ok: false as const, error })));
    }
  }
  await h.worker.queue.resume();
  return Promise.all(waits);
}
