import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../../shared/audit.js';
import type { Keyring } from '../../shared/crypto.js';
import { QUEUES, type Target } from '../../shared/jobs.js';
import type { LinkStore } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import { workerBackoffSettings } from './backoff.js';
import type { TargetConnector } from './connector.js';
import type { RuntimeMetrics } from './metrics.js';
import { createProcessor, type ProcessorDeps } from './processor.js';
import { Quarantine } from './quarantine.js';
import { stallOptions } from './stalls.js';
import type { StallSettings } from '../../shared/config.js';

export interface TargetWorkerOptions {
  connector: TargetConnector;
  /** For BullMQ (workers need `maxRetriesPerRequest: null`); also used for links, audit, quarantine. */
  connection: Redis;
  prefix: string;
  links: LinkStore;
  audit: AuditLog;
  keyring: Keyring | undefined;
  logger: Logger;
  metrics: RuntimeMetrics;
  /** Jobs processed at once by this process. @defaultValue 20 */
  concurrency?: number;
  /** Jobs started per second across all processes; undefined = no static limit. */
  jobsPerSecond?: number;
  /** @defaultValue 1000 */
  backoffMs?: number;
  /** @defaultValue 300000 */
  maxBackoffMs?: number;
  /** @defaultValue 30000 */
  quarantineProbeMs?: number;
  /** Job lock and stall check (IDSYNC_LOCK_DURATION_MS…). @defaultValue STALL_DEFAULTS */
  stalls?: Partial<StallSettings>;
  /** Start fetching jobs at once. @defaultValue true */
  autorun?: boolean;
  /** Which side wins each attribute of this target (SYNC_AUTHORITY_*). @defaultValue the application, for every pushed field */
  authority?: ProcessorDeps['authority'];
}

// BullMQ only honours `queue.rateLimit()` reliably when the worker has a limiter, so a
// target without a configured rate still gets one, set far above any real remote.
const UNLIMITED_JOBS_PER_SECOND = 100_000;

/** One target's queue and worker, with quarantine and graceful shutdown. */
export class TargetWorker {
  readonly target: Target;
  readonly queue: Queue;
  readonly worker: Worker;
  readonly quarantine: Quarantine;
  readonly #appQueue: Queue;
  readonly #logger: Logger;
  #releasing = false;
  #closed: Promise<void> | undefined;

  constructor(options: TargetWorkerOptions) {
    const { connector, connection, prefix } = options;
    this.target = connector.target;
    this.#logger = options.logger.child({ target: this.target });
    this.queue = new Queue(QUEUES[this.target], { connection, prefix });
    this.#appQueue = new Queue(QUEUES.app, { connection, prefix });
    for (const q of [this.queue, this.#appQueue]) q.on('error', (err) => this.#logger.error({ err }, 'queue error'));
    this.quarantine = new Quarantine({
      target: this.target,
      queue: this.queue,
      redis: connection,
      prefix,
      probe: () => connector.probe({}),
      probeIntervalMs: options.quarantineProbeMs ?? 30_000,
      logger: this.#logger,
      audit: options.audit,
    });
    const processor = createProcessor({
      target: this.target,
      connector,
      links: options.links,
      audit: options.audit,
      queue: this.queue,
      appQueue: this.#appQueue,
      quarantine: this.quarantine,
      keyring: options.keyring,
      logger: this.#logger,
      metrics: options.metrics,
      isReleasing: () => this.#releasing,
      ...(options.authority && { authority: options.authority }),
    });
    this.worker = new Worker(QUEUES[this.target], processor, {
      connection,
      prefix,
      name: `${this.target}-${process.pid}`,
      concurrency: options.concurrency ?? 20,
      limiter: { max: options.jobsPerSecond ?? UNLIMITED_JOBS_PER_SECOND, duration: 1000 },
      autorun: options.autorun ?? true,
      ...stallOptions(options.stalls),
      settings: workerBackoffSettings({ baseMs: options.backoffMs ?? 1000, maxMs: options.maxBackoffMs ?? 300_000 }),
    });
    this.worker.on('error', (err) => this.#logger.error({ err }, 'worker error'));
  }

  async start(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.quarantine.start();
  }

  isRunning(): boolean {
    return this.worker.isRunning() && !this.#closed;
  }

  /**
   * Stops taking jobs, lets active ones finish for up to `timeoutMs`, then aborts the
   * rest and releases them to `wait` (no attempt used) so another worker picks them up.
   */
  close(timeoutMs = 25_000): Promise<void> {
    this.#closed ??= (async () => {
      this.quarantine.stop();
      const closing = this.worker.close();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        closing.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.#releasing = true;
        this.#logger.warn({ timeoutMs }, 'shutdown timeout: releasing active jobs back to the queue');
        this.worker.cancelAllJobs('shutdown');
        await closing;
      }
      await Promise.all([this.queue.close(), this.#appQueue.close()]);
    })();
    return this.#closed;
  }
}
