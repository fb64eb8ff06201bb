import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES, type QueueName } from '../shared/jobs.js';

/** Every queue an operator looks at, in the order reports list them. */
export const OPERATOR_QUEUES: readonly QueueName[] = [QUEUES.crowd, QUEUES.entra, QUEUES.sync, QUEUES.app];

/** What every operator function needs: one Redis connection (the caller owns it) and the key prefix. */
export interface OperatorConnection {
  redis: Redis;
  /** IDSYNC_PREFIX. */
  prefix: string;
}

/**
 * Queue handles over the caller's connection, made on first use. Closing them leaves the
 * connection open: the caller owns it (BullMQ only closes connections it created).
 */
export class OperatorQueues {
  readonly #conn: OperatorConnection;
  readonly #queues = new Map<QueueName, Queue>();

  constructor(conn: OperatorConnection) {
    this.#conn = conn;
  }

  /** The caller's connection, for reads BullMQ has no method for (score ranges of a set). */
  get redis(): Redis {
    return this.#conn.redis;
  }

  get(name: QueueName): Queue {
    let q = this.#queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.#conn.redis, prefix: this.#conn.prefix });
      // Failures surface as rejected calls; the listener keeps BullMQ from logging them twice.
      q.on('error', () => undefined);
      this.#queues.set(name, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }
}

/** Runs `work` with queue handles that are closed afterwards, whatever happens. */
export async function withQueues<T>(conn: OperatorConnection, work: (queues: OperatorQueues) => Promise<T>): Promise<T> {
  const queues = new OperatorQueues(conn);
  try {
    return await work(queues);
  } finally {
    await queues.close();
  }
}
