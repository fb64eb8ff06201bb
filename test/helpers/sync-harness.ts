import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { loadConfig, type Env, type IdsyncConfig } from '../../shared/config.js';
import { JOB_NAMES, QUEUES, SCHEMA_VERSION, type Target } from '../../shared/jobs.js';
import { LinkStore } from '../../shared/links.js';
import { silentLogger, createLogger } from '../../shared/logger.js';
import { AppWorker } from '../../workers/app/worker.js';
import type { UserDirectory } from '../../workers/app/directory.js';
import { createConnectors } from '../../workers/connectors.js';
import type { SyncConnector } from '../../workers/runtime/connector.js';
import { startRuntime, type Runtime } from '../../workers/runtime/runtime.js';
import type { PlanMeta } from '../../workers/sync/plan-store.js';
import { SyncWorker } from '../../workers/sync/worker.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from './redis.js';
import { TEST_KEY } from './harness.js';

export interface SyncHarness {
  prefix: string;
  redis: Redis;
  config: IdsyncConfig;
  links: LinkStore;
  audit: AuditLog;
  runtime: Runtime;
  sync: SyncWorker;
  app: AppWorker;
  connectors: Partial<Record<Target, SyncConnector>>;
  /** Enqueues a full-sync job and resolves with its plan. */
  fullSync(target: Target, mode: 'plan' | 'apply' | 'dry-run', planId?: string): Promise<PlanMeta>;
  /** Resolves with a sync-queue job's return value. */
  run(name: string, data: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The whole return path on real Redis under a unique prefix: the target workers of `env`
 * (emulator settings), the app worker over `directory`, and the sync worker.
 */
export async function startSyncHarness(env: Env, directory: UserDirectory): Promise<SyncHarness> {
  const prefix = uniquePrefix('sync');
  const config = loadConfig({ ...env, REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_SECRET_KEY: TEST_KEY, IDSYNC_BACKOFF_MS: '20', IDSYNC_ATTEMPTS: '4', IDSYNC_LOG_LEVEL: 'silent' });
  const redis = workerRedis();
  const logger = process.env.IDSYNC_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger;
  const connectors = (await createConnectors(config, { redis, logger })) as Partial<Record<Target, SyncConnector>>;
  const runtime = await startRuntime({ config, connectors, logger, connection: redis, healthServer: false });
  const links = new LinkStore(redis, prefix);
  const audit = new AuditLog(redis, prefix);
  const app = new AppWorker({ directory, connection: redis, prefix, links, audit, logger, authority: config.sync.authority, backoffMs: 20 });
  const sync = new SyncWorker({ config, connection: redis, connectors, directory, links, audit, logger, busyRetryMs: 200 });
  await Promise.all([app.start(), sync.start()]);
  const queue = new Queue(QUEUES.sync, { connection: redis, prefix });
  // From the stream's start: a reader is ready before its first XREAD, and the prefix is fresh.
  const events = new QueueEvents(QUEUES.sync, { connection: { url: REDIS_URL }, prefix, lastEventId: '0-0' });
  await events.waitUntilReady();
  const run = async (name: string, data: Record<string, unknown>) => {
    const job: Job = await queue.add(name, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), ...data });
    return job.waitUntilFinished(events, 60_000);
  };
  return {
    prefix, redis, config, links, audit, runtime, sync, app, connectors, run,
    async fullSync(target, mode, planId) {
      const r = (await run(JOB_NAMES.fullSync, { targets: [target], mode, ...(planId && { planId }) })) as { plans: PlanMeta[] };
      return r.plans[0]!;
    },
    async close() {
      await events.close();
      await queue.close();
      await sync.close();
      await app.close();
      await runtime.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    },
  };
}
