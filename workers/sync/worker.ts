import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { ZodError } from 'zod';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../../shared/audit.js';
import type { IdsyncConfig } from '../../shared/config.js';
import { JOB_NAMES, QUEUES, parseJobData, type FullSyncData, type ProvisionData, type PullChangesData, type SyncProgress, type Target } from '../../shared/jobs.js';
import type { LinkStore } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import type { UserDirectory } from '../app/directory.js';
import type { SyncConnector } from '../runtime/connector.js';
import { runFullSync } from './full-sync.js';
import { pullChanges } from './incremental.js';
import { withTargetLock } from './lock.js';
import { PlanStore } from './plan-store.js';
import { ProgressReporter } from './progress.js';
import { provision } from './provision.js';
import { SyncQueues } from './queues.js';
import { stallOptions } from '../runtime/stalls.js';

export interface SyncWorkerOptions {
  config: IdsyncConfig;
  connection: Redis;
  connectors: Partial<Record<Target, SyncConnector>>;
  directory: UserDirectory;
  links: LinkStore;
  audit: AuditLog;
  logger: Logger;
  /** Sync jobs at once (different targets; one target is locked to one run). @defaultValue 2 */
  concurrency?: number;
  /** How long a full sync waits when its target is busy before trying again. @defaultValue 15000 */
  busyRetryMs?: number;
}

/** The `sync` queue's worker: provisioning, full syncs (plan, apply) and incremental pulls. */
export class SyncWorker {
  readonly queue: Queue;
  readonly worker: Worker;
  readonly plans: PlanStore;
  readonly #queues: SyncQueues;
  readonly #o: SyncWorkerOptions;
  readonly #logger: Logger;

  constructor(options: SyncWorkerOptions) {
    const { config, connection } = options;
    this.#o = options;
    this.#logger = options.logger.child({ queue: QUEUES.sync });
    this.plans = new PlanStore(connection, config.prefix);
    this.#queues = new SyncQueues({ connection, prefix: config.prefix, attempts: config.jobs.attempts, backoffMs: config.jobs.backoffMs });
    this.queue = new Queue(QUEUES.sync, { connection, prefix: config.prefix });
    this.queue.on('error', (err) => this.#logger.error({ err }, 'queue error'));
    this.worker = new Worker(QUEUES.sync, (job, token, signal) => this.#process(job, token, signal), {
      connection,
      prefix: config.prefix,
      name: `sync-${process.pid}`,
      concurrency: options.concurrency ?? 2,
      ...stallOptions(config.stalls),
    });
    this.worker.on('error', (err) => this.#logger.error({ err }, 'worker error'));
  }

  async start(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.#queues.close();
    await this.queue.close();
  }

  async #process(job: Job, token?: string, signal?: AbortSignal): Promise<unknown> {
    let data: ProvisionData | FullSyncData | PullChangesData;
    try {
      data = parseJobData('sync', job.name, job.data) as typeof data;
    } catch (err) {
      throw new UnrecoverableError(`invalid ${job.name} payload: ${err instanceof ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : (err as Error).message}`);
    }
    const logger = this.#logger.child({ jobId: job.id, jobName: job.name });
    const progress = new ProgressReporter((p: SyncProgress) => job.updateProgress(p as unknown as Record<string, unknown>));
    const common = { directory: this.#o.directory, queues: this.#queues, progress, logger, abortSignal: signal };
    const { config, connection } = this.#o;

    if (job.name === JOB_NAMES.provision) {
      return provision({ ...common, connectors: this.#o.connectors }, data as ProvisionData);
    }
    const targets = (data as FullSyncData | PullChangesData).targets;
    const results: unknown[] = [];
    for (const target of targets) {
      const connector = this.#o.connectors[target];
      if (!connector) throw new Error(`this worker does not run the ${target} target (IDSYNC_TARGETS)`);
      const lockKey = `${config.prefix}:lock:sync:${target}`;
      const shared = { ...common, redis: connection, prefix: config.prefix, target, connector, links: this.#o.links, sync: config.sync };
      const outcome = await withTargetLock<unknown>(connection, lockKey, () =>
        job.name === JOB_NAMES.fullSync
          ? runFullSync({ ...shared, audit: this.#o.audit, store: this.plans, removal: removalOf(config, target), listGroups: target === 'crowd' && Object.keys(config.crowd?.roleMap ?? {}).length > 0 }, { ...(data as FullSyncData), jobId: job.id! })
          : pullChanges(shared),
      );
      if (typeof outcome === 'object' && outcome !== null && 'locked' in outcome) {
        if (job.name === JOB_NAMES.pullChanges) {
          logger.info({ target }, 'incremental pull skipped: a sync of this target is running');
          results.push({ target, skipped: 'a sync of this target is running' });
          continue;
        }
        // Two full syncs of one target never overlap: wait for the running one, using no attempt.
        logger.info({ target }, 'full sync waits: another sync of this target is running');
        await job.moveToDelayed(Date.now() + (this.#o.busyRetryMs ?? 15_000), token);
        throw new DelayedError();
      }
      results.push(outcome);
    }
    return job.name === JOB_NAMES.fullSync ? { plans: results } : { targets: results };
  }
}

function removalOf(config: IdsyncConfig, target: Target): 'disable' | 'delete' {
  if (target === 'crowd') return config.crowd?.deletePolicy === 'delete' ? 'delete' : 'disable';
  return config.entra?.deletePolicy === 'delete' ? 'delete' : 'disable';
}
