import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../../shared/audit.js';
import { QUEUES } from '../../shared/jobs.js';
import type { LinkStore } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import { workerBackoffSettings } from '../runtime/backoff.js';
import { decideFailure } from '../runtime/failures.js';
import { Quarantine } from '../runtime/quarantine.js';
import { stallOptions } from '../runtime/stalls.js';
import type { StallSettings } from '../../shared/config.js';
import type { UserDirectory } from './directory.js';
import { createApplyProcessor, type ApplyProcessorDeps } from './processor.js';

export interface AppWorkerOptions {
  directory: UserDirectory;
  connection: Redis;
  prefix: string;
  links: LinkStore;
  audit: AuditLog;
  logger: Logger;
  authority: ApplyProcessorDeps['authority'];
  /** Pulled changes applied at once by this process. @defaultValue 10 */
  concurrency?: number;
  /** @defaultValue 1000 */
  backoffMs?: number;
  /** @defaultValue 300000 */
  maxBackoffMs?: number;
  /** @defaultValue 30000 */
  quarantineProbeMs?: number;
  /** Job lock and stall check (IDSYNC_LOCK_DURATION_MS…). @defaultValue STALL_DEFAULTS */
  stalls?: Partial<StallSettings>;
}

/**
 * The `app` queue's worker: pulled changes, imports and disables applied to the application
 * through its directory, with the same failure mapping as the target workers. A webhook that
 * refuses idsync's signature quarantines the app side (jobs wait, none fail) until a probe passes.
 */
export class AppWorker {
  readonly queue: Queue;
  readonly worker: Worker;
  readonly quarantine: Quarantine;
  readonly #logger: Logger;
  #closed: Promise<void> | undefined;

  constructor(options: AppWorkerOptions) {
    const { connection, prefix, directory } = options;
    this.#logger = options.logger.child({ queue: QUEUES.app, directory: directory.kind });
    this.queue = new Queue(QUEUES.app, { connection, prefix });
    this.queue.on('error', (err) => this.#logger.error({ err }, 'queue error'));
    this.quarantine = new Quarantine({
      target: 'app', queue: this.queue, redis: connection, prefix, logger: this.#logger, audit: options.audit,
      probe: async () => void (await directory.get('idsync-probe')),
      probeIntervalMs: options.quarantineProbeMs ?? 30_000,
    });
    const process = createApplyProcessor({ directory, links: options.links, audit: options.audit, logger: this.#logger, authority: options.authority });
    this.worker = new Worker(
      QUEUES.app,
      async (job: Job, token?: string, signal?: AbortSignal) => {
        try {
          return await process(job, token, signal);
        } catch (err) {
          const decision = await decideFailure(err, job, { queue: this.queue, quarantine: this.quarantine, released: false });
          this.#logger[decision.status === 'failed' ? 'error' : 'warn']({ jobId: job.id, status: decision.status, reason: decision.reason }, `pulled change ${decision.status}`);
          await options.audit
            .append({
              time: Date.now(), target: 'app', operation: String(job.data?.action ?? 'apply'), resource: 'user',
              subject: String(job.data?.appUserId ?? job.data?.remote?.username ?? 'unknown'), status: decision.status,
              attempt: job.attemptsMade + 1, durationMs: 0, jobId: job.id, error: decision.reason,
            })
            .catch(() => undefined);
          throw decision.toThrow;
        }
      },
      {
        connection,
        prefix,
        name: `app-${globalThis.process.pid}`,
        concurrency: options.concurrency ?? 10,
        // A limiter makes queue.rateLimit() (a 429 from the webhook) hold reliably.
        limiter: { max: 100_000, duration: 1000 },
        settings: workerBackoffSettings({ baseMs: options.backoffMs ?? 1000, maxMs: options.maxBackoffMs ?? 300_000 }),
        ...stallOptions(options.stalls),
      },
    );
    this.worker.on('error', (err) => this.#logger.error({ err }, 'worker error'));
  }

  async start(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.quarantine.start();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.quarantine.stop();
      await this.worker.close();
      await this.queue.close();
    })();
    return this.#closed;
  }
}
