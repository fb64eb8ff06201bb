import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import type { IdsyncConfig } from '../../shared/config.js';
import { Queue } from 'bullmq';
import { QUEUES, type Target } from '../../shared/jobs.js';
import { LinkStore } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import { createRedis, whenReady } from '../../shared/redis.js';
import type { TargetConnector } from './connector.js';
import { startHealthServer } from './health.js';
import { RuntimeMetrics } from './metrics.js';
import { TargetWorker } from './target-worker.js';

export interface Runtime {
  readonly workers: readonly TargetWorker[];
  /** Where /healthz, /readyz and /metrics answer, when the health server runs. */
  readonly healthUrl: string | undefined;
  close(): Promise<void>;
}

export interface StartRuntimeOptions {
  config: IdsyncConfig;
  /** One connector per target to run; targets without one are not started. */
  connectors: Partial<Record<Target, TargetConnector>>;
  logger: Logger;
  /**
   * A ready connection to share (the connectors' request budgets use the same one); the
   * runtime then leaves closing it to the caller. @defaultValue a connection of its own
   */
  connection?: Redis;
  /** @defaultValue true */
  healthServer?: boolean;
}

/** Starts a worker for every configured target, plus the health server. */
export async function startRuntime(options: StartRuntimeOptions): Promise<Runtime> {
  const { config, logger } = options;
  const ownsConnection = !options.connection;
  const redis = options.connection ?? createRedis(config.redisUrl, 'worker');
  if (ownsConnection) redis.on('error', (err) => logger.error({ err }, 'redis error'));
  await whenReady(redis);
  const links = new LinkStore(redis, config.prefix);
  const audit = new AuditLog(redis, config.prefix, config.audit);
  const metrics = new RuntimeMetrics({ defaultMetrics: true });
  const workers: TargetWorker[] = [];
  for (const target of config.targets) {
    const connector = options.connectors[target];
    if (!connector) throw new Error(`no connector for target "${target}"`);
    const settings = config[target];
    const worker = new TargetWorker({
      connector,
      connection: redis,
      prefix: config.prefix,
      links,
      audit,
      keyring: config.keyring,
      logger,
      metrics,
      concurrency: settings?.concurrency,
      jobsPerSecond: target === 'crowd' ? config.crowd?.jobsPerSecond : undefined,
      backoffMs: config.jobs.backoffMs,
      maxBackoffMs: config.jobs.maxBackoffMs,
      quarantineProbeMs: config.quarantineProbeMs,
      stalls: config.stalls,
      authority: config.sync.authority[target],
    });
    await worker.start();
    workers.push(worker);
    logger.info({ target, concurrency: worker.worker.concurrency }, 'worker started');
  }
  // Every queue, not only this process's: the numbers are cluster-wide and read at scrape time.
  const watched = Object.values(QUEUES).map((name) => new Queue(name, { connection: redis, prefix: config.prefix }));
  metrics.watch(watched, async () => Object.fromEntries(await Promise.all(workers.map(async (w) => [w.target, !!(await w.quarantine.state())] as const))));
  let server: Server | undefined;
  if (options.healthServer ?? true) {
    server = await startHealthServer({ port: config.healthPort, redis, workers, registry: metrics.registry });
  }
  const port = server ? (server.address() as AddressInfo).port : undefined;

  let closing: Promise<void> | undefined;
  return {
    workers,
    healthUrl: port === undefined ? undefined : `http://127.0.0.1:${port}`,
    close() {
      closing ??= (async () => {
        await Promise.all(workers.map((w) => w.close(config.shutdownTimeoutMs)));
        await Promise.all(watched.map((q) => q.close()));
        await Promise.all(Object.values(options.connectors).map((c) => c?.close?.()));
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
        if (ownsConnection) redis.disconnect();
      })();
      return closing;
    },
  };
}

/** Closes the runtime once on SIGTERM or SIGINT, then exits. */
export function closeOnSignals(runtime: { close(): Promise<void> }, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new jobs; waiting for active ones');
    runtime.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
