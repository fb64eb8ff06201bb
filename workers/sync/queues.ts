import { Queue, type JobsOptions, type QueueEvents } from 'bullmq';
import { queueEventsFromNow } from '../../shared/queue-events.js';
import type { Redis } from 'ioredis';
import { BULK_PRIORITY, JOB_NAMES, QUEUES, SCHEMA_VERSION, dedupId, type ApplyUserData, type PushUserData, type Target, type UserRef, type UserSnapshot } from '../../shared/jobs.js';
import { standardJobOptions } from '../../producers/retention.js';
import { addPushJobs } from '../../producers/push-jobs.js';
import { JobTracker } from './tracker.js';

export interface SyncQueuesOptions {
  connection: Redis;
  prefix: string;
  attempts: number;
  backoffMs: number;
}

/**
 * The queues bulk sync work hands jobs to (a target's, the app's), each with a tracker on its
 * event stream. Bulk jobs run at BULK_PRIORITY, so live events always go first.
 */
export class SyncQueues {
  readonly #o: SyncQueuesOptions;
  // Promises, not values: two sync jobs asking at once must share one QueueEvents (and its
  // blocking connection) rather than open a second that nothing would close.
  readonly #queues = new Map<string, Promise<{ queue: Queue; events: QueueEvents; tracker: JobTracker; blocking: Redis }>>();

  constructor(options: SyncQueuesOptions) {
    this.#o = options;
  }

  get(name: Target | 'app'): Promise<{ queue: Queue; tracker: JobTracker }> {
    let q = this.#queues.get(name);
    if (!q) {
      q = (async () => {
        const queue = new Queue(QUEUES[name], { connection: this.#o.connection, prefix: this.#o.prefix });
        // QueueEvents blocks on its stream, so it gets a connection of its own.
        const blocking = this.#o.connection.duplicate();
        const events = await queueEventsFromNow(queue, this.#o.connection, blocking);
        return { queue, events, tracker: new JobTracker(queue, events), blocking };
      })();
      this.#queues.set(name, q);
    }
    return q;
  }

  get jobOptions(): JobsOptions {
    return { ...standardJobOptions(this.#o.attempts, this.#o.backoffMs), priority: BULK_PRIORITY };
  }

  async pushUpserts(target: Target, users: readonly (UserSnapshot & { version: number })[], origin: 'provision' | 'sync'): Promise<string[]> {
    const { queue } = await this.get(target);
    const now = Date.now();
    return addPushJobs(queue, users.map((user) => ({
      data: { schemaVersion: SCHEMA_VERSION, enqueuedAt: now, op: 'upsert', user, origin } satisfies PushUserData,
      opts: { ...this.jobOptions, deduplication: { id: dedupId.push(user.id), keepLastIfActive: true } },
    })));
  }

  async pushDeletes(target: Target, users: readonly UserRef[]): Promise<string[]> {
    const { queue } = await this.get(target);
    const now = Date.now();
    return addPushJobs(queue, users.map((user) => ({
      data: { schemaVersion: SCHEMA_VERSION, enqueuedAt: now, op: 'delete', user: { ...user, version: now }, origin: 'sync' } satisfies PushUserData,
      opts: { ...this.jobOptions, deduplication: { id: dedupId.push(user.id), keepLastIfActive: true } },
    })));
  }

  async pulls(target: Target, ids: readonly string[]): Promise<string[]> {
    const { queue } = await this.get(target);
    const jobs = await queue.addBulk(ids.map((id) => ({
      name: JOB_NAMES.pullUser,
      data: { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), user: { id }, mode: 'pull' as const },
      opts: this.jobOptions,
    })));
    return jobs.map((j) => j.id!);
  }

  async applies(changes: readonly Omit<ApplyUserData, 'schemaVersion' | 'enqueuedAt'>[]): Promise<string[]> {
    const { queue } = await this.get('app');
    const jobs = await queue.addBulk(changes.map((c) => ({
      name: JOB_NAMES.applyUser,
      data: { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), ...c },
      opts: this.jobOptions,
    })));
    return jobs.map((j) => j.id!);
  }

  async close(): Promise<void> {
    for (const pending of this.#queues.values()) {
      const { queue, events, tracker, blocking } = await pending;
      tracker.close();
      await events.close();
      await queue.close();
      blocking.disconnect();
    }
    this.#queues.clear();
  }
}
