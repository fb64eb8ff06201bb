import { QueueEvents, type Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';

/**
 * A QueueEvents reader that sees every event written from now on. BullMQ's default starts at
 * '$', resolved when its first blocking read reaches Redis, which is after `waitUntilReady()`:
 * a job that finishes in between is neither finished when checked nor seen as an event, and a
 * wait on it hangs. Starting at the stream's current last entry closes that gap.
 *
 * `queue` names the stream, `redis` reads its last entry, and `connection` is the reader's own
 * (it blocks).
 */
export async function queueEventsFromNow(queue: Queue, redis: Redis | Cluster, connection: Redis | Cluster): Promise<QueueEvents> {
  const [last] = await redis.xrevrange(queue.toKey('events'), '+', '-', 'COUNT', 1);
  const qe = new QueueEvents(queue.name, { connection, prefix: queue.opts.prefix, lastEventId: last?.[0] ?? '0-0' });
  qe.on('error', () => undefined);
  try {
    await qe.waitUntilReady();
  } catch (err) {
    await qe.close();
    throw err;
  }
  return qe;
}
