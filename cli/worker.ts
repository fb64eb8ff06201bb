import { AuditLog } from '../shared/audit.js';
import { loadConfig, type Env } from '../shared/config.js';
import { TARGETS, type Target } from '../shared/jobs.js';
import { LinkStore } from '../shared/links.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, whenReady } from '../shared/redis.js';
import type { UserDirectory } from '../workers/app/directory.js';
import { openDirectory } from '../workers/app/open.js';
import { AppWorker } from '../workers/app/worker.js';
import { createConnectors } from '../workers/connectors.js';
import type { SyncConnector } from '../workers/runtime/connector.js';
import { closeOnSignals, startRuntime } from '../workers/runtime/runtime.js';
import { SyncWorker } from '../workers/sync/worker.js';

const PROCESSORS = ['sync', 'app'] as const;

export interface RunningWorkers {
  close(): Promise<void>;
}

/**
 * `idsync worker [crowd|entra|sync|app ...]`: with no argument, every configured target's
 * worker plus the `sync` (provisioning, full syncs, incremental pulls) and `app` (pulled
 * changes into the application) processors; with arguments, only those.
 */
export async function runWorkers(names: string[], env: Env = process.env, options: { directory?: UserDirectory; signals?: boolean } = {}): Promise<RunningWorkers> {
  const unknown = names.filter((t) => !(TARGETS as readonly string[]).includes(t) && !(PROCESSORS as readonly string[]).includes(t));
  if (unknown.length) throw new Error(`unknown worker ${unknown.join(', ')}; expected any of ${[...TARGETS, ...PROCESSORS].join(', ')}`);
  const targets = names.filter((n): n is Target => (TARGETS as readonly string[]).includes(n));
  const all = names.length === 0;
  const config = loadConfig(targets.length ? { ...env, IDSYNC_TARGETS: targets.join(',') } : env);
  const runSync = all || names.includes('sync');
  const runApp = all || names.includes('app');
  const logger = createLogger(config.log);
  if (config.targets.length === 0) logger.warn('no targets configured: set CROWD_* and/or ENTRA_* variables (see README)');
  // One connection for queues, links, audit and the connectors' request budgets; BullMQ
  // opens its own blocking connection beside it.
  const redis = createRedis(config.redisUrl, 'worker');
  redis.on('error', (err) => logger.error({ err }, 'redis error'));
  await whenReady(redis);
  const connectors = await createConnectors(config, { redis, logger });
  // `idsync worker sync` alone still needs connectors to list remote users, but runs no target worker.
  const runtime = await startRuntime({ config: all || targets.length ? config : { ...config, targets: [] }, connection: redis, connectors, logger });
  const directory = runSync || runApp ? (options.directory ?? (await openDirectory(config.app))) : undefined;
  const links = new LinkStore(redis, config.prefix);
  const audit = new AuditLog(redis, config.prefix, config.audit);
  const app = runApp ? new AppWorker({ directory: directory!, connection: redis, prefix: config.prefix, links, audit, logger, authority: config.sync.authority, concurrency: config.app.concurrency, backoffMs: config.jobs.backoffMs, maxBackoffMs: config.jobs.maxBackoffMs, quarantineProbeMs: config.quarantineProbeMs, stalls: config.stalls }) : undefined;
  const sync = runSync ? new SyncWorker({ config, connection: redis, connectors: connectors as Partial<Record<Target, SyncConnector>>, directory: directory!, links, audit, logger }) : undefined;
  await Promise.all([app?.start(), sync?.start()]);
  const running = {
    async close() {
      await Promise.all([sync?.close(), app?.close()]);
      await runtime.close();
      await directory?.close();
      redis.disconnect();
    },
  };
  if (options.signals ?? true) closeOnSignals(running, logger);
  logger.info({ targets: config.targets as Target[], sync: runSync, app: runApp && directory?.kind, health: runtime.healthUrl }, 'idsync workers running');
  return running;
}
