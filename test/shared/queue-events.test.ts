// A reader opened with queueEventsFromNow sees an event written the moment it is ready.
import { Queue, type QueueEvents } from 'bullmq';
import { queueEventsFromNow } from '../../shared/queue-events.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

describe('queueEventsFromNow', () => {
  const redis = workerRedis();
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const p of prefixes) await deletePrefix(redis, p);
    await redis.quit();
  });

  async function open(withEarlierEntry: boolean): Promise<{ queue: Queue; qe: QueueEvents; blocking: ReturnType<typeof workerRedis> }> {
    const prefix = uniquePrefix('qe');
    prefixes.push(prefix);
    const queue = new Queue('q', { connection: redis, prefix });
    if (withEarlierEntry) await redis.xadd(queue.toKey('events'), '*', 'event', 'completed', 'jobId', 'earlier', 'returnvalue', '1');
    const blocking = workerRedis();
    return { queue, qe: await queueEventsFromNow(queue, redis, blocking), blocking };
  }

  it.each([
    ['on an empty stream', false],
    ['after earlier entries, which it does not replay', true],
  ])('delivers an event written right after it is ready, %s', async (_, withEarlierEntry) => {
    const { queue, qe, blocking } = await open(withEarlierEntry);
    try {
      const seen: string[] = [];
      const arrived = new Promise<void>((resolve) =>
        qe.on('completed', ({ jobId }) => {
          seen.push(jobId);
          if (jobId === 'now') resolve();
        }),
      );
      // No round trip between ready and the write: the blocking read may not have been sent yet.
      await redis.xadd(queue.toKey('events'), '*', 'event', 'completed', 'jobId', 'now', 'returnvalue', '1');
      await arrived;
      expect(seen).toEqual(['now']);
    } finally {
      // Dropped first: a reader that missed the event would otherwise hold its blocking read open.
      blocking.disconnect();
      await qe.close();
      await queue.close();
    }
  }, 10_000);
});
